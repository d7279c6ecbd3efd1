"""Anomaly groups, dimension contributions and related measures (L4M's shapes).

A group holds the anomalies of one measure in one interval, extended into the next
interval while the anomalies persist: when at least half of the smaller of the two
intervals' anomalous sets is anomalous in both, or when one dimension value accounts
for at least half of the deviation in both (an incident on one region whose stores
are flagged a few at a time). Unrelated anomalies that merely follow one another
start a new group, so a group cannot grow without end on a large detector where some
metric is anomalous in every interval. Its dimension contributions say, per
dimension, which share (0–100, summing to 100) of the group's deviation each value
accounts for. Groups of different measures that overlap in time and share a
dimension combination are related (views and revenue falling together).
"""
from __future__ import annotations

import functools
import hashlib
import math
import uuid
from collections import defaultdict
from operator import itemgetter

from ..intervals import iso_utc

GROUP_NAMESPACE = uuid.UUID("5b0c3e1e-4f6e-4f43-9a55-6c4d6d0d4c11")
#: share of the smaller anomalous set, or of the deviation held by one dimension value,
#: that must persist for a group to continue into the next interval
PERSISTENCE = 0.5


@functools.lru_cache(maxsize=1 << 16)   # a group is described again every interval it grows
def time_series_id(dimension_values: tuple[str, ...]) -> str:
    """Stable hex id of a dimension combination (shared by all its measures)."""
    return hashlib.sha1("\x1f".join(dimension_values).encode("utf-8", "surrogatepass")).hexdigest()


def contribution_shares(dimensions: list[str], combos: list[tuple],
                        deviation) -> list[tuple[str, list[tuple[str, float]]]]:
    """Per dimension, ``(name, [(value, share 0-100), ...])`` of the deviation, largest
    share first.

    ``combos`` are the anomalous metrics' dimension values, ``deviation`` their absolute
    deviations from the expected value (equal shares when all deviations are zero).
    """
    weights = [float(d) for d in deviation]
    if not sum(weights) > 0:
        weights = [1.0] * len(combos)
    total = sum(weights)
    if len(combos) == 1 and math.isfinite(total):      # the common case: one metric, 100 %
        return [(name, [(combos[0][i], 100.0)]) for i, name in enumerate(dimensions)]
    out = []
    for i, name in enumerate(dimensions):
        shares: dict[str, float] = defaultdict(float)
        for combo, w in zip(combos, weights):
            shares[combo[i]] += w
        ranked = sorted(shares.items(), key=itemgetter(1), reverse=True)   # stable: ties keep order
        out.append((name, [(v, round(100.0 * w / total, 2)) for v, w in ranked]))
    return out


def contributions(dimensions: list[str], combos: list[tuple], deviation) -> list[dict]:
    """L4M DimensionContributionList: per dimension, each value's share of the deviation
    (see :func:`contribution_shares`)."""
    return [{"DimensionName": name, "DimensionValueContributionList": [
                {"DimensionValue": v, "ContributionScore": score} for v, score in ranked]}
            for name, ranked in contribution_shares(dimensions, combos, deviation)]


class GroupTracker:
    """Open groups per measure, carried across intervals (JSON-serialisable state)."""

    def __init__(self, detector_name: str, state: dict | None = None):
        self.detector_name = detector_name
        self.open: dict[str, dict] = (state or {}).get("open", {})

    def to_state(self) -> dict:
        return {"open": self.open}

    def update(self, number: int, epoch: int, measure: str, members: list[tuple]) -> dict:
        """Add one interval's anomalies of ``measure`` and return the group as it stands.

        ``members``: (series, combo, value, deviation, severity) per anomalous metric.
        """
        group = self.open.get(measure)
        now = [str(m[0]) for m in members]
        dominant = _dominant([m[1] for m in members], [m[3] for m in members])
        if group is None or group["end"] != number - 1 \
                or not _persists(group, now, dominant):
            gid = str(uuid.uuid5(GROUP_NAMESPACE, f"{self.detector_name}/{measure}/{number}"))
            group = {"id": gid, "measure": measure, "start": number, "start_epoch": epoch,
                     "end": number, "end_epoch": epoch, "score": 0.0, "series": {}}
            self.open[measure] = group
        group.update(end=number, end_epoch=epoch, last=now, dominant=dominant)
        known = group["series"]
        for key, (_, combo, value, deviation, sev) in zip(now, members):
            entry = known.get(key)
            if entry is None:
                known[key] = {"combo": list(combo), "epochs": [epoch], "values": [float(value)],
                              "deviation": float(deviation), "severity": float(sev)}
                continue
            entry["epochs"].append(epoch)
            entry["values"].append(float(value))
            entry["deviation"] += float(deviation)
            entry["severity"] = max(entry["severity"], float(sev))
        group["score"] = max([group["score"], *(float(m[4]) for m in members)])
        return group

    def close_idle(self, number: int) -> None:
        """Close groups of measures that were not anomalous at ``number``."""
        for measure in [m for m, g in self.open.items() if g["end"] < number]:
            del self.open[measure]


