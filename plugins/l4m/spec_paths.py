"""The MetricSource of the detector definition: ``s3://`` and ``file://`` paths, L4M's
``{{...}}`` placeholders and the CSV / JSON Lines file formats.

Pure functions, standard library only; ``l4m.spec`` re-exports the public names.
"""

from __future__ import annotations

import codecs
import datetime
import re
from dataclasses import dataclass

from l4m.spec_time import (
    SpecError,
    check_arn,
    check_array,
    check_choice,
    check_name,
    check_object,
    check_string,
)

SCHEMES = ("s3://", "file://")
MAX_PATH_LENGTH = 1024

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_PLACEHOLDER_LETTERS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M"}
_PLACEHOLDER_TOKEN = re.compile(r"([A-Za-z])\1*|[-_./ ]")
# The patterns of L4M's TemplatedPath and HistoricalDataPath shapes.
_L4M_TEMPLATED = re.compile(r"s3://[a-zA-Z0-9_\-/ {}=]+")
_L4M_HISTORICAL = re.compile(r"s3://[a-z0-9].+")
_UNSUPPORTED_SOURCES = (
    "AppFlowConfig",
    "CloudWatchConfig",
    "RDSSourceConfig",
    "RedshiftSourceConfig",
    "AthenaSourceConfig",
)
_CSV_FIELDS = (
    "FileCompression",
    "Charset",
    "ContainsHeader",
    "Delimiter",
    "HeaderList",
    "QuoteSymbol",
)


@dataclass(frozen=True)
class CsvFormat:
    """How to read CSV source files; ``charset`` is a Python codec name."""

    compression: str = "NONE"
    charset: str = "utf-8"
    contains_header: bool = True
    delimiter: str = ","
    header_list: tuple[str, ...] | None = None
    quote_symbol: str = '"'  # "" means no quoting


@dataclass(frozen=True)
class JsonFormat:
    """How to read JSON Lines source files; ``charset`` is a Python codec name."""

    compression: str = "NONE"
    charset: str = "utf-8"


def _placeholder_format(body: str, field: str) -> str:
    """strftime format for the inside of one ``{{...}}`` placeholder."""
    parts = []
    pos = 0
    for match in _PLACEHOLDER_TOKEN.finditer(body):
        if match.start() != pos:
            break
        token = match.group()
        if token[0].isalpha() and token not in _PLACEHOLDER_LETTERS:
            raise SpecError(
                field,
                f"unsupported placeholder letters {token!r} in {{{{{body}}}}} "
                "(use yyyy, yy, MM, dd, HH and mm)",
            )
        parts.append(_PLACEHOLDER_LETTERS.get(token, token))
        pos = match.end()
    if pos != len(body) or not any(char.isalpha() for char in body):
        raise SpecError(
            field,
            f"invalid placeholder {{{{{body}}}}}: use the letters yyyy, yy, MM, dd, HH, mm "
            "and the separators - _ . / and space",
        )
    return "".join(parts)


def _template_parts(template: str, field: str) -> list[tuple[str, str]]:
    """Split a template into ``("text", ...)`` and ``("format", strftime format)`` parts."""
    parts = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(("text", template[pos : match.start()]))
        parts.append(("format", _placeholder_format(match.group(1), field)))
        pos = match.end()
    parts.append(("text", template[pos:]))
    if any(kind == "text" and ("{" in text or "}" in text) for kind, text in parts):
        raise SpecError(
            field, f"unbalanced '{{' or '}}' in {template!r} (placeholders are {{{{...}}}})"
        )
    return parts


def validate_path(path: object, field: str, *, templated: bool) -> str:
    """Check one source path: scheme, length and (for templated paths) its placeholders."""
    scheme = next(
        (s for s in SCHEMES if check_string(path, field, MAX_PATH_LENGTH).startswith(s)), None
    )
    if scheme is None:
        raise SpecError(field, f"must start with s3:// or file:// (got {path!r})")
    rest = path[len(scheme) :]
    if not rest.strip("/") or (scheme == "s3://" and rest.startswith("/")):
        raise SpecError(field, f"has no bucket or folder after {scheme} (got {path!r})")
    if templated:
        _template_parts(path, field)
    elif "{" in path or "}" in path:
        raise SpecError(field, "placeholders {{...}} are only allowed in TemplatedPathList")
    return path


def within_l4m_path_limits(path: str, *, templated: bool) -> bool:
    """Whether L4M itself would have accepted this path (s3:// and its character set)."""
    pattern = _L4M_TEMPLATED if templated else _L4M_HISTORICAL
    return pattern.fullmatch(path) is not None


def render_templated_path(template: str, interval_start: datetime.datetime) -> str:
    """Fill the ``{{...}}`` placeholders of a templated path with ``interval_start``.

    ``interval_start`` is used as given: convert it to the metric set's timezone first.
    """
    parts = _template_parts(template, "template")
    return "".join(
        text if kind == "text" else interval_start.strftime(text) for kind, text in parts
    )


# ---------------------------------------------------------------------------- MetricSource


def _charset(descriptor: dict, path: str) -> str:
    """The Charset as a Python codec name (L4M spellings such as UTF-8 are accepted)."""
    charset = check_name(descriptor.get("Charset", "UTF-8"), f"{path}.Charset")
    try:
        "".encode(charset)
    except LookupError:
        raise SpecError(f"{path}.Charset", f"unknown text encoding {charset!r}") from None
    return codecs.lookup(charset).name


