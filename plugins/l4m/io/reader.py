"""Read L4M interval and history files (CSV or JSON Lines, plain or gzip) into records.

One entry point, :func:`read_records`, turns the files of one interval (or a whole
history) into a :class:`ReadResult`: the usable records, the quarantined row problems
and the data-quality counts that L4M reported through ``GetDataQualityMetrics``.

CSV is parsed by pandas' C reader (``dtype=object``, no NA inference), in chunks of
:data:`CHUNK_ROWS` rows, and validated with vectorised operations; Python loops only
touch the rows that are quarantined. Two details make exact quarantine reports possible
with the C reader:

* Every line of the input gets an end-of-record marker field appended while the bytes
  stream into pandas (:class:`_MarkedStream`). A row with too few fields is then
  recognisable (its last column is not the marker: pandas would otherwise pad it with
  empty strings), blank lines stay rows, and line numbers can be computed from the
  tokenizer's own numbering of the rows it skipped for having too many fields.
* Bytes are decoded with ``errors="surrogateescape"``: an undecodable byte becomes a
  lone surrogate that is detected per value instead of crashing the read.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import itertools
import json
import operator
import os
import re
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from l4m.engine.matrix import default_max_series
from l4m.io.inputs import SKIPPED_PREFIXES
from l4m.io.quarantine import QuarantinedRow, _local_path, printable

__all__ = [
    "CHUNK_ROWS",
    "DataQuality",
    "InputError",
    "QuarantinedRow",
    "ReadResult",
    "list_input_files",
    "read_records",
    "series_limit",
]

#: Rows per pandas chunk: bounds the memory used by one huge file.
CHUNK_ROWS = 1_000_000

_BLOCK = 1 << 20  # bytes read from the (decompressed) file at a time
_SNIFF = 1 << 16  # bytes looked at to reject empty and binary files
_NAT = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_BINARY_RE = re.compile("[\x00-\x08\x0e-\x1f\udc00-\udcff]")
_BAD_LINE_RE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")
_EOL_RE = re.compile(rb"\r\n|\r|\n")
_ISO_OFFSET_RE = re.compile(
    r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
)
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NUMBER_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "GMT", "Etc/GMT", "Zulu", "Etc/Zulu"})


class InputError(ValueError):
    """An input file cannot be used at all (the message names the file and the problem)."""


# --------------------------------------------------------------------------- results


@dataclass
class DataQuality:
    """Data-quality counts of one read, in the terms of L4M's ``GetDataQualityMetrics``.

    ``rows_processed`` counts every data row read (header and blank JSON lines excluded);
    each one is either invalid (not used), filtered out by the dimension filters, or
    kept. ``rows_partial`` counts the valid rows (kept or filtered) that had at least one
    bad measure value. ``column_completeness`` is, per used column (spec names), the
    share (0..1) of processed rows with a usable value (1.0 when no row was processed).
    ``dimension_uniqueness`` and ``time_series_count`` describe the kept records.
    """

    rows_processed: int = 0
    rows_invalid: int = 0
    rows_partial: int = 0
    rows_filtered: int = 0
    column_completeness: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    dimension_uniqueness: dict[str, int] = field(default_factory=dict)
    time_series_count: int = 0

    def to_l4m(self) -> list[dict]:
        """Return the ``DataQualityMetricList`` items as ``GetDataQualityMetrics`` did.

        Counts are plain numbers; ``*_COMPLIANCE`` and ``COLUMN_COMPLETENESS`` are
        percentages (0-100) of the processed rows.
        """
        def pct(count: int) -> float:
            return 100.0 * count / self.rows_processed if self.rows_processed else 0.0

        items: list[dict] = [
            {
                "MetricType": "ROWS_PROCESSED",
                "MetricDescription": "Number of data rows read from the input files.",
                "MetricValue": float(self.rows_processed),
            },
            {
                "MetricType": "ROWS_PARTIAL_COMPLIANCE",
                "MetricDescription": "Percentage of processed rows used although at least "
                "one measure value was invalid.",
                "MetricValue": pct(self.rows_partial),
            },
            {
                "MetricType": "INVALID_ROWS_COMPLIANCE",
                "MetricDescription": "Percentage of processed rows not used because they "
                "were invalid.",
                "MetricValue": pct(self.rows_invalid),
            },
        ]
        for column, share in self.column_completeness.items():
            items.append(
                {
                    "MetricType": "COLUMN_COMPLETENESS",
                    "MetricDescription": "Percentage of processed rows with a usable value "
                    "in the column.",
                    "RelatedColumnName": column,
                    "MetricValue": 100.0 * share,
                }
            )
        for column, count in self.dimension_uniqueness.items():
            items.append(
                {
                    "MetricType": "DIMENSION_UNIQUENESS",
                    "MetricDescription": "Number of distinct values of the dimension.",
                    "RelatedColumnName": column,
                    "MetricValue": float(count),
                }
            )
        items.append(
            {
                "MetricType": "TIME_SERIES_COUNT",
                "MetricDescription": "Number of time series (measure x combination of "
                "dimension values) with at least one value.",
                "MetricValue": float(self.time_series_count),
            }
        )
        return items


@dataclass
class ReadResult:
    """Records (``timestamp`` UTC, dimensions as categoricals of str, measures as
    float64), quarantine rows sorted by file then line then field, and the data-quality
    counts."""

    records: pd.DataFrame
    quarantine: list[QuarantinedRow]
    quality: DataQuality


# --------------------------------------------------------------------------- files


def list_input_files(path: str | os.PathLike) -> list[str]:
    """Return the input files at ``path``: the file itself, or every file under the
    folder (recursively, sorted), skipping names that start with ``.`` or ``_``
    (``_SUCCESS``, ``.crc``, hidden and temporary folders). ``file://`` is accepted;
    the path is used as given (no globbing, no ``~`` expansion).
    """
    shown = os.fsdecode(os.fspath(path))
    local = _local_path(path)
    if _URL_RE.match(local):
        raise InputError(f"{shown}: only local paths and file:// URLs can be listed here")
    if os.path.isfile(local):
        return [local]
    if not os.path.isdir(local):
        raise InputError(f"{shown}: file or folder not found")
    found: list[str] = []
    for folder, dirs, files in os.walk(local):
        dirs[:] = sorted(d for d in dirs if not d.startswith(SKIPPED_PREFIXES))
        for name in files:
            if name.startswith(SKIPPED_PREFIXES):
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                found.append(full)
    if not found:
        raise InputError(f"{shown}: no input files found in folder")
    return sorted(found)


# --------------------------------------------------------------------------- plan


_OK = 0
_DECODE = 1
_JSON_TYPE = 2
_TS_MISSING = 3
_TS_PARSE = 4
_TS_RANGE = 5
_TS_GAP = 6
_TS_AMBIGUOUS = 7
_TS_WINDOW = 8
_DIM_MISSING = 9
_DIM_CONTROL = 10
_DIM_LONG = 11
_NUM_BAD = 12
_NUM_INFINITE = 13


@dataclass
class _Plan:
    """Everything a read needs from the detector spec, checked once."""

    ts: str
    dims: tuple[str, ...]
    measures: tuple[str, ...]
    filters: dict[str, frozenset[str]]
    ts_mode: str  # "strptime" | "epoch_s" | "epoch_ms" | "auto"
    strptime: str | None
    ts_has_offset: bool
    tz: str
    window: tuple[int, int] | None
    max_dim_len: int
    is_csv: bool
    codec: str
    charset: str
    gzip: bool
    delimiter: str
    quote: str
    contains_header: bool
    header_list: tuple[str, ...] | None
    reasons: dict[int, str]
    max_series: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.ts, *self.dims, *self.measures)


def _make_plan(spec: Any, window: Any, max_dimension_length: int) -> _Plan:
    metrics = tuple(getattr(spec, "metrics", ()) or ())
    measures = tuple(getattr(spec, "measure_names", None) or (m.name for m in metrics))
    dims = tuple(getattr(spec, "dimensions", ()) or ())
    ts = spec.timestamp_column
    if not measures:
        raise ValueError("the spec has no measures")
    if max_dimension_length < 1:
        raise ValueError("max_dimension_length must be at least 1")

    filters: dict[str, frozenset[str]] = {}
    for name, values in (getattr(spec, "dimension_filters", None) or {}).items():
        if name not in dims:
            raise ValueError(f"dimension filter on {name!r}, which is not a dimension")
        filters[name] = frozenset(str(v) for v in values)

    java = getattr(spec, "timestamp_format", None)
    strptime = getattr(spec, "strptime_format", None)
    if java in ("EPOCH_SECONDS", "EPOCH_MILLISECONDS"):
        mode = "epoch_s" if java == "EPOCH_SECONDS" else "epoch_ms"
        strptime = None
        ts_label = f"timestamp is not a number of {java}"
    elif strptime:
        mode = "strptime"
        try:
            pd.to_datetime(np.array(["x"], dtype=object), format=strptime, errors="coerce")
        except ValueError as exc:
            raise ValueError(f"unusable timestamp format {strptime!r}: {exc}") from None
        ts_label = f"timestamp does not match format {java or strptime}"
    elif java:
        raise ValueError(f"timestamp format {java!r} has no strptime_format in the spec")
    else:
        mode = "auto"
        ts_label = "timestamp is neither ISO-8601 nor epoch seconds/milliseconds"

    tz = getattr(spec, "timezone", None) or "UTC"
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except (KeyError, ValueError, TypeError, OSError) as exc:  # zoneinfo/pytz errors
        raise ValueError(f"unknown timezone {tz!r}: {exc}") from None

    window_ns = None
    window_label = ""
    if window is not None:
        start, end = (_utc_timestamp(x) for x in window)
        window_ns = (start.value, end.value)
        window_label = f"[{start.isoformat()}, {end.isoformat()})"

    fmt = spec.file_format
    is_csv = hasattr(fmt, "delimiter")
    charset = getattr(fmt, "charset", None) or "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise ValueError(f"unknown charset {charset!r}") from None
    delimiter = (getattr(fmt, "delimiter", None) or ",") if is_csv else ","
    quote = getattr(fmt, "quote_symbol", '"') if is_csv else '"'
    quote = "" if quote is None else quote
    if is_csv:
        for what, char in (("delimiter", delimiter), ("quote symbol", quote)):
            if len(char) > 1 or (char and (ord(char) > 127 or char in "\r\n")):
                raise ValueError(f"CSV {what} must be one ASCII character, got {char!r}")
        if delimiter == quote:
            raise ValueError("CSV delimiter and quote symbol must differ")
    header_list = getattr(fmt, "header_list", None)
    header_list = tuple(header_list) if header_list else None
    contains_header = bool(getattr(fmt, "contains_header", True))

    reasons = {
        _DECODE: f"not valid {charset} text (undecodable bytes)",
        _JSON_TYPE: "JSON value is not a string or a number",
        _TS_MISSING: "missing timestamp",
        _TS_PARSE: ts_label,
        _TS_RANGE: "timestamp out of the supported range (years 1677-2262)",
        _TS_GAP: f"local time does not exist in {tz} (DST gap)",
        _TS_AMBIGUOUS: f"local time is ambiguous in {tz} (DST overlap)",
        _TS_WINDOW: f"timestamp outside the interval {window_label}",
        _DIM_MISSING: "missing dimension value",
        _DIM_CONTROL: "dimension value contains control characters",
        _DIM_LONG: f"dimension value longer than {max_dimension_length} characters",
        _NUM_BAD: "not a number",
        _NUM_INFINITE: "not a finite number",
    }
    return _Plan(
        ts=ts,
        dims=dims,
        measures=measures,
        filters=filters,
        ts_mode=mode,
        strptime=strptime,
        ts_has_offset=bool(strptime) and ("%z" in strptime or "%Z" in strptime),
        tz=tz,
        window=window_ns,
        max_dim_len=max_dimension_length,
        is_csv=is_csv,
        codec=codec,
        charset=charset,
        gzip=str(getattr(fmt, "compression", "NONE") or "NONE").upper() == "GZIP",
        delimiter=delimiter,
        quote=quote,
        contains_header=contains_header,
        header_list=header_list,
        reasons=reasons,
        max_series=series_limit(spec),
    )


def series_limit(spec: Any) -> int:
    """The definition's ``Limits.MaxTimeSeries``, else the default for its interval."""
    return spec.pipeline.max_time_series or default_max_series(spec.interval_seconds)