def _dominant(combos: list, deviation: list) -> list[list]:
    """[dimension index, value] of each dimension value holding ≥ PERSISTENCE of the
    deviation (equal weights when every deviation is zero)."""
    if len(combos) == 1:                              # one metric holds all of it
        return [[i, str(v)] for i, v in enumerate(combos[0])]
    weights = [float(d) for d in deviation]
    if not sum(weights) > 0:
        weights = [1.0] * len(combos)
    total = sum(weights)
    out = []
    for i in range(len(combos[0]) if combos else 0):
        shares: dict[str, float] = defaultdict(float)
        for combo, w in zip(combos, weights):
            shares[str(combo[i])] += w
        out += [[i, v] for v, w in shares.items() if w >= PERSISTENCE * total]
    return out


def _persists(group: dict, now: list[str], dominant: list[list]) -> bool:
    """Whether the anomalies ``now`` continue ``group`` (see the module docstring)."""
    last = group.get("last")
    if last is None:                      # state saved before this rule: its last interval
        last = [k for k, s in group["series"].items() if s["epochs"][-1] == group["end_epoch"]]
    smaller = min(len(last), len(now))
    if smaller and len(set(last).intersection(now)) >= PERSISTENCE * smaller:
        return True
    return any(d in group.get("dominant", []) for d in dominant)


@functools.lru_cache(maxsize=1 << 16)
def _iso(epoch: int) -> str:
    return iso_utc(epoch)


def describe_group(group: dict, dimensions: list[str], related: list[dict]) -> dict:
    """GetAnomalyGroup response + ListAnomalyGroupTimeSeries response for one group."""
    # Dimension values are strings (the key table's text), so lists of them sort as the
    # tuples would, without building a key tuple per series.
    series = sorted(group["series"].values(), key=itemgetter("combo"))
    combos = [tuple(s["combo"]) for s in series]
    deviation = [s["deviation"] for s in series]
    timestamps = sorted(set().union(*(s["epochs"] for s in series)))
    position = {e: i for i, e in enumerate(timestamps)}
    time_series = []
    for s, combo in zip(series, combos):
        values: list[float | None] = [None] * len(timestamps)
        for e, v in zip(s["epochs"], s["values"]):
            values[position[e]] = v
        time_series.append({
            "TimeSeriesId": time_series_id(combo),
            "DimensionList": [{"DimensionName": d, "DimensionValue": str(v)}
                              for d, v in zip(dimensions, combo)],
            "MetricValueList": values})
    return {
        "AnomalyGroup": {
            "StartTime": _iso(group["start_epoch"]),
            "EndTime": _iso(group["end_epoch"]),
            "AnomalyGroupId": group["id"],
            "AnomalyGroupScore": round(group["score"], 2),
            "PrimaryMetricName": group["measure"],
            "MetricLevelImpactList": [{
                "MetricName": group["measure"],
                "NumTimeSeries": len(series),
                "ContributionMatrix": {"DimensionContributionList": contributions(
                    dimensions, combos, deviation)},
            }],
        },
        "InterMetricImpactList": related,
        "AnomalyGroupTimeSeries": {
            "AnomalyGroupId": group["id"],
            "MetricName": group["measure"],
            "TimestampList": [_iso(e) for e in timestamps],
            "TimeSeriesList": time_series,
        },
    }


def related_groups(groups: dict[str, dict]) -> dict[str, list[dict]]:
    """InterMetricImpactList per measure among groups open at the same interval.

    A group that started earlier is the cause of the other; the percentage is the
    share of this group's combinations that are anomalous in the other measure too.
    """
    combos = {m: {tuple(s["combo"]) for s in g["series"].values()} for m, g in groups.items()}
    out: dict[str, list[dict]] = defaultdict(list)
    for m, g in groups.items():
        for other, og in groups.items():
            shared = combos[m] & combos[other]
            if other == m or not shared:
                continue
            cause = og["start"] < g["start"]
            out[m].append({
                "MetricName": other, "AnomalyGroupId": og["id"],
                "RelationshipType": ("CAUSE_OF_INPUT_ANOMALY_GROUP" if cause
                                     else "EFFECT_OF_INPUT_ANOMALY_GROUP"),
                "ContributionPercentage": round(100.0 * len(shared) / len(combos[m]), 2)})
    return out
