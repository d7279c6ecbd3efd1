"""Behaviour of the embedded engine on data the tests generate."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from l4m.engine import Calendar, Detector
from l4m.engine.model import split_blocks

HOUR = 3600
START = pd.Timestamp("2024-01-01", tz="UTC")
PLATFORMS = ["pc_web", "mobile_web", "mobile_app"]
MARKETS = ["us", "uk", "de", "fr", "es", "it", "jp"]


def shop(days: int = 35, seed: int = 0, noise: float = 0.03) -> pd.DataFrame:
    """Hourly views/revenue per platform × marketplace with daily and weekly cycles."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=days * 24, freq="h")
    hours = np.arange(len(ts))
    frames = []
    for p in PLATFORMS:
        for m in MARKETS:
            level = rng.uniform(200, 2000)
            daily = 1 + 0.5 * np.cos(2 * np.pi * (hours % 24 - rng.uniform(12, 21)) / 24)
            weekly = np.where(ts.day_of_week >= 5, rng.uniform(0.6, 1.3), 1.0)
            views = level * daily * weekly * rng.lognormal(0, noise, len(ts))
            frames.append(pd.DataFrame({"timestamp": ts, "platform": p, "marketplace": m,
                                        "views": views, "revenue": views * 0.3}))
    return pd.concat(frames, ignore_index=True)


def detector() -> Detector:
    return Detector(name="shop", measures=[("views", "SUM"), ("revenue", "SUM")],
                    dimensions=["platform", "marketplace"], calendar=Calendar(HOUR))


def run(records: pd.DataFrame, det: Detector | None = None):
    det = det or detector()
    return det, det.detect(det.matrix(records))


def anomalies(results) -> pd.DataFrame:
    frames = [r.anomalies.assign(epoch=r.epoch) for r in results if len(r.anomalies)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["measure", "platform", "marketplace", "epoch", "severity"])


def at(day: int, hour: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=day, hours=hour)


def test_clean_data_raises_almost_no_anomaly():
    _, results = run(shop())
    found = anomalies(results)
    scored = sum(r.metrics_scored for r in results)
    assert scored > 0
    assert len(found[found.severity >= 50]) / scored < 0.001


def test_one_interval_at_a_time_equals_whole_days(tmp_path):
    from l4m.io.state_store import load_detector, save_detector

    records = shop(days=12)
    _, whole = run(records)
    det = detector()
    matrix = det.matrix(records)
    stepwise = []
    for i in range(len(matrix.numbers)):
        stepwise += det.detect(matrix.rows(slice(i, i + 1)))
        if i % 50 == 0:       # persist and reload now and then: same results
            save_detector(det, tmp_path)
            det = load_detector(tmp_path)
    assert len(whole) == len(stepwise)
    for a, b in zip(whole, stepwise):
        pd.testing.assert_frame_equal(a.anomalies, b.anomalies)
        assert a.groups == b.groups


def test_intervals_must_come_in_order():
    det = detector()
    matrix = det.matrix(shop(days=3))
    det.detect(matrix.rows(slice(10, 11)))
    with pytest.raises(ValueError, match="in order"):
        det.detect(matrix.rows(slice(5, 6)))


def strong_points(results) -> set:
    found = anomalies(results)
    found = found[found.severity >= 50]
    return set(zip(found.measure, found.platform, found.marketplace, found.epoch))


def test_missing_intervals_are_not_anomalies():
    records = shop()
    clean = strong_points(run(records)[1])
    gone = records.timestamp.isin(pd.date_range(at(20, 3), at(20, 9), freq="h"))
    gone |= records.timestamp.isin(pd.date_range(at(25, 0), at(26, 23), freq="h"))
    gone |= (records.marketplace == "de") & records.timestamp.between(at(22, 0), at(22, 12))
    with_gaps = strong_points(run(records[~gone])[1])
    assert with_gaps - clean == set()


