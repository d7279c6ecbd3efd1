"""Tests of the local dashboard (l4m.dashboard) and its operator, with a headless Chromium check.

The browser test needs Debian's ``chromium`` (``apt-get install -y chromium``); set
``L4M_SKIP_BROWSER=1`` to skip it.
"""
from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from l4m.dashboard import read_groups, render_dashboard, write_dashboard
from l4m.engine.groups import describe_group
from l4m.operators.dashboard import LocalDashboardOperator
from l4m.spec import parse_spec

HOSTILE = "</script><img src=x onerror=alert(1)>"
ANOMALY = "2021-01-02 05:00:00"
PLATFORMS = ("mobile_web", "pc_web")
MARKETS = ("de", "fr", HOSTILE)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def definition(tmp_path: Path) -> dict:
    return {
        "AnomalyDetectorName": "shop",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"},
                           {"MetricName": "Revenue", "AggregationFunction": "SUM"}],
            "DimensionList": ["platform", "Marketplace"],
            "TimestampColumn": {"ColumnName": "timestamp",
                                "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": [f"file://{tmp_path}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
                "FileFormatDescriptor": {"CsvFormatDescriptor": {"ContainsHeader": True}}}},
        },
        "Storage": {"ResultsPath": f"file://{tmp_path}/results"},
    }


@pytest.fixture
def spec(tmp_path):
    return parse_spec(definition(tmp_path))