def _utc_timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.as_unit("ns")


# --------------------------------------------------------------------------- decoding


def _escape_errors(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: like ``surrogateescape``, for any byte and both directions."""
    if isinstance(err, UnicodeDecodeError):
        bad = err.object[err.start : err.end]
        return "".join(chr(0xDC00 + b) for b in bad), err.end
    if isinstance(err, UnicodeEncodeError):
        out = bytearray()
        for ch in err.object[err.start : err.end]:
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:
                out.append(code - 0xDC00)
            else:
                out += ch.encode("utf-8", "surrogatepass")
        return bytes(out), err.end  # type: ignore[return-value]
    raise err


codecs.register_error("l4m-escape", _escape_errors)


class _Source:
    """Open one input file (plain or gzip) as a binary stream, after sanity checks."""

    def __init__(self, path: str, shown: str, plan: _Plan) -> None:
        self.path, self.shown, self.plan = path, shown, plan
        self.is_gzip = False
        self._handles: list[Any] = []
        self.stream: Any = None

    def __enter__(self):
        try:
            try:
                handle = open(self.path, "rb")
            except FileNotFoundError:
                raise InputError(f"{self.shown}: file not found") from None
            except IsADirectoryError:
                raise InputError(f"{self.shown}: is a folder, not a file") from None
            except OSError as exc:
                raise InputError(f"{self.shown}: cannot open: {exc.strerror or exc}") from None
            self._handles.append(handle)
            magic = handle.read(2)
            handle.seek(0)
            declared = self.plan.gzip or self.path.lower().endswith(".gz")
            if magic == b"\x1f\x8b":
                self.is_gzip = True
                self.stream = gzip.GzipFile(fileobj=handle, mode="rb")
                self._handles.append(self.stream)
            elif declared and magic:
                raise InputError(
                    f"{self.shown}: undecodable gzip: the file is not gzip data "
                    "(compression GZIP or a .gz name was given)"
                )
            else:
                self.stream = handle
            sample = self.read_guarded(self.stream.read, _SNIFF)
            if not sample:
                raise InputError(f"{self.shown}: empty file")
            self.stream.seek(0)
            self._check_text(sample)
        except BaseException:
            self.close()
            raise
        return self

    def _check_text(self, sample: bytes) -> None:
        decoder = codecs.getincrementaldecoder(self.plan.codec)(errors="l4m-escape")
        try:
            text = decoder.decode(sample, final=len(sample) < _SNIFF)
        except UnicodeError as exc:  # e.g. UTF-16 without a byte order mark
            raise InputError(f"{self.shown}: not {self.plan.charset} text: {exc}") from None
        if len(sample) < _SNIFF and not text.strip():
            raise InputError(f"{self.shown}: empty file (only blank lines)")
        bad = len(_BINARY_RE.findall(text))
        if bad > max(8, 0.3 * len(text)):
            kind = "CSV" if self.plan.is_csv else "JSON Lines"
            raise InputError(
                f"{self.shown}: not a {kind} text file in charset {self.plan.charset} "
                "(binary content or wrong charset)"
            )

    def read_guarded(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.shown}: undecodable gzip: {exc}") from None
        except OSError as exc:
            raise InputError(f"{self.shown}: read error: {exc}") from None

    def close(self) -> None:
        for handle in reversed(self._handles):
            with contextlib.suppress(OSError, EOFError, zlib.error):
                handle.close()  # closing a broken gzip stream may fail again
        self._handles.clear()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _MarkedStream(io.RawIOBase):
    """Binary UTF-8 view of a source that ends every line with ``<delimiter><marker>``.

    Sources in another charset are transcoded to UTF-8 on the fly (undecodable bytes
    survive as undecodable bytes). Line ends are ``\\n``, ``\\r\\n`` or ``\\r``, as for
    the C tokenizer; a line end inside a quoted value gets the marker too (counted to
    keep line numbers right, removed before a value is shown).
    """

    def __init__(self, raw: Any, codec: str, suffix: bytes, quote: bytes, guard: Any) -> None:
        super().__init__()
        self._raw = raw
        self._quote = quote
        #: Whether a quote character was seen yet: only then can a value span lines.
        self.saw_quote = False
        self._guard = guard
        self._decoder = (
            None
            if codec == "utf-8"
            else codecs.getincrementaldecoder(codec)(errors="l4m-escape")
        )
        self._suffix = suffix
        self._repl = suffix.replace(b"\\", b"\\\\") + rb"\g<0>"
        self._buf = bytearray()
        self._hold = b""
        self._eof = False
        self._last = b"\n"

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        want = len(target)
        while len(self._buf) < want and not self._eof:
            self._fill()
        size = min(want, len(self._buf))
        target[:size] = self._buf[:size]
        del self._buf[:size]
        return size

    def _fill(self) -> None:
        block = self._guard(self._raw.read, _BLOCK)
        eof = not block
        if self._decoder is not None:
            block = self._decoder.decode(block, final=eof).encode("utf-8", "l4m-escape")
        data = self._hold + block
        self._hold = b""
        if not eof and data.endswith(b"\r"):  # maybe the first half of \r\n
            self._hold, data = b"\r", data[:-1]
        if data:
            if self._quote and not self.saw_quote and self._quote in data:
                self.saw_quote = True
            if b"\r" in data:
                data = _EOL_RE.sub(self._repl, data)
            else:
                data = data.replace(b"\n", self._suffix + b"\n")
            self._buf += data
            self._last = data[-1:]
        if eof:
            if self._last not in (b"\n", b"\r"):
                self._buf += self._suffix
            self._eof = True


# --------------------------------------------------------------------------- accumulate


class _Accumulator:
    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.processed = 0
        self.invalid = 0
        self.partial = 0
        self.filtered = 0
        self.usable = np.zeros(len(plan.columns), dtype=np.int64)
        self.parts: list[dict[str, np.ndarray]] = []
        self.quarantine: list[QuarantinedRow] = []
        self.files: list[str] = []
        self.series = [np.empty(0, np.uint64) for _ in plan.measures]  # combination hashes

    def add(self, part: dict[str, np.ndarray], shown: str) -> None:
        """Keep one chunk's records; fail as soon as they hold too many time series, so
        that millions of distinct dimension values never reach the engine."""
        self.parts.append(part)
        plan = self.plan
        if not plan.dims or not len(part["timestamp"]):
            return
        hashes = pd.util.hash_pandas_object(pd.DataFrame({d: part[d] for d in plan.dims}),
                                            index=False).to_numpy()
        codes, unique = pd.factorize(hashes)
        for i, measure in enumerate(plan.measures):
            present = np.bincount(codes[~np.isnan(part[measure])], minlength=len(unique)) > 0
            self.series[i] = pd.unique(np.concatenate([self.series[i], unique[present]]))
        count = sum(map(len, self.series))
        if count > plan.max_series:
            raise InputError(
                f"{shown}: {count:,} time series (measure x combination of dimension values) "
                f"so far, more than the limit of {plan.max_series:,}: check the dimensions "
                "for unbounded values (ids, free text) or raise Limits.MaxTimeSeries in the "
                "definition")

    def add_quarantine(self, rows: list[tuple[int, int, QuarantinedRow]]) -> None:
        rows.sort(key=lambda item: (item[0], item[1]))
        self.quarantine.extend(item[2] for item in rows)

    def result(self) -> ReadResult:
        plan = self.plan
        if self.parts:
            merged = {
                key: (union_categoricals([part[key] for part in self.parts])
                      if key in plan.dims else np.concatenate([part[key] for part in self.parts]))
                for key in self.parts[0]
            }
        else:
            merged = {"timestamp": np.empty(0, dtype=np.int64)}
            merged.update({d: _categorical(np.empty(0, dtype=object)) for d in plan.dims})
            merged.update({m: np.empty(0, dtype=np.float64) for m in plan.measures})
        data: dict[str, Any] = {
            "timestamp": pd.DatetimeIndex(merged["timestamp"].view("datetime64[ns]")).tz_localize(
                "UTC"
            )
        }
        for dim in plan.dims:
            data[dim] = pd.Series(merged[dim], copy=False)
        for measure in plan.measures:
            data[measure] = merged[measure]
        records = pd.DataFrame(data)
        records.index = pd.RangeIndex(len(records))

        if self.processed:
            completeness = {
                name: float(count) / self.processed
                for name, count in zip(plan.columns, self.usable)
            }
        else:
            completeness = {name: 1.0 for name in plan.columns}
        uniqueness = {dim: int(records[dim].nunique()) for dim in plan.dims}
        if len(records) == 0:
            series = 0
        elif plan.dims:
            present = records.groupby(list(plan.dims), sort=False, observed=True)[
                list(plan.measures)].count()
            series = int((present.to_numpy() > 0).sum())
        else:
            series = int((records[list(plan.measures)].count().to_numpy() > 0).sum())
        quality = DataQuality(
            rows_processed=self.processed,
            rows_invalid=self.invalid,
            rows_partial=self.partial,
            rows_filtered=self.filtered,
            column_completeness=completeness,
            files=list(self.files),
            dimension_uniqueness=uniqueness,
            time_series_count=series,
        )
        return ReadResult(records=records, quarantine=self.quarantine, quality=quality)


def _categorical(values: np.ndarray) -> pd.Categorical:
    """Dimension values as a categorical (a code per row, each distinct text stored once:
    a large read holds small codes, not a string object per row), with object categories
    in every chunk so the chunks' categoricals can be joined."""
    codes, uniques = pd.factorize(values)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


# --------------------------------------------------------------------------- validation


def _contains(values: np.ndarray, pattern: re.Pattern[str], joined: str) -> np.ndarray | None:
    """Rows whose value matches ``pattern`` (surrogates or control characters), or None
    when no row does: clean text is recognised by one C-level scan of the whole column."""
    if joined.isprintable() or pattern.search(joined) is None:
        return None
    return pd.Series(values, dtype=object, copy=False).str.contains(pattern).to_numpy(bool)


def _has_surrogate(value: str) -> bool:
    return _SURROGATE_RE.search(value) is not None


def _to_float(raw: np.ndarray, empty: np.ndarray | None = None) -> np.ndarray:
    """Parse strings as float64 with Python's ``float()`` rules; NaN where unparseable.

    The common all-valid case is a single numpy cast; pandas' C parser then narrows a
    dirty column down to the rejected rows, which alone are re-checked one by one.
    """
    if empty is None:
        empty = np.zeros(len(raw), dtype=bool)
    elif empty.any():
        raw = np.where(empty, "nan", raw)
    try:
        return raw.astype(np.float64)
    except (ValueError, TypeError):
        pass
    num = pd.to_numeric(pd.Series(raw, dtype=object, copy=False), errors="coerce")
    num = np.array(num, dtype=np.float64)  # a writable copy
    parsed = ~np.isnan(num)
    with contextlib.suppress(ValueError, TypeError):  # same rounding as the fast path
        num[parsed] = raw[parsed].astype(np.float64)
    for i in np.flatnonzero(~parsed & ~empty):
        with contextlib.suppress(ValueError, TypeError):
            num[i] = float(raw[i])
    return num


def _epoch_ns(num: np.ndarray, mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers times ``mult`` (ns per unit) as int64 ns; second array: in range."""
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(num) < (9.2e18 / mult)
        safe = np.where(ok, num, 0.0)
        integral = (safe == np.floor(safe)) & (np.abs(safe) < 2.0**53)
        ns = np.where(
            integral,
            safe.astype(np.int64) * mult,
            np.round(safe * mult).astype(np.int64),
        )
    ns[~ok] = _NAT
    return ns, ok


def _index_ns(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """UTC instants of ``index`` (aware, or naive meaning UTC) as int64 ns, and a mask of
    values outside the datetime64[ns] range (set to NaT in the result)."""
    naive = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    values = np.asarray(naive.asi8, dtype=np.int64)
    mult = _UNIT_NS[naive.unit]
    nat = values == _NAT
    limit = _INT64_MAX // mult
    out_of_range = ~nat & ((values > limit) | (values < -limit))
    with np.errstate(over="ignore"):
        ns = values * mult
    ns[nat | out_of_range] = _NAT
    return ns, out_of_range


def _localize(
    naive: pd.DatetimeIndex, tz: str, codes: np.ndarray, rows: np.ndarray
) -> pd.DatetimeIndex:
    """Wall times in ``tz`` → UTC; DST gaps and overlaps become NaT with a code."""
    local = naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    lost = np.flatnonzero(np.asarray(local.isna()) & ~np.asarray(naive.isna()))
    if lost.size:
        shifted = naive[lost].tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        gap = ~np.asarray(shifted.isna())
        codes[rows[lost[gap]]] = _TS_GAP
        codes[rows[lost[~gap]]] = _TS_AMBIGUOUS
    return local.tz_convert("UTC")


def _parse_timestamps(values: np.ndarray, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """Parse raw timestamp strings: (UTC int64 ns with NaT, int8 problem codes)."""
    n = len(values)
    codes = np.zeros(n, dtype=np.int8)
    ns = np.full(n, _NAT, dtype=np.int64)
    empty = values == ""
    everything = np.arange(n)

    def put(rows: np.ndarray, index: pd.DatetimeIndex) -> None:
        got, out_of_range = _index_ns(index)
        ns[rows] = got
        codes[rows[out_of_range]] = _TS_RANGE

    if plan.ts_mode in ("epoch_s", "epoch_ms"):
        num = _to_float(values, empty)
        finite = np.isfinite(num)
        mult = np.full(n, 10**9 if plan.ts_mode == "epoch_s" else 10**6, dtype=np.int64)
        got, ok = _epoch_ns(np.where(finite, num, 0.0), mult)
        ns[finite] = got[finite]
        codes[finite & ~ok] = _TS_RANGE
    elif plan.ts_mode == "strptime":
        parsed = pd.to_datetime(
            values, format=plan.strptime, errors="coerce", utc=plan.ts_has_offset
        )
        if plan.ts_has_offset:
            put(everything, parsed)
        else:
            put(everything, _localize(parsed, plan.tz, codes, everything))
    else:  # auto: a number is epoch (s below 1e11, else ms), text is ISO-8601
        digits = np.array(pd.Series(values, dtype=object, copy=False).str.isdecimal(), bool)
        others = np.flatnonzero(~digits & ~empty)
        if others.size:  # "-3600", "1.6e9": numbers too, which ISO-8601 must not read
            number = pd.Series(values[others], dtype=object, copy=False).str.fullmatch(
                _NUMBER_RE
            )
            digits[others[number.to_numpy(bool)]] = True
        text_rows = np.flatnonzero(~digits & ~empty)
        if text_rows.size:
            text = values[text_rows]
            if plan.tz in _UTC_NAMES:
                put(text_rows, pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True))
            else:
                aware = pd.Series(text, dtype=object, copy=False).str.contains(_ISO_OFFSET_RE)
                aware = aware.to_numpy(bool)
                if aware.any():
                    rows = text_rows[aware]
                    put(rows, pd.to_datetime(
                        text[aware], format="ISO8601", errors="coerce", utc=True
                    ))
                if not aware.all():
                    rows = text_rows[~aware]
                    # utc=True only so that a stray offset cannot raise "mixed timezones";
                    # the values are wall times in the detector's timezone.
                    wall = pd.to_datetime(
                        text[~aware], format="ISO8601", errors="coerce", utc=True
                    ).tz_localize(None)
                    put(rows, _localize(wall, plan.tz, codes, rows))
        rows = np.flatnonzero(digits)
        if rows.size:
            num = _to_float(values[rows])
            finite = np.isfinite(num)
            rows, num = rows[finite], num[finite]
            mult = np.where(np.abs(num) < 1e11, 10**9, 10**6).astype(np.int64)
            got, ok = _epoch_ns(num, mult)
            ns[rows] = got
            codes[rows[~ok]] = _TS_RANGE

    failed = (ns == _NAT) & (codes == _OK)
    codes[failed & empty] = _TS_MISSING
    codes[failed & ~empty] = _TS_PARSE
    return ns, codes


def _validate(
    plan: _Plan,
    shown: str,
    names: Sequence[str],
    raws: list[np.ndarray],
    lines: np.ndarray,
    acc: _Accumulator,
    quarantine: list[tuple[int, int, QuarantinedRow]],
    pre_bad: list[np.ndarray | None] | None = None,
    unmangle: str | None = None,
) -> None:
    """Validate one chunk of well-formed rows and add its records and problems.

    ``raws`` holds one object array of raw strings per column of ``plan.columns``;
    ``names`` are those columns as named in the file; ``lines`` the 1-based line numbers.
    """
    n = len(lines)
    if n == 0:
        return
    ndims = len(plan.dims)
    codes = [np.zeros(n, dtype=np.int8) for _ in raws]
    if pre_bad is not None:
        for code, flags in zip(codes, pre_bad):
            if flags is not None:
                code[flags] = _JSON_TYPE

    def undecodable(c: int, rows: np.ndarray) -> None:
        """Among ``rows`` that failed to parse, call out undecodable text as such."""
        for i in rows:
            if _has_surrogate(raws[c][i]):
                codes[c][i] = _DECODE

    # timestamp
    ts_ns, ts_codes = _parse_timestamps(raws[0], plan)
    ts_free = codes[0] == _OK
    codes[0][ts_free] = ts_codes[ts_free]
    undecodable(0, np.flatnonzero(codes[0] == _TS_PARSE))
    if plan.window is not None:
        start, end = plan.window
        outside = (codes[0] == _OK) & ((ts_ns < start) | (ts_ns >= end))
        codes[0][outside] = _TS_WINDOW

    # dimensions: any text is a value, so look for undecodable bytes everywhere
    for c in range(1, 1 + ndims):
        raw, code = raws[c], codes[c]
        joined = "".join(raw)
        bad = _contains(raw, _SURROGATE_RE, joined)
        if bad is not None:
            code[bad & (code == _OK)] = _DECODE
        code[(raw == "") & (code == _OK)] = _DIM_MISSING
        bad = _contains(raw, _CONTROL_RE, joined)
        if bad is not None:
            code[bad & (code == _OK)] = _DIM_CONTROL
        if len(joined) > plan.max_dim_len and max(map(len, raw)) > plan.max_dim_len:
            lengths = np.fromiter(map(len, raw), dtype=np.int64, count=n)
            code[(lengths > plan.max_dim_len) & (code == _OK)] = _DIM_LONG

    # measures: empty is missing (not a problem); anything else must be a finite float
    values: list[np.ndarray] = []
    usable_measure: list[np.ndarray] = []
    for c in range(1 + ndims, len(raws)):
        raw, code = raws[c], codes[c]
        empty = raw == ""
        num = _to_float(raw, empty)
        nan = np.isnan(num)
        not_number = nan & ~empty & (code == _OK)
        if not_number.any():  # whitespace-only counts as empty, not as a bad number
            rows = np.flatnonzero(not_number)
            blank = np.fromiter((not raw[i].strip() for i in rows), dtype=bool, count=rows.size)
            empty[rows[blank]] = True
            not_number[rows[blank]] = False
        code[not_number] = _NUM_BAD
        undecodable(c, np.flatnonzero(not_number))
        code[np.isinf(num) & (code == _OK)] = _NUM_INFINITE
        ok = (code == _OK) & ~empty & ~nan
        values.append(np.where(ok, num, np.nan))
        usable_measure.append(ok)

    ts_ok = codes[0] == _OK
    dims_ok = np.ones(n, dtype=bool)
    for c in range(1, 1 + ndims):
        dims_ok &= codes[c] == _OK
    any_bad_measure = np.zeros(n, dtype=bool)
    any_usable_measure = np.zeros(n, dtype=bool)
    for c, ok in zip(range(1 + ndims, len(raws)), usable_measure):
        any_bad_measure |= codes[c] != _OK
        any_usable_measure |= ok
    valid = ts_ok & dims_ok & ~(any_bad_measure & ~any_usable_measure)
    keep = valid.copy()
    for dim, allowed in plan.filters.items():
        c = 1 + plan.dims.index(dim)
        keep &= pd.Series(raws[c], dtype=object, copy=False).isin(allowed).to_numpy(bool)

    acc.processed += n
    acc.invalid += int(n - valid.sum())
    acc.partial += int((valid & any_bad_measure).sum())
    acc.filtered += int((valid & ~keep).sum())
    for c in range(len(raws)):
        if c > ndims:
            acc.usable[c] += int(usable_measure[c - 1 - ndims].sum())
        else:
            acc.usable[c] += int((codes[c] == _OK).sum())

    # Copies (boolean indexing, or .copy()): a view would keep the whole pandas chunk,
    # unused columns included, alive until the end of the read.
    everything = keep.all()
    part: dict[str, np.ndarray] = {"timestamp": ts_ns if everything else ts_ns[keep]}
    for i, dim in enumerate(plan.dims):
        part[dim] = _categorical(raws[1 + i] if everything else raws[1 + i][keep])
    for i, measure in enumerate(plan.measures):
        part[measure] = values[i] if everything else values[i][keep]
    acc.add(part, shown)

    for c, code in enumerate(codes):
        rows = np.flatnonzero(code)
        if not rows.size:
            continue
        field_name = printable(names[c])
        raw = raws[c]
        for i in rows:
            shown_value = raw[i]
            if unmangle and unmangle in shown_value:
                shown_value = shown_value.replace(unmangle, "")
            quarantine.append(
                (
                    int(lines[i]),
                    c,
                    QuarantinedRow(
                        shown, int(lines[i]), field_name, plan.reasons[int(code[i])],
                        printable(shown_value),
                    ),
                )
            )


def _resolve(required: Sequence[str], available: Sequence[str]) -> tuple[list[str], list[str]]:
    """Match spec columns to file columns: exactly, else ignoring case and blanks."""
    exact = set(available)
    folded: dict[str, str] = {}
    for name in available:
        folded.setdefault(name.strip().casefold(), name)
    found, missing = [], []
    for name in required:
        if name in exact:
            found.append(name)
        elif name.strip().casefold() in folded:
            found.append(folded[name.strip().casefold()])
        else:
            found.append("")
            missing.append(name)
    return found, missing


def _missing_error(
    shown: str, missing: list[str], found: Sequence[str], what: str
) -> InputError:
    preview = ", ".join(printable(h, 60) for h in list(found)[:30])
    if len(found) > 30:
        preview += ", ..."
    return InputError(f"{shown}: missing columns {missing} ({what}: [{preview}])")


# --------------------------------------------------------------------------- CSV


def _pick_marker(plan: _Plan) -> str:
    for marker in ("\x1e\x1f", "\x1c\x1d", "\x01\x02"):
        if plan.delimiter not in marker and not (plan.quote and plan.quote in marker):
            return marker
    raise ValueError("no usable end-of-record marker")  # pragma: no cover


def _pandas_call(shown: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call pandas' CSV reader; its complaints about the file become InputError."""
    try:
        return func(*args, **kwargs)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"{shown}: empty file") from None
    except pd.errors.ParserError as exc:
        message = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise InputError(f"{shown}: not parseable as CSV: {message}") from None
    except (UnicodeError, ValueError) as exc:
        raise InputError(f"{shown}: not parseable as CSV: {exc}") from None


def _read_csv(path: str, shown: str, plan: _Plan, acc: _Accumulator) -> None:
    marker = _pick_marker(plan)
    suffix = plan.delimiter + marker  # appended to every line, unmangled for display
    if plan.header_list is not None:
        names: list[str] | None = [*plan.header_list, marker]
        header: int | None = 0 if plan.contains_header else None
    elif plan.contains_header:
        names, header = None, 0
    else:
        raise InputError(f"{shown}: the format has ContainsHeader false and no HeaderList")
    first_line = 2 if header == 0 else 1

    quarantine: list[tuple[int, int, QuarantinedRow]] = []
    too_many: list[tuple[int, int]] = []  # (tokenizer line, fields found)
    embedded_at: list[np.ndarray] = []  # tokenizer line of rows with quoted line ends
    embedded_count: list[np.ndarray] = []
    bad_lines: list[int] = []
    rows_before = 0  # rows returned by pandas so far
    newlines_before = 0  # quoted line ends in those rows
    columns: list[str] | None = None
    file_cols: list[str] = []
    width = 0
    others: list[warnings.WarningMessage] = []

    with _Source(path, shown, plan) as src:
        marked = _MarkedStream(
            src.stream,
            plan.codec,
            suffix.encode("utf-8"),
            plan.quote.encode("utf-8"),
            src.read_guarded,
        )
        stream = io.BufferedReader(marked, buffer_size=_BLOCK)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            reader = _pandas_call(
                shown,
                pd.read_csv,
                stream,
                sep=plan.delimiter,
                quotechar=plan.quote or '"',
                quoting=csv.QUOTE_MINIMAL if plan.quote else csv.QUOTE_NONE,
                doublequote=True,
                header=header,
                names=names,
                index_col=False,
                dtype=object,
                na_filter=False,
                skip_blank_lines=False,
                on_bad_lines="warn",
                engine="c",
                encoding="utf-8",
                encoding_errors="surrogateescape",
                chunksize=CHUNK_ROWS,
            )
            with reader:
                while True:
                    chunk = _pandas_call(shown, next, reader, None)
                    if chunk is None:
                        break
                    for warning in caught:
                        if not issubclass(warning.category, pd.errors.ParserWarning):
                            others.append(warning)
                            continue
                        for match in _BAD_LINE_RE.finditer(str(warning.message)):
                            line_no, saw = int(match.group(1)), int(match.group(3))
                            bad_lines.append(line_no)
                            too_many.append((line_no, saw - 1))
                    del caught[:]
                    if columns is None:
                        columns = [str(c) for c in chunk.columns]
                        if columns[-1] != marker:  # pragma: no cover - defensive
                            raise InputError(f"{shown}: cannot read the CSV header")
                        width = len(columns) - 1
                        file_cols, missing = _resolve(plan.columns, columns[:-1])
                        if missing:
                            raise _missing_error(
                                shown, missing, columns[:-1], "no header match, the header is"
                            )
                    bad_lines.sort()
                    rows_before, newlines_before = _csv_chunk(
                        plan, shown, chunk, marker, suffix, width, file_cols,
                        marked.saw_quote,
                        first_line, rows_before, newlines_before, bad_lines,
                        embedded_at, embedded_count, acc, quarantine,
                    )

    for warning in others:  # not ours: let them through
        warnings.warn_explicit(
            warning.message, warning.category, warning.filename, warning.lineno
        )

    # Rows skipped for having too many fields: tokenizer line → physical line.
    if too_many:
        at = np.concatenate(embedded_at) if embedded_at else np.empty(0, dtype=np.int64)
        count = (
            np.concatenate(embedded_count) if embedded_count else np.empty(0, dtype=np.int64)
        )
        order = np.argsort(at, kind="stable")
        at, cumulative = at[order], np.cumsum(count[order])
        for line_no, saw in too_many:
            k = int(np.searchsorted(at, line_no, side="left"))
            physical = line_no + (int(cumulative[k - 1]) if k else 0)
            acc.processed += 1
            acc.invalid += 1
            quarantine.append(
                (
                    physical,
                    -1,
                    QuarantinedRow(
                        shown, physical, "<row>", f"expected {width} fields, found {saw}", ""
                    ),
                )
            )
    acc.add_quarantine(quarantine)


def _csv_chunk(
    plan: _Plan,
    shown: str,
    chunk: pd.DataFrame,
    marker: str,
    suffix: str,
    width: int,
    file_cols: list[str],
    saw_quote: bool,
    first_line: int,
    rows_before: int,
    newlines_before: int,
    bad_lines: list[int],
    embedded_at: list[np.ndarray],
    embedded_count: list[np.ndarray],
    acc: _Accumulator,
    quarantine: list[tuple[int, int, QuarantinedRow]],
) -> tuple[int, int]:
    m = len(chunk)
    if m == 0:
        return rows_before, newlines_before
    arrays = [chunk.iloc[:, j].to_numpy(dtype=object) for j in range(width + 1)]
    complete = arrays[width] == marker

    # Incomplete rows: too few fields (the marker came early: a blank line if it is
    # second after an empty field), or too many, cut to the header's width by pandas
    # (which it does from the first row of a chunk on, instead of skipping them).
    incomplete = np.flatnonzero(~complete)
    early = np.zeros(m, dtype=bool)
    blank = np.zeros(m, dtype=bool)
    short: list[tuple[int, str, str]] = []
    for i in incomplete:
        fields = [arrays[j][i] for j in range(width + 1)]
        if marker in fields:
            found = fields.index(marker)
            early[i] = True
            if found == 1 and fields[0] == "":
                blank[i] = True
                continue
            reason = f"expected {width} fields, found {found}"
        else:
            found = width + 1
            reason = f"expected {width} fields, found more"
        short.append((int(i), reason, plan.delimiter.join(fields[:found]).replace(suffix, "")))

    # Line ends inside quoted values carry the marker: count them per row.
    embedded = np.zeros(m, dtype=np.int64)
    if saw_quote:
        pattern = re.escape(marker)
        for j in range(width):
            if marker in "".join(arrays[j]):
                counts = pd.Series(arrays[j], dtype=object, copy=False).str.count(pattern)
                embedded += counts.to_numpy(dtype=np.int64)
        embedded[early] -= 1  # the marker field of a short row is not a line end

    # Tokenizer line numbers: rows in order, skipping the lines it reported as bad.
    base = first_line + rows_before + np.arange(m, dtype=np.int64)
    bad = np.asarray(bad_lines, dtype=np.int64)
    shift = bad - np.arange(bad.size, dtype=np.int64)
    token_line = base + np.searchsorted(shift, base, side="right")
    before = np.cumsum(embedded) - embedded + newlines_before
    lines = token_line + before
    has_newline = embedded > 0
    if has_newline.any():
        embedded_at.append(token_line[has_newline])
        embedded_count.append(embedded[has_newline])

    for i, reason, value in short:
        quarantine.append(
            (
                int(lines[i]),
                -1,
                QuarantinedRow(shown, int(lines[i]), "<row>", reason, printable(value)),
            )
        )
    acc.processed += len(short)
    acc.invalid += len(short)

    index = {name: j for j, name in enumerate(chunk.columns[:width])}
    raws = [arrays[index[name]] for name in file_cols]
    if not complete.all():
        raws = [raw[complete] for raw in raws]
        lines = lines[complete]
    _validate(plan, shown, file_cols, raws, lines, acc, quarantine, unmangle=suffix)
    return rows_before + m, newlines_before + int(embedded.sum())


# --------------------------------------------------------------------------- JSON Lines


def _json_text(value: Any) -> tuple[str, bool]:
    """A JSON value as the text a CSV cell would hold; second item: not a scalar."""
    kind = type(value)
    if kind is str:
        return value, False
    if value is None:
        return "", False
    if kind is bool:
        return ("true" if value else "false"), False
    if kind is int:
        return str(value), False
    if kind is float:
        return repr(value), False
    return json.dumps(value, ensure_ascii=False, default=str)[:1000], True


_ABSENT = object()
_NUMERIC_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})