def _compression(descriptor: dict, path: str) -> str:
    return check_choice(
        descriptor.get("FileCompression", "NONE"), f"{path}.FileCompression", ("NONE", "GZIP")
    )


def _header_list(
    descriptor: dict, path: str, contains_header: bool, used: tuple[str, ...]
) -> tuple[str, ...] | None:
    """The HeaderList: required without a header row, naming every column the spec uses."""
    path = f"{path}.HeaderList"
    if "HeaderList" not in descriptor:
        if not contains_header:
            raise SpecError(path, "required when ContainsHeader is false")
        return None
    names = check_array(descriptor["HeaderList"], path)
    for i, name in enumerate(names):
        if check_name(name, f"{path}[{i}]") in names[:i]:
            raise SpecError(f"{path}[{i}]", f"duplicate column {name!r}")
    missing = [column for column in used if column not in names]
    if missing:
        raise SpecError(
            path,
            f"must contain the column {missing[0]!r} (every measure, "
            "dimension and the timestamp column)",
        )
    return tuple(names)


def _csv_format(value: object, path: str, used: tuple[str, ...]) -> CsvFormat:
    descriptor = check_object(value, path, _CSV_FIELDS)
    contains_header = descriptor.get("ContainsHeader", True)
    if not isinstance(contains_header, bool):
        raise SpecError(
            f"{path}.ContainsHeader", f"must be true or false (got {contains_header!r})"
        )
    delimiter = check_string(descriptor.get("Delimiter", ","), f"{path}.Delimiter")
    if len(delimiter) != 1 or not _csv_char(delimiter):
        raise SpecError(
            f"{path}.Delimiter",
            f"must be exactly one character, printable ASCII or a tab, not a line break "
            f"(got {delimiter!r})",
        )
    quote = check_string(descriptor.get("QuoteSymbol", '"'), f"{path}.QuoteSymbol")
    if len(quote) > 1 or (quote and not _csv_char(quote)):
        raise SpecError(
            f"{path}.QuoteSymbol",
            f"must be at most one character, printable ASCII or a tab, not a line break "
            f"(got {quote!r})",
        )
    if quote == delimiter:
        raise SpecError(f"{path}.QuoteSymbol", f"must differ from the Delimiter (got {quote!r})")
    return CsvFormat(
        compression=_compression(descriptor, path),
        charset=_charset(descriptor, path),
        contains_header=contains_header,
        delimiter=delimiter,
        header_list=_header_list(descriptor, path, contains_header, used),
        quote_symbol=quote,
    )


def _csv_char(char: str) -> bool:
    """A delimiter or quote both CSV readers (pandas, DuckDB) take: one byte, no line break."""
    return char == "\t" or " " <= char <= "~"


def _file_format(value: object, path: str, used: tuple[str, ...]) -> CsvFormat | JsonFormat:
    descriptor = check_object(value, path, ("CsvFormatDescriptor", "JsonFormatDescriptor"))
    if len(descriptor) != 1:
        raise SpecError(
            path, "must contain exactly one of CsvFormatDescriptor and JsonFormatDescriptor"
        )
    if "CsvFormatDescriptor" in descriptor:
        return _csv_format(descriptor["CsvFormatDescriptor"], f"{path}.CsvFormatDescriptor", used)
    path = f"{path}.JsonFormatDescriptor"
    json_descriptor = check_object(
        descriptor["JsonFormatDescriptor"], path, ("FileCompression", "Charset")
    )
    return JsonFormat(_compression(json_descriptor, path), _charset(json_descriptor, path))


def _paths(s3: dict, key: str, path: str, templated: bool) -> tuple[str, ...]:
    if key not in s3:
        return ()
    path = f"{path}.{key}"
    return tuple(
        validate_path(item, f"{path}[{i}]", templated=templated)
        for i, item in enumerate(check_array(s3[key], path))
    )


def parse_metric_source(metric_set: dict, used: tuple[str, ...]):
    """(templated paths, historical paths, file format) of the MetricSource."""
    if "MetricSource" not in metric_set:
        return (), (), CsvFormat()
    path = "MetricSet.MetricSource"
    source = check_object(
        metric_set["MetricSource"], path, ("S3SourceConfig", *_UNSUPPORTED_SOURCES)
    )
    for key in _UNSUPPORTED_SOURCES:
        if key in source:
            raise SpecError(
                f"{path}.{key}",
                "not supported, use S3SourceConfig (the engine "
                "reads files from s3:// or file:// paths)",
            )
    if "S3SourceConfig" not in source:
        raise SpecError(f"{path}.S3SourceConfig", "required")
    path = f"{path}.S3SourceConfig"
    s3 = check_object(
        source["S3SourceConfig"],
        path,
        ("RoleArn", "TemplatedPathList", "HistoricalDataPathList", "FileFormatDescriptor"),
    )
    if "RoleArn" in s3:
        check_arn(s3["RoleArn"], f"{path}.RoleArn")
    file_format = CsvFormat()
    if "FileFormatDescriptor" in s3:
        file_format = _file_format(s3["FileFormatDescriptor"], f"{path}.FileFormatDescriptor", used)
    return (
        _paths(s3, "TemplatedPathList", path, templated=True),
        _paths(s3, "HistoricalDataPathList", path, templated=False),
        file_format,
    )


def live_root(templated_path: str) -> str:
    """The fixed prefix of a templated path: ``…/live/{{yyyyMMdd}}/{{HHmm}}`` → ``…/live``."""
    head = templated_path.split("{{", 1)[0]
    return head.rsplit("/", 1)[0] if "{{" in templated_path else head.rstrip("/")
