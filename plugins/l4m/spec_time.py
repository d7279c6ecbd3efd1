"""Base of the detector definition modules: SpecError, JSON value checks, intervals and
Java-style timestamp formats.

Pure functions, standard library only. ``l4m.spec`` re-exports the public names;
``spec_paths`` and ``spec`` build on the ``check_*`` helpers.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo

L4M_FREQUENCIES = ("PT5M", "PT10M", "PT1H", "P1D")
EPOCH_FORMATS = ("EPOCH_SECONDS", "EPOCH_MILLISECONDS")
DAY_SECONDS = 86_400

_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")

# Java pattern letter -> {repeat count: strptime directive}
_JAVA_LETTERS = {
    "y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "u": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "M": {1: "%m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%d", 2: "%d"},
    "D": {1: "%j", 2: "%j", 3: "%j"},
    "H": {1: "%H", 2: "%H"},
    "h": {1: "%I", 2: "%I"},
    "a": {1: "%p"},
    "m": {1: "%M", 2: "%M"},
    "s": {1: "%S", 2: "%S"},
    "S": {n: "%f" for n in range(1, 7)},
    "E": {1: "%a", 2: "%a", 3: "%a", 4: "%A"},
    "X": {1: "%z", 2: "%z", 3: "%z"},
    "x": {1: "%z", 2: "%z", 3: "%z"},
    "Z": {1: "%z", 2: "%z", 3: "%z"},
}
_JAVA_RESERVED = "[]{}#"

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
_ARN = re.compile(r"arn:([a-z\d-]+):.*:.*:.*:.+")
_JSON_KINDS = {
    dict: "object",
    list: "array",
    tuple: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


class SpecError(ValueError):
    """An invalid detector definition: ``field`` is the path, ``reason`` says what is wrong.

    Both are shown on one printable line of bounded length, whatever the document holds.
    """

    def __init__(self, field: str, reason: str):
        field, reason = _shown(field, 200), _shown(reason, 500)
        super().__init__(field, reason)  # both in args, so the error pickles
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


# ---------------------------------------------------------------------------- value checks


def _shown(text: str, limit: int) -> str:
    """``text`` with non-printable characters escaped, cut to ``limit`` characters."""
    cut, text = len(text) > limit, text[:limit]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text[: limit - 1] + "…" if cut or len(text) > limit else text


def json_kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_object(
    value: object, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
):
    """Check a JSON object: no unknown fields, the required ones present."""
    if not isinstance(value, dict):
        raise SpecError(path, f"must be an object (got {json_kind(value)})")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = key if isinstance(key, str) and key.strip() else repr(key)
            raise SpecError(join_path(path, shown), f"unknown field{hint}")
    for key in required:
        if key not in value:
            raise SpecError(join_path(path, key), "required")
    return value


def check_array(
    value: object,
    path: str,
    max_items: int | None = None,
    empty: str | None = "must not be empty (omit the field instead)",
) -> list:
    """Check a JSON array; ``empty`` is the reason for rejecting ``[]`` (None allows it)."""
    if not isinstance(value, (list, tuple)):
        raise SpecError(path, f"must be an array (got {json_kind(value)})")
    if not value and empty:
        raise SpecError(path, empty)
    if max_items is not None and len(value) > max_items:
        raise SpecError(path, f"must have at most {max_items} items (got {len(value)})")
    return list(value)


def check_string(value: object, path: str, max_len: int | None = None) -> str:
    if not isinstance(value, str):
        raise SpecError(path, f"must be a string (got {json_kind(value)})")
    if max_len is not None and len(value) > max_len:
        raise SpecError(path, f"must be at most {max_len} characters long (got {len(value)})")
    return value


def check_text(value: object, path: str, max_len: int = 256) -> str:
    """A description-like string: not blank, at most ``max_len`` characters."""
    if not check_string(value, path, max_len).strip():
        raise SpecError(path, "must not be blank")
    return value


def check_name(value: object, path: str) -> str:
    """An L4M name: 1-63 letters, digits, '-' and '_', starting with a letter or digit."""
    if not _NAME.fullmatch(check_string(value, path, 63)):
        raise SpecError(
            path,
            "must start with a letter or digit and contain only letters, "
            f"digits, '-' and '_' (got {value!r})",
        )
    return value


def check_integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be an integer (got {json_kind(value)})")
    if not low <= value <= high:
        raise SpecError(path, f"must be between {low} and {high} (got {value})")
    return value


def check_choice(value: object, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SpecError(path, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


def check_arn(value: object, path: str) -> str:
    if not _ARN.fullmatch(check_string(value, path, 256)):
        raise SpecError(
            path, f"must be an ARN such as arn:aws:sns:us-east-1:123456789012:name (got {value!r})"
        )
    return value


def check_tags(value: object, path: str) -> None:
    """L4M tags: 1-50 string pairs; accepted and passed on, not used by the engine."""
    if not isinstance(value, dict) or not value or len(value) > 50:
        raise SpecError(path, "must be an object of 1 to 50 tags")
    for key, tag in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise SpecError(join_path(path, key), "tag keys must be 1-128 characters long")
        check_string(tag, join_path(path, key), 256)


# ---------------------------------------------------------------------------- time


def interval_seconds(frequency: str, field: str = "AnomalyDetectorFrequency") -> int:
    """Length in seconds of an ISO-8601 duration made of days, hours, minutes and seconds."""
    if not isinstance(frequency, str):
        raise SpecError(field, f"must be an ISO-8601 duration string (got {frequency!r})")
    match = _DURATION.fullmatch(frequency)
    if match is None or frequency in ("P", "PT") or frequency.endswith("T"):
        raise SpecError(field, _duration_hint(frequency))
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total < 60:
        raise SpecError(field, f"interval must be at least 1 minute (got {frequency!r})")
    if total % DAY_SECONDS and DAY_SECONDS % total:
        raise SpecError(
            field, f"interval must divide a day evenly or be whole days (got {frequency!r})"
        )
    return total


def _duration_hint(frequency: str) -> str:
    """Reason for a duration that does not parse, with a hint for the usual mistakes."""
    date_part = frequency.split("T", 1)[0]
    if re.search(r"[YM]", date_part):
        return f"months and years are not supported, use days (got {frequency!r})"
    if "W" in date_part:
        return f"weeks are not supported, use days such as P7D (got {frequency!r})"
    return (
        "must be an ISO-8601 duration of whole days, hours, minutes and seconds "
        f"such as PT1H, PT15M or P1D (got {frequency!r})"
    )


def _java_tokens(fmt: str, field: str = "ColumnFormat") -> list[tuple[str, str]]:
    """Split a Java date-time pattern into ``("letters", "yyyy")`` and ``("text", "-")`` tokens."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "'":
            text, i = _quoted(fmt, i, field)
            tokens.append(("text", text))
        elif char.isascii() and char.isalpha():
            rest = fmt[i:]
            run = len(rest) - len(rest.lstrip(char))
            tokens.append(("letters", rest[:run]))
            i += run
        elif char in _JAVA_RESERVED:
            raise SpecError(field, f"{char!r} (optional sections) is not supported in {fmt!r}")
        else:
            tokens.append(("text", char))
            i += 1
    return tokens