def _json_get(obj: dict, name: str) -> Any:
    """``obj[name]``, else the value of a key equal to ``name`` ignoring case and blanks."""
    value = obj.get(name, _ABSENT)
    if value is not _ABSENT:
        return value
    folded = name.strip().casefold()
    for key, value in obj.items():
        if key.strip().casefold() == folded:
            return value
    return None


def _json_column(objs: list[dict], name: str, keys: set[str]) -> tuple[np.ndarray, Any]:
    """The values of column ``name`` as CSV-like text (null and absent: ``""``), and a mask
    of values that are objects or arrays (None when there are none)."""
    folded = name.strip().casefold()
    variants = [k for k in keys if k != name and k.strip().casefold() == folded]
    if name in keys and not variants:
        values = list(map(operator.methodcaller("get", name), objs))
    else:  # some objects spell the key differently
        values = [_json_get(obj, name) for obj in objs]
    kind = pd.api.types.infer_dtype(values, skipna=True)
    flags = None
    if kind == "string" or kind == "empty":
        text = np.array(values, dtype=object)
    elif kind in _NUMERIC_KINDS:
        text = np.array(list(map(repr, values)), dtype=object)
    else:
        cells = [_json_text(value) for value in values]
        text = np.array([cell[0] for cell in cells], dtype=object)
        flags = np.array([cell[1] for cell in cells], dtype=bool)
        if not flags.any():
            flags = None
    missing = np.flatnonzero(pd.Series(values, dtype=object).isna().to_numpy())
    for i in missing:  # null or absent is empty; a float NaN literal stays "nan"
        text[i] = "" if values[i] is None else repr(values[i])
    return text, flags


