"""Tests for the synthetic ecommerce data generator (l4m.synth)."""
from __future__ import annotations

import datetime
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from l4m import synth
from l4m.synth import generate_frame, write_dataset

START = datetime.date(2021, 1, 1)
DAYS = 21
INPUT_HEADER = "platform,marketplace,timestamp,views,revenue"
LABEL_HEADER = "platform,marketplace,timestamp,views_label,revenue_label"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def tree_hashes(root):
    """{relative path: sha256} of every file under root."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read(path):
    return pd.read_csv(path, dtype={"platform": str, "marketplace": str})


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    out = tmp_path_factory.mktemp("easy")
    return out, write_dataset(out, seed=5, start=START, days=DAYS, patterns="easy")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    return out, write_dataset(out, seed=5, start=START, days=DAYS, patterns="realistic")


@pytest.fixture(scope="module")
def real_frame():
    return generate_frame(seed=5, start=START, days=DAYS, patterns="realistic")


# ---------------------------------------------------------------- determinism and layout
@pytest.mark.parametrize("patterns", ["easy", "realistic"])
def test_same_seed_identical_files_other_seed_differs(tmp_path, patterns):
    a = write_dataset(tmp_path / "a", seed=11, days=8, patterns=patterns)
    b = write_dataset(tmp_path / "b", seed=11, days=8, patterns=patterns)
    c = write_dataset(tmp_path / "c", seed=12, days=8, patterns=patterns)
    ha, hb, hc = tree_hashes(a.root), tree_hashes(b.root), tree_hashes(c.root)
    ha.pop("definition.json"), hb.pop("definition.json"), hc.pop("definition.json")  # abs paths
    assert ha == hb
    assert ha["backtest/input.csv"] != hc["backtest/input.csv"]
    assert ha["labels.csv"] != hc["labels.csv"]


@pytest.mark.parametrize("fixture", ["easy", "real"])
def test_column_layout_and_order(request, fixture):
    _, paths = request.getfixturevalue(fixture)
    text = paths.backtest_input.read_text()
    assert text.splitlines()[0] == INPUT_HEADER
    assert paths.labels.read_text().splitlines()[0] == LABEL_HEADER
    df = read(paths.backtest_input)
    assert list(df.columns) == INPUT_HEADER.split(",")
    assert df["timestamp"].map(lambda s: bool(TS_RE.match(s))).all()
    assert df["views"].dtype.kind == "i"
    keys = df[["timestamp", "platform", "marketplace"]]
    assert keys.equals(keys.sort_values(list(keys.columns)).reset_index(drop=True))
    assert not keys.duplicated().any()


@pytest.mark.parametrize("fixture", ["easy", "real"])
def test_labels_cover_every_series_hour(request, fixture):
    _, paths = request.getfixturevalue(fixture)
    lab = read(paths.labels)
    assert len(lab) == 21 * DAYS * 24
    assert not lab.duplicated(["platform", "marketplace", "timestamp"]).any()
    assert lab.groupby(["platform", "marketplace"]).size().eq(DAYS * 24).all()
    assert lab["timestamp"].min() == "2021-01-01 00:00:00"
    assert lab["timestamp"].max() == f"2021-01-{DAYS:02d} 23:00:00"
    assert set(lab["views_label"]) <= {0, 1} and set(lab["revenue_label"]) <= {0, 1}


def test_definition(easy):
    out, paths = easy
    d = json.loads(paths.definition.read_text())
    src = d["MetricSet"]["MetricSource"]["S3SourceConfig"]
    root = out.resolve().as_posix()
    assert src["TemplatedPathList"] == [f"file://{root}/ecommerce/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"]
    assert src["HistoricalDataPathList"] == [f"file://{root}/ecommerce/backtest/"]
    assert d["AnomalyDetectorConfig"] == {"AnomalyDetectorFrequency": "PT1H"}
    assert d["MetricSet"]["DimensionList"] == ["platform", "marketplace"]
    assert [m["MetricName"] for m in d["MetricSet"]["MetricList"]] == ["views", "revenue"]
    assert src["FileFormatDescriptor"]["CsvFormatDescriptor"]["ContainsHeader"] is True
    assert paths.definition.read_text().startswith('{\n  "AnomalyDetectorName": "ecommerce"')


@pytest.mark.parametrize("fixture", ["easy", "real"])
def test_live_files_concatenate_to_input(request, fixture):
    _, paths = request.getfixturevalue(fixture)
    files = sorted(paths.live_dir.rglob("*.csv"))
    body = []
    for f in files:
        day, hhmm = f.parent.parent.name, f.parent.name
        assert re.fullmatch(r"\d{8}", day) and re.fullmatch(r"\d{4}", hhmm)
        assert f.name == f"{day}_{hhmm}00.csv"
        lines = f.read_text().splitlines(keepends=True)
        assert lines[0] == INPUT_HEADER + "\n"
        stamp = f"{day[:4]}-{day[4:6]}-{day[6:]} {hhmm[:2]}:{hhmm[2:]}:00"
        assert all(line.split(",")[2] == stamp for line in lines[1:])
        body += lines[1:]
    assert INPUT_HEADER + "\n" + "".join(body) == paths.backtest_input.read_text()
    assert len(files) == read(paths.backtest_input)["timestamp"].nunique()


def test_written_data_equals_frame(real, real_frame):
    _, paths = real
    df = read(paths.backtest_input)
    rows = real_frame[~real_frame["_missing"]].reset_index(drop=True)
    assert (df["views"].to_numpy() == rows["views"].to_numpy()).all()
    assert np.allclose(df["revenue"], rows["revenue"])


# ---------------------------------------------------------------- reruns
def test_rerun_identical_and_other_args_raise(tmp_path):
    write_dataset(tmp_path, seed=1, days=7, patterns="realistic")
    before = tree_hashes(tmp_path)
    write_dataset(tmp_path, seed=1, days=7, patterns="realistic")
    assert tree_hashes(tmp_path) == before
    assert not list(tmp_path.rglob("*.tmp"))
    for kwargs in ({"seed": 2, "days": 7, "patterns": "realistic"},
                   {"seed": 1, "days": 8, "patterns": "realistic"},
                   {"seed": 1, "days": 7, "patterns": "easy"},
                   {"seed": 1, "days": 7, "patterns": "realistic",
                    "start": datetime.date(2022, 1, 1)}):
        with pytest.raises(FileExistsError, match="refusing to overwrite"):
            write_dataset(tmp_path, **kwargs)
    assert tree_hashes(tmp_path) == before


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "ecommerce").mkdir()
    (tmp_path / "ecommerce" / "labels.csv").write_text("mine\n")
    with pytest.raises(FileExistsError, match="not written by l4m synth"):
        write_dataset(tmp_path, seed=0, days=7)
    assert (tmp_path / "ecommerce" / "labels.csv").read_text() == "mine\n"


@pytest.mark.parametrize("kwargs", [{"patterns": "hard"}, {"days": 0}, {"seed": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        generate_frame(**{"seed": 0, "start": START, "days": 7, "patterns": "easy", **kwargs})


def test_start_must_be_a_date():
    with pytest.raises(TypeError):
        generate_frame(seed=0, start=datetime.datetime(2021, 1, 1, 5), days=7, patterns="easy")


def test_other_start_and_short_period():
    f = generate_frame(seed=0, start=datetime.date(2024, 2, 28), days=7, patterns="realistic")
    assert f["timestamp"].iloc[0] == pd.Timestamp("2024-02-28 00:00:00")
    assert f["timestamp"].iloc[-1] == pd.Timestamp("2024-03-05 23:00:00")  # leap day included
    assert f["views_label"].sum() > 0  # anomalies after the first days // 2 = 3 days
    assert f.loc[f["timestamp"] < pd.Timestamp("2024-03-02"), "views_label"].sum() == 0


# ---------------------------------------------------------------- easy pattern
def test_easy_shape(easy):
    _, paths = easy
    df = read(paths.backtest_input)
    lab = read(paths.labels)
    assert df.groupby(["platform", "marketplace"]).ngroups == 21
    assert len(df) == 21 * DAYS * 24  # nothing missing
    assert np.allclose(df["revenue"], np.round(0.3 * df["views"], 2), atol=1e-9)
    assert (df["views"] >= 0).all()
    share = lab["views_label"].mean()
    assert 0.01 <= share <= 0.03
    assert (lab["views_label"] == lab["revenue_label"]).all()
    normal = df[lab["views_label"].to_numpy() == 0]
    assert normal["views"].between(50, 700).all()  # offset 100-200 + peak 200-400 + noise


# ---------------------------------------------------------------- realistic pattern
def test_realistic_weekly_cycle(real_frame):
    f = real_frame[~real_frame["_missing"] & (real_frame["views_label"] == 0)]
    weekend = f["timestamp"].dt.day_of_week >= 5
    g = ["platform", "marketplace"]
    ratio = f[weekend].groupby(g)["views"].mean() / f[~weekend].groupby(g)["views"].mean()
    assert (abs(ratio - 1) > 0.15).sum() >= 3
    assert ratio.max() > 1.1 or ratio.min() < 0.9


def test_realistic_noise_price_and_sparse(real_frame):
    f = real_frame[~real_frame["_missing"]]
    per_view = f["revenue"] / f["views"].where(f["views"] > 0)
    spread = per_view.groupby([f["platform"], f["marketplace"]]).std()
    assert (spread > 0).all()  # revenue is not an exact multiple of views
    means = f.groupby(["platform", "marketplace"])["views"].mean()
    assert (means < 6).sum() >= 2 and means.max() > 200  # sparse and large series
    zeros = f[f["views_label"] == 0].groupby(["platform", "marketplace"])["views"].apply(
        lambda v: (v == 0).mean())
    assert zeros.max() > 0.05


def test_realistic_missing_rows(real, real_frame):
    _, paths = real
    df, lab = read(paths.backtest_input), read(paths.labels)
    keys = ["platform", "marketplace", "timestamp"]
    m = lab.merge(df[keys].assign(present=True), on=keys, how="left")
    absent = m["present"].isna()
    assert 0.005 < absent.mean() < 0.03
    assert (m.loc[absent, ["views_label", "revenue_label"]] == 0).all().all()
    per_hour = absent.groupby(m["timestamp"]).sum()
    assert (per_hour == 21).any()  # at least one whole hour missing for all series
    files = {p.stem for p in paths.live_dir.rglob("*.csv")}
    for ts in per_hour[per_hour == 21].index:
        assert pd.Timestamp(ts).strftime("%Y%m%d_%H%M%S") not in files


def test_realistic_clean_history_and_rates(tmp_path):
    f = generate_frame(seed=3, days=40, patterns="realistic")
    cold = f["timestamp"] < pd.Timestamp(START) + pd.Timedelta(days=14)
    assert f.loc[cold, ["views_label", "revenue_label"]].to_numpy().sum() == 0
    window = f[~cold].sort_values(["platform", "marketplace", "timestamp"])
    starts = window.groupby(["platform", "marketplace"])["views_label"].apply(
        lambda s: int((np.diff(np.concatenate([[0], s.to_numpy()])) == 1).sum()))
    rate = starts.sum() / (21 * 26 * 24)
    assert 0.002 < rate < 0.008
    assert (f["revenue_label"] != f["views_label"]).any()  # some revenue-only price glitches


def test_realistic_dimension_wide_incident(real_frame):
    f = real_frame
    found = []
    for dim, values in (("platform", synth.PLATFORMS), ("marketplace", synth.MARKETPLACES)):
        for value in values:
            g = f[f[dim] == value]
            hit = (g["views_label"].eq(1) | g["_missing"]).groupby(g["timestamp"]).all()
            anyl = g["views_label"].eq(1).groupby(g["timestamp"]).any()
            hours = hit[hit & anyl].index
            if len(hours):
                found.append((dim, value, hours))
                sel = g[g["timestamp"].isin(hours) & ~g["_missing"]]
                assert (sel["revenue_label"] == 1).all()
    assert found, "no incident labelled on all series of one marketplace or platform"


def test_level_shift_mechanism_labels_three_hours():
    T, lo = 24 * 30, 24 * 14
    rng = np.random.default_rng(0)
    mult, occ = np.ones((21, T)), np.zeros((21, T), dtype=bool)
    lab = np.zeros((2, 21, T), dtype=np.int8)
    synth._structural_events(rng, mult, occ, lab, np.ones(21, dtype=bool), lo)
    shifted = [s for s in range(21) if mult[s, -1] != 1.0]
    assert shifted
    for s in shifted:
        t = int(np.argmax(mult[s] != 1.0))
        assert 0.3 <= abs(mult[s, -1] - 1) <= 0.6
        assert lab[:, s, t:t + 3].all() and not lab[:, s, t + 3:].any()
        assert t >= lo and not lab[:, s, :t].any()


def test_level_shift_in_data_labelled_three_hours():
    """Some 3-hour labelled run is followed by a lasting change of level that is not labelled."""
    f = generate_frame(seed=5, days=35, patterns="realistic")
    found = 0
    for _, g in f.sort_values("timestamp").groupby(["platform", "marketplace"]):
        v, lab = g["views"].to_numpy(float), g["views_label"].to_numpy()
        edges = np.diff(np.concatenate([[0], lab, [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if e - s != 3 or s < 168 or e + 24 > len(v) or v.mean() < 50 or lab[e:e + 3].any():
                continue
            after = np.arange(e, min(e + 48, len(v)))
            after = after[(lab[after] == 0) & (lab[after - 168] == 0)]
            ratio = v[after].sum() / v[after - 168].sum()  # same hours a week before
            found += abs(ratio - 1) > 0.25
    assert found >= 1
