"""Millions of distinct dimension values: a clear error naming the count and the limit,
before memory grows with them (reader), and no silent mix-up of combinations (engine)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hostile_data import definition
from l4m import runner
from l4m.engine import Calendar
from l4m.engine.matrix import STATE_BUDGET, TooManySeries, build_matrix, default_max_series
from l4m.engine.model import ModelState
from l4m.engine.params import ModelParams
from l4m.io import InputError, read_records
from l4m.spec import parse_spec

HEADER = "platform,marketplace,timestamp,views,revenue\n"
MAX_GROWTH_MB = 550  # the capped read peaks near 370 MB; reading everything takes > 700 MB


def spec_with(**limits):
    doc = definition()
    if limits:
        doc["Limits"] = limits
    return parse_spec(doc)


def test_millions_of_distinct_values_stop_early_with_bounded_memory(tmp_path):
    """2.5 million distinct marketplaces (5 million time series) through ``l4m backtest``."""
    data = tmp_path / "distinct.csv"
    with data.open("w") as handle:
        handle.write(HEADER)
        handle.writelines(f"pc_web,m{i},2021-02-14 04:00:00,1,2\n" for i in range(2_500_000))
    spec = tmp_path / "definition.json"
    spec.write_text(json.dumps(definition()))
    child = textwrap.dedent(f"""
        import contextlib, io, json, resource
        from l4m import cli, runner
        def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        before, err = peak(), io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli.main(["backtest", "--spec", {str(spec)!r}, "--input", {str(data)!r},
                             "--out", {str(tmp_path / "out")!r}])
        print(json.dumps({{"code": code, "stderr": err.getvalue(), "growth": peak() - before}}))
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=300, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 2
    assert "2,000,000 time series" in report["stderr"]
    assert "limit of 1,000,000" in report["stderr"]
    assert "Limits.MaxTimeSeries" in report["stderr"]
    assert report["growth"] < MAX_GROWTH_MB, report
    assert not (tmp_path / "out").exists()


def test_the_definition_sets_the_limit(tmp_path):
    path = tmp_path / "input.csv"
    path.write_text(HEADER + "".join(f"pc_web,m{i},2021-02-14 04:00:00,1,\n" for i in range(300)))
    assert read_records([str(path)], spec_with(MaxTimeSeries=300)).quality.time_series_count == 300
    with pytest.raises(InputError, match=r"input.csv: 300 time series .* limit of 299"):
        read_records([str(path)], spec_with(MaxTimeSeries=299))


def test_the_detector_stops_a_slow_leak_of_new_combinations():
    """Few new values per interval, but without end (session ids as a dimension)."""
    detector = runner.new_detector(spec_with(MaxTimeSeries=10))

    def interval(hour: int, values: list[str]) -> pd.DataFrame:
        return pd.DataFrame({
            "timestamp": pd.Timestamp("2021-02-14", tz="UTC") + pd.Timedelta(hours=hour),
            "platform": "pc_web", "marketplace": values, "views": 1.0, "revenue": 2.0})

    detector.detect(detector.matrix(interval(0, ["a", "b", "c", "d"])))
    detector.detect(detector.matrix(interval(1, ["a", "e"])))
    assert len(detector.keys) == 10
    with pytest.raises(TooManySeries, match=r"^12 time series .* limit of 10"):
        detector.matrix(interval(2, ["f"]))
    assert len(detector.keys) == detector.state.n_series == 10


def test_combinations_of_many_high_cardinality_dimensions_stay_apart():
    """Five dimensions of 20,000 values each: more combinations than an int64 can number."""
    n, dims = 20_000, [f"d{k}" for k in range(5)]
    records = pd.DataFrame({d: [f"v{(i * 7919 + k) % n}" for i in range(n)]
                            for k, d in enumerate(dims)})
    records["timestamp"] = pd.Timestamp("2021-02-14", tz="UTC")
    records["views"] = np.arange(n, dtype=float)
    matrix = build_matrix(records, measures=[("views", "SUM")], dimensions=dims,
                          calendar=Calendar(3600))
    got = matrix.keys.assign(views=matrix.values[0])
    expected = records[[*dims, "views"]]
    assert len(got) == n
    merged = expected.merge(got, on=dims, suffixes=("", "_matrix"))
    assert len(merged) == n and (merged["views"] == merged["views_matrix"]).all()


def test_default_limit_keeps_the_model_state_within_budget():
    for interval in (60, 300, 600, 3600, 86_400):
        state = ModelState.empty(Calendar(interval), ModelParams(), 1)
        per_series = sum(a.nbytes for a in state.arrays().values())
        assert default_max_series(interval) * per_series <= STATE_BUDGET
    assert default_max_series(3600) == 1_000_000
    assert 100_000 < default_max_series(300) < 200_000