def _read_json(path: str, shown: str, plan: _Plan, acc: _Accumulator) -> None:
    quarantine: list[tuple[int, int, QuarantinedRow]] = []
    line_no = 0
    objects = 0
    nonblank = 0
    resolved_ever: set[str] = set()
    keys_ever: set[str] = set()
    with _Source(path, shown, plan) as src:
        text = io.TextIOWrapper(src.stream, encoding=plan.codec, errors="l4m-escape", newline=None)
        while True:
            lines = src.read_guarded(lambda: list(itertools.islice(text, CHUNK_ROWS)))
            if not lines:
                break
            start = line_no + 1
            line_no += len(lines)
            if start == 1 and lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
            stripped = list(map(str.strip, lines))
            filled = np.fromiter(map(bool, stripped), dtype=bool, count=len(stripped))
            positions = np.flatnonzero(filled)
            texts = list(itertools.compress(stripped, filled))
            nonblank += len(texts)
            errors: list[str | None] | None = None
            try:
                parsed = list(map(json.loads, texts))
            except (ValueError, RecursionError):  # find the broken lines one by one
                parsed, errors = [], []
                for item in texts:
                    try:
                        parsed.append(json.loads(item))
                        errors.append(None)
                    except (ValueError, RecursionError) as exc:
                        parsed.append(None)
                        errors.append(f"not valid JSON: {exc}"[:300])
            is_object = np.fromiter(
                map(isinstance, parsed, itertools.repeat(dict)), dtype=bool, count=len(parsed)
            )
            for k in np.flatnonzero(~is_object):
                err = errors[k] if errors is not None else None
                if err is None:
                    err = f"not a JSON object (found {type(parsed[k]).__name__})"
                pos = int(positions[k])
                row = start + pos
                acc.processed += 1
                acc.invalid += 1
                quarantine.append(
                    (row, -1, QuarantinedRow(shown, row, "<line>", err,
                                             printable(lines[pos].rstrip("\r\n"))))
                )
            good = list(itertools.compress(parsed, is_object))
            if not good:
                continue
            good_pos = positions[is_object]
            objects += len(good)
            keys = set().union(*good)
            keys_ever |= keys
            file_keys, _ = _resolve(plan.columns, sorted(keys))
            raws, pre_bad = [], []
            for name, key in zip(plan.columns, file_keys):
                if not key:  # in no object of this chunk
                    raws.append(np.full(len(good), "", dtype=object))
                    pre_bad.append(None)
                    continue
                resolved_ever.add(name)
                text_values, flags = _json_column(good, name, keys)
                raws.append(text_values)
                pre_bad.append(flags)
            lines_arr = start + np.asarray(good_pos, dtype=np.int64)
            _validate(
                plan, shown, plan.columns, raws, lines_arr, acc, quarantine, pre_bad=pre_bad
            )

    if nonblank and not objects:
        raise InputError(f"{shown}: not JSON Lines: no line holds a JSON object")
    if objects:
        missing = [name for name in plan.columns if name not in resolved_ever]
        if missing:
            raise _missing_error(shown, missing, sorted(keys_ever), "keys found in the objects")
    acc.add_quarantine(quarantine)


