"""The seed's two QuickSight datasets, defined once for every engine (SEED-SYSTEM §5, §6).

Each :class:`Dataset` is a SELECT over the three tables the Glue crawler makes
(``live``, ``metricvalueanomalyscore``, ``dimensioncontributions``, lower-case column
names) plus its output columns typed as QuickSight InputColumns. The SQL is written in
the subset DuckDB (the local catalog) and Athena (Trino) both accept, and is generated
from the definition, for any measures and dimensions. Over the seed it adds
``event_time`` (the parsed ``timestamp``) and one ``is<measure>anomaly`` flag per measure.

The live side of the "live data" join turns the live timestamp, in the definition's
``ColumnFormat``, into a wall-clock TIMESTAMP (:func:`live_time_sql`) and matches the
anomaly row whose interval ``[Timestamp, Timestamp + interval)`` contains it: live rows
inside an interval, not only at its start, get the anomaly columns. Standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass

from l4m.io.cells import restore_sql
from l4m.spec import DetectorSpec
from l4m.spec_time import _java_tokens

LIVE_TABLE = "live"
SCORE_TABLE = "metricvalueanomalyscore"
CONTRIB_TABLE = "dimensioncontributions"
LIVE_VIEW = "l4m_live_data"
CONTRIB_VIEW = "l4m_dimension_contributions"
RESULT_TS_FORMAT = "yyyy-MM-dd HH:mm:ss"  # results Timestamp: interval start, spec timezone
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "Zulu", "Etc/Zulu"})

# QuickSight InputColumn types and the SQL type of each.
STRING, DECIMAL, DATETIME, BOOLEAN = "STRING", "DECIMAL", "DATETIME", "BOOLEAN"
SQL_TYPES = {STRING: "VARCHAR", DECIMAL: "DOUBLE", DATETIME: "TIMESTAMP", BOOLEAN: "BOOLEAN"}

# Fixed-width Java pattern letters -> field of the yyyy-MM-dd HH:mm:ss string.
_FIXED_FIELDS = {"yyyy": "year", "uuuu": "year", "yy": "year", "MM": "month", "dd": "day",
                 "HH": "hour", "mm": "minute", "ss": "second"}
_UNITS = (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60), ("SECOND", 1))


class UnsupportedTimestampFormat(ValueError):
    """The live timestamp format cannot be parsed by SQL common to DuckDB and Athena."""


@dataclass(frozen=True)
class Column:
    """An output column: lower-case name and QuickSight type (``SQL_TYPES`` keys)."""

    name: str
    type: str


@dataclass(frozen=True)
class Dataset:
    """One dataset: view name (local catalog), seed QuickSight id, SELECT text, columns."""

    view: str
    dataset_id: str
    sql: str
    columns: tuple[Column, ...]
    sort_columns: tuple[str, ...]


def quote(name: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def live_columns(spec: DetectorSpec) -> tuple[Column, ...]:
    """The ``live`` columns the datasets use: timestamp (as text), dimensions, measures."""
    return (Column(spec.timestamp_column.lower(), STRING),
            *(Column(d.lower(), STRING) for d in spec.dimensions),
            *(Column(m.lower(), DECIMAL) for m in spec.measure_names))


def score_columns(spec: DetectorSpec) -> tuple[Column, ...]:
    """Columns of ``metricvalueanomalyscore``, in file order (SEED-SYSTEM §4)."""
    columns = [Column("key", STRING), Column("timestamp", STRING),
               *(Column(d.lower(), STRING) for d in spec.dimensions)]
    for m in spec.measure_names:
        columns += [Column(f"{m}anomalymetricvalue".lower(), DECIMAL),
                    Column(f"{m}groupscore".lower(), DECIMAL)]
    return _unique(columns, SCORE_TABLE)


CONTRIBUTION_COLUMNS = (Column("timestamp", STRING), Column("metricname", STRING),
                        Column("dimensionname", STRING), Column("dimensionvalue", STRING),
                        Column("valuecontribution", DECIMAL))


def live_time_sql(spec: DetectorSpec, column: str) -> str:
    """SQL for the live timestamp ``column`` (an SQL expression) as a wall-clock TIMESTAMP.

    Supported: ``yyyy-MM-dd HH:mm:ss``; any other fixed-width pattern of ``yyyy``/``yy``,
    ``MM``, ``dd``, ``HH``, ``mm``, ``ss``, fractions ``S…`` and literal text; epoch
    formats with a UTC detector; no ColumnFormat: ISO-8601 local time (offset ignored).
    Unparsable values give NULL. Raises :class:`UnsupportedTimestampFormat` otherwise.
    """
    fmt = spec.timestamp_format
    text = f"CAST({column} AS VARCHAR)"
    if fmt == RESULT_TS_FORMAT:
        return f"TRY_CAST({column} AS TIMESTAMP)"
    if fmt is None:
        return f"TRY_CAST(replace(substr({text}, 1, 19), 'T', ' ') AS TIMESTAMP)"
    if fmt.startswith("EPOCH_"):
        if spec.timezone not in UTC_ZONES:
            raise UnsupportedTimestampFormat(
                f"{fmt} with Timezone {spec.timezone}: only UTC detectors are supported")
        seconds = f"TRY_CAST({column} AS DOUBLE)"
        if fmt == "EPOCH_MILLISECONDS":
            seconds = f"{seconds} / 1000"
        return (f"(TIMESTAMP '1970-01-01 00:00:00' + "
                f"INTERVAL '1' SECOND * CAST(floor({seconds}) AS BIGINT))")
    fields: dict[str, str] = {}
    pos = 1
    for kind, token in _java_tokens(fmt):
        field = _FIXED_FIELDS.get(token) if kind == "letters" else None
        if field and field not in fields:
            fields[field] = f"substr({text}, {pos}, {len(token)})"
            if token == "yy":  # Java reads two-digit years as 2000-2099
                fields[field] = f"'20' || {fields[field]}"
        elif kind == "letters" and set(token) != {"S"}:
            raise UnsupportedTimestampFormat(
                f"ColumnFormat {fmt!r}: {token!r} cannot be parsed by the shared SQL (use "
                "each of yyyy or yy, MM, dd, HH, mm, ss once, S… and literal text)")
        pos += len(token)
    if not {"year", "month", "day"} <= fields.keys():
        raise UnsupportedTimestampFormat(f"ColumnFormat {fmt!r} has no yyyy, MM and dd")
    parts = [fields.get(f, "'00'") for f in ("year", "month", "day", "hour", "minute", "second")]
    joined = " || '-' || ".join(parts[:3]) + " || ' ' || " + " || ':' || ".join(parts[3:])
    return f"TRY_CAST({joined} AS TIMESTAMP)"


def live_data(spec: DetectorSpec, database: str | None = None) -> Dataset:
    """``L4MQuickSightDataSetWithLiveData``: every live row with its anomaly columns.

    ``database`` qualifies the table names (e.g. the Glue database, for Athena).
    """
    dims, scores, flags, event_time = _names(spec)
    measures = [m.lower() for m in spec.measure_names]
    parsed = live_time_sql(spec, quote(spec.timestamp_column.lower()))
    live = _typed(database, LIVE_TABLE, "l", live_columns(spec)[1:],
                  f"{parsed} AS {quote(event_time)}")
    start = f"CAST(a.{quote('timestamp')} AS TIMESTAMP)"
    on = [f"a.{quote(d)} = l.{quote(d)}" for d in dims]
    on += [f"l.{quote(event_time)} >= {start}",
           f"l.{quote(event_time)} < {start} + {_interval(spec.interval_seconds)}"]
    select = [f"substr(CAST(l.{quote(event_time)} AS VARCHAR), 1, 19) AS {quote('timestamp')}",
              f"l.{quote(event_time)} AS {quote(event_time)}",
              *(f"l.{quote(c)} AS {quote(c)}" for c in dims + measures),
              *_score_select(scores, flags)]
    sql = ("SELECT\n  " + ",\n  ".join(select) + f"\nFROM {live}\nLEFT JOIN "
           + _typed(database, SCORE_TABLE, "a", score_columns(spec)[1:], restore=tuple(dims))
           + "\n  ON " + "\n AND ".join(on))
    columns = [Column("timestamp", STRING), Column(event_time, DATETIME),
               *(Column(d, STRING) for d in dims), *(Column(m, DECIMAL) for m in measures),
               *(Column(s, DECIMAL) for s in scores), *(Column(f, BOOLEAN) for f in flags)]
    return Dataset(LIVE_VIEW, "L4MQuickSightDataSetWithLiveData", sql,
                   _unique(columns, LIVE_VIEW), (event_time, *dims))


def dimension_contributions(spec: DetectorSpec, database: str | None = None) -> Dataset:
    """``L4MQuickSightDataSetWithDimensionContributions``: contributions RIGHT JOIN anomalies."""
    dims, scores, flags, event_time = _names(spec)
    contrib = ["dimensionname", "dimensionvalue", "metricname", "valuecontribution"]
    ts = f"a.{quote('timestamp')}"
    select = [f"{ts} AS {quote('timestamp')}",
              f"CAST({ts} AS TIMESTAMP) AS {quote(event_time)}",
              *(f"c.{quote(c)} AS {quote(c)}" for c in contrib),
              *(f"a.{quote(d)} AS {quote(d)}" for d in dims),
              *_score_select(scores, flags)]
    sql = ("SELECT\n  " + ",\n  ".join(select)
           + "\nFROM " + _typed(database, CONTRIB_TABLE, "c", CONTRIBUTION_COLUMNS,
                                restore=("dimensionvalue",))
           + "\nRIGHT JOIN " + _typed(database, SCORE_TABLE, "a", score_columns(spec)[1:],
                                      restore=tuple(dims))
           + f"\n  ON c.{quote('timestamp')} = {ts}")
    columns = [Column("timestamp", STRING), Column(event_time, DATETIME),
               *(Column(c, DECIMAL if c == "valuecontribution" else STRING) for c in contrib),
               *(Column(d, STRING) for d in dims),
               *(Column(s, DECIMAL) for s in scores), *(Column(f, BOOLEAN) for f in flags)]
    return Dataset(CONTRIB_VIEW,
                   "L4MQuickSightDataSetWithDimensionContributions", sql,
                   _unique(columns, CONTRIB_VIEW),
                   (event_time, *dims, "metricname", "dimensionname", "dimensionvalue"))


DATASET_KINDS = ("live", "contributions")


def dataset(spec: DetectorSpec, which: str, database: str | None = None) -> Dataset:
    """The dataset ``"live"`` or ``"contributions"`` of ``spec``."""
    builders = {"live": live_data, "contributions": dimension_contributions}
    if which not in builders:
        raise ValueError(f"unknown dataset {which!r} (use 'live' or 'contributions')")
    return builders[which](spec, database)


def _names(spec: DetectorSpec):
    """(dimensions, score columns, anomaly flags, event-time column), all lower-case.

    The flags and the event-time column get a trailing ``_`` while their name is taken.
    """
    dims = [d.lower() for d in spec.dimensions]
    scores = [c.name for c in score_columns(spec)[2 + len(dims):]]
    taken = {"timestamp", *dims, *(m.lower() for m in spec.measure_names), *scores,
             *(c.name for c in CONTRIBUTION_COLUMNS)}
    flags = []
    for m in spec.measure_names:
        flags.append(_free(f"is{m.lower()}anomaly", taken))
        taken.add(flags[-1])
    return dims, scores, flags, _free("event_time", taken)


def _free(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _typed(database: str | None, table: str, alias: str, columns, *extra: str,
           restore: tuple[str, ...] = ()) -> str:
    """``(SELECT … FROM table) alias`` with every column cast to its type, whatever types
    the crawler inferred; ``timestamp`` becomes its 19-character ``yyyy-MM-dd HH:mm:ss``.
    The ``restore`` columns hold dimension values written spreadsheet-safe by the result
    writers: their leading ``'`` is removed (``l4m.io.cells``), so they join the live data."""
    items = [*extra]
    for c in columns:
        name = quote(c.name)
        if c.name == "timestamp":
            items.append(f"substr(CAST({name} AS VARCHAR), 1, 19) AS {name}")
        elif c.type == DECIMAL:
            items.append(f"TRY_CAST({name} AS DOUBLE) AS {name}")
        elif c.name in restore:
            items.append(f"{restore_sql(f'CAST({name} AS VARCHAR)')} AS {name}")
        else:
            items.append(f"CAST({name} AS VARCHAR) AS {name}")
    source = f"{quote(database)}.{quote(table)}" if database else quote(table)
    return f"(SELECT {', '.join(items)} FROM {source}) {alias}"


def _score_select(scores: list[str], flags: list[str]) -> list[str]:
    """The anomaly columns of ``a`` and one ``coalesce(groupscore, 0) > 0`` flag per measure."""
    items = [f"a.{quote(s)} AS {quote(s)}" for s in scores]
    items += [f"coalesce(a.{quote(g)}, 0) > 0 AS {quote(f)}"
              for g, f in zip(scores[1::2], flags)]
    return items


def _interval(seconds: int) -> str:
    """An INTERVAL literal of ``seconds`` in the largest unit that divides it."""
    unit, size = next((u, s) for u, s in _UNITS if seconds % s == 0)
    return f"INTERVAL '{seconds // size}' {unit}"


def _unique(columns: list[Column], where: str) -> tuple[Column, ...]:
    """``columns``, unless two share a name (the seed layout allows no such definition)."""
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise ValueError(f"{where} would have two columns named {column.name!r}: "
                             "rename the dimension or measure")
        seen.add(column.name)
    return tuple(columns)