@pytest.mark.parametrize("factor", [0.0, 0.4, 2.5])
def test_spikes_dips_and_outages_are_found(factor):
    records = shop()
    hit = (records.platform == "pc_web") & (records.marketplace == "fr") & \
        records.timestamp.between(at(28, 10), at(28, 12))
    records.loc[hit, ["views", "revenue"]] *= factor
    _, results = run(records)
    found = anomalies(results)
    fr = found[(found.marketplace == "fr") & (found.platform == "pc_web") & (found.severity >= 50)]
    assert set(fr.measure) == {"views", "revenue"}
    assert (fr.epoch // HOUR).nunique() == 3


def test_level_shift_flags_the_start_then_adapts():
    records = shop()
    hit = (records.platform == "mobile_app") & (records.marketplace == "uk") & \
        (records.timestamp >= at(24, 8))
    records.loc[hit, ["views", "revenue"]] *= 0.5
    _, results = run(records)
    found = anomalies(results)
    uk = found[(found.marketplace == "uk") & (found.platform == "mobile_app") & (found.severity >= 30)]
    hours = sorted(h for h in set((uk.epoch - at(24, 8).timestamp()) // HOUR) if h >= -1)
    assert hours and hours[0] == 0
    assert max(hours) < 24           # adopted within a day: no alerts for the rest of the week


def test_incident_on_one_dimension_value_gives_one_group_per_measure():
    records = shop()
    hit = (records.marketplace == "it") & records.timestamp.between(at(30, 14), at(30, 15))
    records.loc[hit, ["views", "revenue"]] *= 0.55
    _, results = run(records)
    touched = [r for r in results if at(30, 14).timestamp() <= r.epoch <= at(30, 15).timestamp()]
    for r in touched:
        by_measure = {g["AnomalyGroup"]["PrimaryMetricName"]: g for g in r.groups}
        assert set(by_measure) == {"views", "revenue"}
        for g in by_measure.values():
            matrix = g["AnomalyGroup"]["MetricLevelImpactList"][0]["ContributionMatrix"]
            market = next(d for d in matrix["DimensionContributionList"]
                          if d["DimensionName"] == "marketplace")
            shares = {v["DimensionValue"]: v["ContributionScore"]
                      for v in market["DimensionValueContributionList"]}
            assert shares["it"] >= 90
            assert abs(sum(shares.values()) - 100) < 0.1
            related = {x["MetricName"] for x in g["InterMetricImpactList"]}
            assert related == {"views", "revenue"} - {g["AnomalyGroup"]["PrimaryMetricName"]}
    # consecutive intervals merge into one group per measure
    ids = {g["AnomalyGroup"]["AnomalyGroupId"] for r in touched for g in r.groups}
    assert len(ids) == 2


def test_unrelated_anomalies_in_consecutive_intervals_are_separate_groups():
    records = shop()
    spikes = [("pc_web", "us", at(30, 10)), ("mobile_app", "jp", at(30, 11)),
              ("mobile_web", "de", at(30, 12))]
    for platform, market, when in spikes:
        hit = ((records.platform == platform) & (records.marketplace == market)
               & (records.timestamp == when))
        records.loc[hit, ["views", "revenue"]] *= 3.0
    _, results = run(records)
    ids = {}
    for r in results:
        for g in r.groups:
            if g["AnomalyGroup"]["PrimaryMetricName"] == "views":
                ids.setdefault(g["AnomalyGroup"]["AnomalyGroupId"], []).append(r.epoch)
    spiked = [when.timestamp() for _, _, when in spikes]
    assert sorted(e for epochs in ids.values() for e in epochs if e in spiked) == spiked
    owners = [[gid for gid, epochs in ids.items() if e in epochs] for e in spiked]
    assert all(len(o) == 1 for o in owners) and len({o[0] for o in owners}) == 3


def test_severity_grows_with_surprise_and_breadth():
    def severity_of(factor, markets):
        records = shop()
        hit = records.marketplace.isin(markets) & (records.timestamp == at(29, 13))
        if len(markets) == 1:
            hit &= records.platform == "pc_web"
        records.loc[hit, "views"] *= factor
        found = anomalies(run(records)[1])
        sel = found[(found.measure == "views") & (found.epoch == at(29, 13).timestamp()) &
                    (found.platform == "pc_web") & (found.marketplace == "us")]
        return float(sel.severity.max()) if len(sel) else 0.0

    assert 0 < severity_of(0.75, ["us"]) < severity_of(0.5, ["us"])
    assert severity_of(0.75, ["us"]) < severity_of(0.75, MARKETS)


def test_feedback_lowers_or_keeps_severity():
    def later_severity(verdict):
        records = shop()
        cell = (records.platform == "pc_web") & (records.marketplace == "us")
        records.loc[cell & (records.timestamp == at(26, 12)), "views"] *= 1.6
        records.loc[cell & (records.timestamp == at(29, 12)), "views"] *= 1.6
        det = detector()
        matrix = det.matrix(records)
        cut = int(np.searchsorted(matrix.numbers, at(27, 0).timestamp() // HOUR))
        first = anomalies(det.detect(matrix.rows(slice(0, cut))))
        mark = first[(first.epoch == at(26, 12).timestamp()) & (first.measure == "views")
                     & (first.marketplace == "us") & (first.platform == "pc_web")].iloc[0]
        if verdict is not None:
            det.feedback(int(mark.series), float(mark.z), verdict)
        later = anomalies(det.detect(matrix.rows(slice(cut, None))))
        sel = later[(later.epoch == at(29, 12).timestamp()) & (later.series == mark.series)]
        return float(sel.severity.max()) if len(sel) else 0.0

    untouched = later_severity(None)
    assert untouched > 0
    assert later_severity(False) < 0.5 * untouched
    assert later_severity(True) == untouched


def test_sparse_counts_and_negative_values():
    rng = np.random.default_rng(3)
    ts = pd.date_range(START, periods=24 * 28, freq="h")
    records = pd.DataFrame({"timestamp": ts, "platform": "x", "marketplace": "y",
                            "views": rng.poisson(2, len(ts)).astype(float),
                            "revenue": rng.normal(-50, 5, len(ts))})
    records.loc[24 * 20 + 5, ["views", "revenue"]] = [40.0, 20.0]
    _, results = run(records)
    found = anomalies(results)
    strong = found[found.severity >= 50]
    assert set(strong.epoch) == {ts[24 * 20 + 5].timestamp()}
    assert set(strong.measure) == {"views", "revenue"}


def test_blocks_never_cross_a_day():
    cal = Calendar(HOUR)
    numbers = np.arange(100, 200)
    for sl in split_blocks(numbers, cal):
        assert len(set(cal.day_number(numbers[sl]))) == 1


def test_contribution_shares_rank_values_and_sum_to_100():
    from l4m.engine.groups import contribution_shares

    dims = ["platform", "marketplace"]
    assert contribution_shares(dims, [("web", "it")], [0.0]) == [
        ("platform", [("web", 100.0)]), ("marketplace", [("it", 100.0)])]
    combos = [("web", "fr"), ("app", "it"), ("web", "it"), ("app", "de")]
    shares = dict(contribution_shares(dims, combos, [1.0, 3.0, 2.0, 2.0]))
    assert shares["platform"] == [("app", 62.5), ("web", 37.5)]
    assert shares["marketplace"] == [("it", 62.5), ("de", 25.0), ("fr", 12.5)]
    # no deviation at all: equal weights; equal shares keep the order values were first seen
    tied = dict(contribution_shares(dims, combos, [0, 0, 0, 0]))
    assert tied["marketplace"] == [("it", 50.0), ("fr", 25.0), ("de", 25.0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_nan_is_nan_to_num(dtype):
    from l4m.engine.arrays import zero_nan

    a = np.array([[np.nan, 1.5, -np.inf], [np.inf, -0.0, 3e38]], dtype=dtype)
    before = a.copy()
    got = zero_nan(a)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.nan_to_num(a, nan=0.0))
    np.testing.assert_array_equal(a, before)          # the input is left alone


@pytest.mark.parametrize("module", ["l4m.engine", "l4m.spec", "l4m.definitions", "l4m.mwaa"])
def test_core_modules_do_not_import_airflow(module):
    code = (f"import sys, {module}; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('airflow', 'boto3', 'botocore')]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sum_and_avg_per_interval_and_combination_with_gaps():
    """SUM adds and AVG averages the values of one interval and combination; a value
    that is missing is left out of both, and an interval or combination without any
    value is NaN, never 0."""
    from l4m.engine.matrix import build_matrix

    stamps = pd.to_datetime(["2021-01-01 00:10", "2021-01-01 00:50", "2021-01-01 00:30",
                             "2021-01-01 02:00", "2021-01-01 02:40"], utc=True)
    frame = pd.DataFrame({"timestamp": stamps, "shop": ["a", "a", "b", "a", "b"],
                          "sales": [1.0, 3.0, np.nan, 6.0, 5.0],
                          "price": [2.0, 4.0, 7.0, np.nan, 9.0]})
    m = build_matrix(frame, measures=[("sales", "SUM"), ("price", "AVG")],
                     dimensions=["shop"], calendar=Calendar(3600))
    keys = [tuple(k) for k in m.keys.itertuples(index=False)]
    assert keys == [("sales", "a"), ("sales", "b"), ("price", "a"), ("price", "b")]
    np.testing.assert_array_equal(m.numbers - m.numbers[0], [0, 1, 2])
    np.testing.assert_array_equal(m.values, [[4.0, np.nan, 3.0, 7.0],
                                             [np.nan] * 4,
                                             [6.0, 5.0, np.nan, 9.0]])


def test_aggregation_keys_dimension_values_by_their_text():
    """Values with the same text are one metric (1 and "1"), a missing value is "nan",
    and categorical columns (as the reader gives) aggregate like plain ones, whatever
    categories a filter left unused."""
    from l4m.engine.matrix import build_matrix

    stamps = pd.to_datetime(["2021-01-01 00:10", "2021-01-01 00:20", "2021-01-01 00:30",
                             "2021-01-01 01:10"], utc=True)
    shop = pd.Categorical(["b", "a", "b", "b"], categories=["unused", "a", "b"])
    plain = pd.DataFrame({"timestamp": stamps, "shop": np.asarray(shop, dtype=object),
                          "code": [1, "1", np.nan, "1"], "sales": [1.0, 2.0, 4.0, 8.0]})
    as_read = plain.assign(shop=shop)
    matrices = [build_matrix(frame, measures=[("sales", "SUM")], dimensions=["shop", "code"],
                             calendar=Calendar(3600)) for frame in (plain, as_read)]
    for m in matrices:
        keys = [tuple(k) for k in m.keys[["shop", "code"]].itertuples(index=False)]
        assert keys == [("a", "1"), ("b", "1"), ("b", "nan")]
        np.testing.assert_array_equal(m.values, [[2.0, 1.0, 4.0], [np.nan, 8.0, np.nan]])