# --------------------------------------------------------------------------- entry point


def read_records(
    paths: Sequence[str],
    spec: Any,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    max_dimension_length: int = 256,
    names: Sequence[str] | None = None,
) -> ReadResult:
    """Read, validate and combine the input files of a metric set.

    :param paths: files to read, in order (see :func:`list_input_files`); ``file://``
        accepted, otherwise used as given.
    :param names: what to call each file in errors, quarantine rows and the list of
        files read (default: its path), e.g. the ``s3://`` URL of a temporary local copy.
    :param spec: the detector definition (``l4m.spec.DetectorSpec``).
    :param window: optional ``(start, end)``; rows with a timestamp outside
        ``start <= t < end`` (UTC; naive bounds are UTC) are quarantined.
    :param max_dimension_length: longest accepted dimension value, in characters.
    :raises InputError: a file is unusable (missing, empty, not CSV/JSON, missing
        columns, undecodable gzip), or the rows hold more time series than
        :func:`series_limit` (checked after each chunk of :data:`CHUNK_ROWS` rows).
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]  # type: ignore[list-item]
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} paths")
    plan = _make_plan(spec, window, max_dimension_length)
    acc = _Accumulator(plan)
    for i, path in enumerate(paths):
        shown = os.fsdecode(os.fspath(path)) if names is None else names[i]
        local = _local_path(path)
        if plan.is_csv:
            _read_csv(local, shown, plan, acc)
        else:
            _read_json(local, shown, plan, acc)
        acc.files.append(shown)
    return acc.result()