def _quoted(fmt: str, start: int, field: str) -> tuple[str, int]:
    """Read the quoted literal starting at ``fmt[start] == "'"``; ``''`` is a quote."""
    if fmt.startswith("''", start):
        return "'", start + 2
    text, pos = [], start + 1
    while True:
        end = fmt.find("'", pos)
        if end < 0:
            raise SpecError(field, f"unterminated quote in {fmt!r}")
        text.append(fmt[pos:end])
        if not fmt.startswith("''", end):
            return "".join(text), end + 1
        text.append("'")
        pos = end + 2


def java_to_strptime(fmt: str, field: str = "ColumnFormat") -> str:
    """Translate a Java ``DateTimeFormatter`` pattern into a ``datetime.strptime`` format."""
    if not isinstance(fmt, str) or not fmt.strip():
        raise SpecError(field, f"must be a non-blank format string (got {fmt!r})")
    parts = []
    for kind, text in _java_tokens(fmt, field):
        if kind == "text":
            parts.append(text.replace("%", "%%"))
            continue
        directive = _JAVA_LETTERS.get(text[0], {}).get(len(text))
        if directive is None:
            raise SpecError(
                field,
                f"unsupported pattern letters {text!r} in {fmt!r} (quote literal text, e.g. 'T')",
            )
        parts.append(directive)
    return "".join(parts)


def _check_format_resolution(fmt: str, interval: int, field: str = "ColumnFormat") -> None:
    """Require a Java format to carry the date and the time down to the interval's unit."""
    letters = {text[0] for kind, text in _java_tokens(fmt, field) if kind == "letters"}
    needs = [("year (yyyy)", {"y", "u"}), ("day (dd or DDD)", {"d", "D"})]
    if "d" in letters:
        needs.append(("month (MM)", {"M"}))
    if interval % DAY_SECONDS:
        needs.append(("hour (HH)", {"H", "h"}))
    if interval % 3600:
        needs.append(("minutes (mm)", {"m"}))
    if interval % 60:
        needs.append(("seconds (ss)", {"s"}))
    for what, options in needs:
        if not letters & options:
            raise SpecError(field, f"{fmt!r} has no {what}, which this interval needs")
    if "h" in letters and "a" not in letters:
        raise SpecError(field, f"'h' (1-12 hour) needs 'a' (AM/PM) in {fmt!r}; use HH")


def parse_column_format(value: object, field: str, interval: int) -> tuple[str, str | None]:
    """(format as written, strptime format) of a TimestampColumn.ColumnFormat."""
    fmt = check_text(value, field, 63)
    if fmt in EPOCH_FORMATS:
        return fmt, None
    strptime_format = java_to_strptime(fmt, field)
    _check_format_resolution(fmt, interval, field)
    return fmt, strptime_format


def check_timezone(value: object, field: str) -> str:
    """An IANA time zone name known to ``zoneinfo`` (UTC needs no lookup)."""
    if check_text(value, field, 60) != "UTC":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise SpecError(
                field, f"must be an IANA time zone such as UTC or Europe/Paris (got {value!r})"
            ) from None
    return value