def live_frame(days: int = 3) -> pd.DataFrame:
    """Hourly data of every combination, one anomalous interval (pc_web, HOSTILE)."""
    times = pd.date_range("2021-01-01", periods=24 * days, freq="h")
    index = pd.MultiIndex.from_product([times, PLATFORMS, MARKETS],
                                       names=["event_time", "platform", "marketplace"])
    live = index.to_frame(index=False)
    live["timestamp"] = live["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    hour = live["event_time"].dt.hour.to_numpy()
    live["views"] = np.round(100 + 60 * np.sin(2 * np.pi * (hour - 8) / 24))
    anomalous = (live["timestamp"] == ANOMALY) & (live["platform"] == "pc_web") & (
        live["marketplace"] == HOSTILE)
    live.loc[anomalous, "views"] = 1500.0
    live["revenue"] = live["views"] * 0.3
    for m in ("views", "revenue"):
        live[f"{m}anomalymetricvalue"] = live[m].where(anomalous)
        live[f"{m}groupscore"] = pd.Series(97.5, index=live.index).where(anomalous)
        live[f"is{m}anomaly"] = anomalous
    return live


def contributions_frame() -> pd.DataFrame:
    rows = [(m, d, v, 100.0) for m in ("views", "Revenue")
            for d, v in (("platform", "pc_web"), ("Marketplace", HOSTILE))]
    frame = pd.DataFrame(rows, columns=["metricname", "dimensionname", "dimensionvalue",
                                        "valuecontribution"])
    frame["timestamp"] = ANOMALY
    frame["event_time"] = pd.Timestamp(ANOMALY)
    return frame


def groups() -> list[dict]:
    epoch = calendar.timegm(pd.Timestamp(ANOMALY).timetuple())
    group = {"id": "g-1", "measure": "views", "start_epoch": epoch, "end_epoch": epoch,
             "score": 97.5, "series": {"s": {"combo": ["pc_web", HOSTILE], "epochs": [epoch],
                                             "values": [1500.0], "deviation": 100.0,
                                             "severity": 97.5}}}
    return [describe_group(group, ["platform", "Marketplace"], [])]


def scores_frame(live: pd.DataFrame) -> pd.DataFrame:
    """--scores-out rows for the last day (original column case)."""
    last = live[live["event_time"] >= live["event_time"].max().normalize()]
    parts = []
    for m, name in (("views", "views"), ("revenue", "Revenue")):
        parts.append(pd.DataFrame({
            "timestamp": last["timestamp"], "metric": name, "platform": last["platform"],
            "Marketplace": last["marketplace"], "value": last[m], "expected": last[m],
            "lower": last[m] - 10, "upper": last[m] + 10, "severity": 0.0}))
    return pd.concat(parts, ignore_index=True)


def payload(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="l4m-data">(.*?)</script>', page,
                      re.DOTALL)
    return json.loads(block.group(1))


class Controls(HTMLParser):
    """Collects the dimension selects' options and the date inputs."""

    def __init__(self):
        super().__init__()
        self.options: dict[str, list] = {}
        self.dates: dict[str, str] = {}
        self._select = self._option = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "select":
            self._select = self.options.setdefault(attrs["data-dim"], [])
        elif tag == "option" and self._select is not None:
            self._option = ["", "selected" in attrs]
            self._select.append(self._option)
        elif tag == "input" and attrs.get("type") == "date":
            self.dates[attrs["id"]] = attrs["value"]

    def handle_data(self, data):
        if self._option is not None:
            self._option[0] += data

    def handle_endtag(self, tag):
        if tag == "option":
            self._option = None
        elif tag == "select":
            self._select = None


def test_hostile_values_are_escaped(spec):
    page = render_dashboard(spec, live_frame(), contributions_frame(), groups(),
                            title="<b>shop</b>")
    assert HOSTILE not in page
    assert "<b>shop</b>" not in page and "&lt;b&gt;shop&lt;/b&gt;" in page
    assert len(re.findall(r"<script\b", page)) == len(re.findall(r"</script>", page)) == 4
    data = payload(page)
    assert data["groups"][0]["contrib"][1] == ["Marketplace", [[HOSTILE, 100.0]]]
    assert data["contrib"][0][ANOMALY][1][1] == [[HOSTILE, 100.0]]


def test_filters_list_every_value(spec):
    controls = Controls()
    controls.feed(render_dashboard(spec, live_frame(), contributions_frame(), groups()))
    assert controls.options == {
        "0": [[v, True] for v in sorted(PLATFORMS)],
        "1": [[v, True] for v in sorted(MARKETS)],
    }
    assert controls.dates == {"from": "2021-01-01", "to": "2021-01-03"}


def test_anomalous_intervals_marked(spec):
    data = payload(render_dashboard(spec, live_frame(), contributions_frame(), groups()))
    assert data["measures"] == ["views", "Revenue"]
    assert len(data["times"]) == 72 and len(data["t"]) == 72 * 6
    for k in (0, 1):
        marked = [i for i, s in enumerate(data["s"][k]) if s is not None]
        assert len(marked) == 1 and data["s"][k][marked[0]] == 97.5
        assert data["times"][data["t"][marked[0]]] == ANOMALY
        assert [data["d"][0][marked[0]], data["d"][1][marked[0]]] == [1, 0]  # pc_web, HOSTILE
        assert [dim for dim, _ in data["contrib"][k][ANOMALY]] == ["platform", "Marketplace"]
    group = data["groups"][0]
    assert (group["start"], group["end"], group["measure"], group["score"], group["series"]) == (
        ANOMALY, ANOMALY, "views", 97.5, 1)


def test_rows_summed_per_interval_and_combination(spec):
    live = live_frame(days=1)
    late = live.assign(event_time=live["event_time"] + pd.Timedelta(minutes=30))
    data = payload(render_dashboard(spec, pd.concat([live, late]), contributions_frame(), []))
    assert len(data["times"]) == 24 and len(data["t"]) == 24 * 6
    assert sum(data["m"][0]) == 2 * live["views"].sum()


def test_expected_band_only_with_scores(spec):
    live = live_frame()
    page = render_dashboard(spec, live, contributions_frame(), groups())
    assert payload(page)["band"] is False and "No expected band" in page
    page = render_dashboard(spec, live, contributions_frame(), groups(),
                            scores=scores_frame(live))
    data = payload(page)
    assert data["band"] is True and "No expected band" not in page
    first_scored = 48 * 6
    assert all(v is None for v in data["lo"][1][:first_scored])
    assert data["lo"][1][first_scored] == pytest.approx(data["m"][1][first_scored] - 10)
    assert data["hi"][0][first_scored] == pytest.approx(data["m"][0][first_scored] + 10)


def test_data_is_capped_to_the_latest_intervals(spec):
    page = render_dashboard(spec, live_frame(), contributions_frame(), groups(), max_rows=60)
    data = payload(page)
    assert len(data["t"]) == 60 and data["times"][0] == "2021-01-03 14:00:00"
    assert "Data capped at 60 rows: showing the latest 60 of 432 series-intervals" in page


def test_empty_data_renders(spec):
    page = render_dashboard(spec, live_frame().iloc[:0], contributions_frame().iloc[:0], [])
    assert payload(page)["times"] == [] and ", no data" in page


def test_write_and_read(tmp_path):
    write_dashboard(f"file://{tmp_path}/a/dashboard.html", "<p>one</p>")
    write_dashboard(tmp_path / "a" / "dashboard.html", "<p>two</p>")
    assert (tmp_path / "a" / "dashboard.html").read_text() == "<p>two</p>"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["dashboard.html"]
    with pytest.raises(ValueError, match="only local paths and file:// URLs"):
        write_dashboard("s3://bucket/dashboard.html", "x")
    assert read_groups(f"file://{tmp_path}/missing") == []
    (tmp_path / "anomalyGroups.jsonl").write_text(
        "".join(json.dumps(g) + "\n" for g in groups() * 2))
    assert read_groups(tmp_path) == groups() * 2


def test_operator(tmp_path, monkeypatch):
    calls = []

    class FakeCatalogHook:
        def __init__(self, catalog_path):
            calls.append(catalog_path)

        def get_dataset(self, spec, name):
            return {"live": live_frame(), "contributions": contributions_frame()}[name]

    monkeypatch.setitem(sys.modules, "l4m.hooks.catalog",
                        types.SimpleNamespace(LocalCatalogHook=FakeCatalogHook))
    (tmp_path / "definition.json").write_text(json.dumps(definition(tmp_path)))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "anomalyGroups.jsonl").write_text(json.dumps(groups()[0]) + "\n")
    op = LocalDashboardOperator(task_id="dashboard", definition=str(tmp_path / "definition.json"))
    assert set(op.template_fields) == {"definition", "catalog_path", "dashboard_path"}
    written = op.execute({})
    root = os.path.abspath(os.environ["L4M_DATA_ROOT"])
    assert written == f"file://{root}/shop/dashboard.html"
    assert calls[0].endswith("/shop/catalog.duckdb")
    assert payload(Path(written.removeprefix("file://")).read_text())["groups"][0]["id"] == "g-1"

    shutil.rmtree(tmp_path / "results")
    op = LocalDashboardOperator(task_id="dashboard2", definition=f"file://{tmp_path}/definition.json",
                                catalog_path=str(tmp_path / "c.duckdb"),
                                dashboard_path=str(tmp_path / "out" / "d.html"))
    assert op.execute({}) == str(tmp_path / "out" / "d.html")
    assert calls[1] == str(tmp_path / "c.duckdb")
    assert payload((tmp_path / "out" / "d.html").read_text())["groups"] == []


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium; fail with the install command when it is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("the dashboard browser test needs Chromium: run `apt-get install -y chromium` "
                    "(Debian), or set L4M_SKIP_BROWSER=1 to skip it")
    return subprocess.run(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", *args],
        capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.skipif(os.environ.get("L4M_SKIP_BROWSER") == "1", reason="L4M_SKIP_BROWSER=1")
def test_page_renders_in_headless_chromium(spec, tmp_path):
    live = live_frame(days=7)
    page = render_dashboard(spec, live, contributions_frame(), groups(), scores=scores_frame(live))
    path = tmp_path / "dashboard.html"
    write_dashboard(path, page)
    profile = f"--user-data-dir={tmp_path / 'profile'}"

    run = chromium(profile, "--dump-dom", path.as_uri())
    dom = run.stdout
    assert run.returncode == 0, run.stderr
    assert "Uncaught" not in run.stderr, run.stderr
    errors = re.search(r'<html[^>]*data-errors="([^"]*)"', dom)
    assert errors is None, f"JavaScript errors: {errors.group(1)}"
    assert re.search(r'<body[^>]*data-rendered="true"', dom), "the charts were not drawn"
    assert re.search(r'<body[^>]*data-plots="2"', dom)
    assert len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)) == 2
    assert dom.count('class="main-svg"') >= 2
    assert "<img" not in dom and "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "1 of 1 groups in the date range" in dom

    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</body>", "<script>undefinedCall();</script></body>"))
    dom = chromium(profile, "--dump-dom", broken.as_uri()).stdout
    assert re.search(r'<html[^>]*data-errors="[^"]*undefinedCall', dom), "errors go unnoticed"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    run = chromium(profile, "--window-size=1400,2000", f"--screenshot={shot}", path.as_uri())
    assert run.returncode == 0, run.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
