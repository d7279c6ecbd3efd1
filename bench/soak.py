"""Load and soak: a PT5M detector of N metrics through the scheduled detect path, one day.

    .venv/bin/python bench/soak.py [--metrics 50000] [--intervals 288] [--history-days 2]
        [--keep-versions N] [--fresh]
        [--work out/soak] [--results bench/results/soak]

1. **Setup** (untimed): a PT5M detector definition with ``file://`` storage under
   ``--work``, N metrics = 2 measures (``views`` SUM, ``revenue`` SUM) × N/2 dimension
   combinations (``region`` × ``store``), ``--history-days`` of clean history (the cold
   start at PT5M is 300 observed intervals: ``ModelParams.warmup_intervals``), then
   ``DetectorHook.create_detector`` and ``activate_detector`` (learns the history and
   saves the first state version), as the setup DAG does.
2. **Soak**: for each of ``--intervals`` consecutive intervals, the interval's input
   file is written (untimed: the data "arrives"), then, as ``DetectAnomaliesOperator``
   does, a hook is made from the definition file and ``detect_interval`` runs (load the
   newest state version before the interval, read, score, write results, consolidate
   the anomaly groups, save a new state version). Per interval: wall seconds (and per
   phase), RSS after the interval, peak RSS during it (the kernel's high-water mark is
   reset before each interval, then ``measure.PeakRSS``), bytes on disk of the results
   and of the state, the 1-minute load average.
3. **Summary**: median seconds over intervals 10–30 and over the last 21 (268–288),
   least-squares slopes of seconds and RSS against the interval number (from interval
   10), and a FLAT/GROWING verdict: GROWING when the late median exceeds the early one,
   or the fitted line rises over intervals 10..N, by more than ``--time-tolerance`` of
   the early median (seconds) or ``--rss-tolerance`` (RSS). Disk is reported, not judged
   (results are an archive and grow by design; state grows unless versions are pruned).

Everything runs in this one process (a leak across intervals shows as RSS growth);
``--fresh`` runs each interval in a new process instead, as Airflow runs each task
(then RSS is that task's own). Writes ``soak.json`` (machine, command, summary,
per-interval rows) and ``soak.csv`` (per-interval rows) under ``--results``.

``--keep-versions N`` is passed to ``DetectorHook(keep_versions=N)`` (default: the hook's
own default, ``KEEP_VERSIONS``; 0 keeps every version). Keeping every version adds a
full state version per interval (≈ 15.6 KB per metric at PT5M), so the run refuses to
start when the projected state does not fit on the disk.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import PeakRSS, run_fresh

REPO = Path(__file__).resolve().parent.parent
INTERVAL = 300                                     # PT5M
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)   # a Monday: history starts here
REGIONS = 25
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
WORK_MARKER = "soak-work.json"                     # --work is only wiped when it has this
EARLY = (10, 30)                                   # the "from interval 10"
WINDOW = EARLY[1] - EARLY[0] + 1                   # 21 intervals per median window
PHASES = ("load_state", "list_versions", "read_input", "matrix", "detect", "write_results",
          "consolidate_groups", "save_state", "prune_versions")
MIB = 2**20


def log(msg: str, t0: float = time.perf_counter()) -> None:
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)


# --------------------------------------------------------------------------- data


class Panel:
    """N/2 dimension combinations with a daily and weekly cycle, gamma-Poisson noise,
    revenue = views × price with its own noise, and injected anomalies in the soak window."""

    def __init__(self, combos: int, seed: int, soak_start: int, intervals: int):
        rng = np.random.default_rng([seed, 0])
        self.combos, self.seed = combos, seed
        idx = np.arange(combos)
        self.region = np.char.add("r", np.char.zfill((idx % REGIONS).astype(str), 2))
        self.store = np.char.add("s", np.char.zfill(idx.astype(str), 6))
        self.level = rng.lognormal(np.log(40.0), 1.0, combos)          # views per 5 minutes
        self.amp = rng.uniform(0.3, 0.8, combos)
        region_shift = rng.uniform(-3, 3, REGIONS)[idx % REGIONS]
        self.peak = rng.uniform(11, 20, combos) + region_shift         # hour of day (UTC)
        self.weekend = rng.uniform(0.75, 1.25, REGIONS)[idx % REGIONS]
        self.cv = rng.uniform(0.03, 0.10, combos)
        self.price = rng.uniform(0.5, 5.0, combos)
        self.soak_start, self.soak_intervals = soak_start, intervals
        self.events = self._events(np.random.default_rng([seed, 1]), intervals)

    def _events(self, rng: np.random.Generator, intervals: int) -> list[tuple]:
        """(first, last, combos, factor, measure) of the injected anomalies, soak-relative."""
        events = []
        for i in range(intervals):
            for _ in range(rng.poisson(2.0)):          # single-store spikes and dips
                factor = rng.uniform(3, 6) if rng.random() < 0.6 else rng.uniform(0.0, 0.3)
                events.append((i, i + int(rng.integers(0, 6)),
                               np.array([rng.integers(self.combos)]), factor, "both"))
            if rng.random() < 1 / 96:                  # a regional incident every ~8 hours
                region = int(rng.integers(REGIONS))
                events.append((i, i + int(rng.integers(1, 6)),
                               np.flatnonzero(np.arange(self.combos) % REGIONS == region),
                               rng.uniform(0.4, 0.7), "both"))
            for _ in range(rng.poisson(0.5)):          # price glitches: revenue only
                events.append((i, i + int(rng.integers(0, 4)),
                               np.array([rng.integers(self.combos)]), rng.uniform(2, 3),
                               "revenue"))
        return events

    def values(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """views, revenue of every combination for the interval starting at ``epoch``."""
        rng = np.random.default_rng([self.seed, 2, epoch // INTERVAL])
        when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
        hour = when.hour + when.minute / 60
        daily = np.exp(self.amp * np.cos(2 * np.pi * (hour - self.peak) / 24))
        weekly = self.weekend if when.weekday() >= 5 else 1.0
        mean = self.level * daily * weekly
        shape = 1 / self.cv**2
        views = rng.poisson(mean * rng.gamma(shape, 1 / shape)).astype(np.float64)
        revenue = views * self.price * rng.lognormal(0, 0.04, self.combos)
        i = (epoch - self.soak_start) // INTERVAL
        if 0 <= i < self.soak_intervals:
            for first, last, which, factor, measure in self.events:
                if first <= i <= last:
                    if measure == "both":
                        views[which] = np.round(views[which] * factor)
                        revenue[which] = revenue[which] * factor
                    else:
                        revenue[which] = revenue[which] * factor
        return views, np.round(revenue, 2)

    def frame(self, epochs: list[int]) -> pd.DataFrame:
        parts = []
        for epoch in epochs:
            views, revenue = self.values(epoch)
            stamp = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(TS_FORMAT)
            parts.append(pd.DataFrame({"timestamp": stamp, "region": self.region,
                                       "store": self.store, "views": views,
                                       "revenue": revenue}))
        return pd.concat(parts, ignore_index=True)

    def write(self, path: Path, epochs: list[int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        self.frame(epochs).to_csv(tmp, index=False, lineterminator="\n", float_format="%.2f")
        os.replace(tmp, path)


def definition(work: Path, name: str, soak_start: int) -> dict:
    base = f"file://{work}"
    return {
        "AnomalyDetectorName": name,
        "AnomalyDetectorDescription": "bench/soak.py: PT5M load and soak",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT5M"},
        "MetricSet": {
            "MetricSetName": name,
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"},
                           {"MetricName": "revenue", "AggregationFunction": "SUM"}],
            "DimensionList": ["region", "store"],
            "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "Timezone": "UTC",
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": [f"{base}/input/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
                "HistoricalDataPathList": [f"{base}/input/history/"],
                "FileFormatDescriptor": {"CsvFormatDescriptor": {
                    "FileCompression": "NONE", "Charset": "UTF-8", "ContainsHeader": True,
                    "Delimiter": ",", "QuoteSymbol": "\""}}}},
        },
        "Alerts": [],
        "Storage": {"ResultsPath": f"{base}/results", "StatePath": f"{base}/state"},
        "Schedule": {"StartDate": dt.datetime.fromtimestamp(soak_start, dt.timezone.utc)
                     .strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def live_file(work: Path, epoch: int) -> Path:
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return work / "input" / "live" / when.strftime("%Y%m%d/%H%M/%Y%m%d_%H%M%S.csv")


# --------------------------------------------------------------------------- measurement


def tree_bytes(folder: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under ``folder``."""
    total = files = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                total += e.stat(follow_symlinks=False).st_size
                files += 1
    return total, files


def reset_peak_rss() -> None:
    """Reset the kernel's RSS high-water mark (and so ``ru_maxrss``) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:   # not Linux, or not permitted: the peak then is the process's so far
        pass


class Phases:
    """Wall seconds per phase of ``detect_interval``, by wrapping the functions it calls
    (timing only)."""

    def __init__(self):
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(PHASES, 0)

    def reset(self) -> None:
        for k in PHASES:
            self.seconds[k], self.calls[k] = 0.0, 0

    def _wrap(self, owner, attr: str, phase: str) -> None:
        inner = getattr(owner, attr)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t0
                self.calls[phase] += 1

        timed.__wrapped__ = inner
        setattr(owner, attr, timed)

    def install(self) -> None:
        from l4m import runner
        from l4m.engine import Detector
        from l4m.hooks.detector import DetectorHook
        from l4m.io import results, state_store

        self._wrap(DetectorHook, "_load_before", "load_state")
        self._wrap(DetectorHook, "_versions", "list_versions")
        self._wrap(DetectorHook, "_read_interval", "read_input")
        self._wrap(Detector, "matrix", "matrix")
        self._wrap(Detector, "detect", "detect")
        self._wrap(runner, "write_interval_results", "write_results")
        self._wrap(results, "consolidate_groups", "consolidate_groups")
        self._wrap(DetectorHook, "_save_version", "save_state")
        self._wrap(state_store, "prune_versions", "prune_versions")


def detect_one(definition_path: str, interval_start: str, keep_versions: int,
               phases: Phases | None = None) -> dict:
    """One scheduled run, as ``DetectAnomaliesOperator.execute`` does it; its figures."""
    from l4m.hooks.detector import DetectorHook

    if phases is None:                                 # --fresh: a new process per interval
        phases = Phases()
        phases.install()
    phases.reset()
    reset_peak_rss()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        hook = DetectorHook.from_file(definition_path, aws_conn_id=None,
                                      keep_versions=keep_versions or None)
        marker = hook.detect_interval(interval_start)
        seconds = time.perf_counter() - t0
    row = {"seconds": seconds, "rss_mib": psutil.Process().memory_info().rss / MIB,
           "peak_rss_mib": mem.peak_mb,
           "metrics_scored": marker["MetricsScored"],
           "anomalies": sum(marker["Anomalies"].values()),
           "groups_touched": marker["AnomalyGroups"]}
    for k in PHASES:
        row[f"{k}_s"] = phases.seconds[k]
    row["list_versions_calls"] = phases.calls["list_versions"]
    row["other_s"] = seconds - sum(phases.seconds[k] for k in PHASES if k != "list_versions")
    return row


# --------------------------------------------------------------------------- summary


def fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y against x."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def summarise(rows: list[dict], time_tol: float, rss_tol: float) -> dict:
    n = len(rows)
    x = np.array([r["interval"] for r in rows], dtype=float)
    if n >= EARLY[1] + WINDOW:
        early = (EARLY[0], EARLY[1])
    else:                                              # short run: two thirds of what is left
        width = max(1, (n - EARLY[0] + 1) // 3)
        early = (min(EARLY[0], n), min(EARLY[0], n) + width - 1)
    width = early[1] - early[0] + 1
    late = (n - width + 1, n)
    out: dict = {"intervals": n, "early_window": list(early), "late_window": list(late),
                 "time_tolerance": time_tol, "rss_tolerance": rss_tol}
    growing = []
    steady = x >= early[0]
    for key, tol in (("seconds", time_tol), ("rss_mib", rss_tol), ("peak_rss_mib", rss_tol)):
        y = np.array([r[key] for r in rows], dtype=float)
        e = float(np.median(y[(x >= early[0]) & (x <= early[1])]))
        lt = float(np.median(y[(x >= late[0]) & (x <= late[1])]))
        slope, _ = fit(x[steady], y[steady]) if steady.sum() > 1 else (0.0, e)
        rise = slope * (x[-1] - early[0])
        out[key] = {"early_median": e, "late_median": lt, "late_over_early": lt / e if e else None,
                    "slope_per_100_intervals": 100 * slope, "fitted_rise": rise,
                    "fitted_rise_share": rise / e if e else None,
                    "at_10": next((r[key] for r in rows if r["interval"] == early[0]), None),
                    "at_last": rows[-1][key]}
        if lt > e * (1 + tol) or rise > e * tol:
            growing.append(key)
    for key in ("results_bytes", "state_bytes"):
        y = np.array([r[key] for r in rows], dtype=float)
        slope, _ = fit(x[steady], y[steady]) if steady.sum() > 1 else (0.0, 0.0)
        out[key] = {"at_10": next((r[key] for r in rows if r["interval"] == early[0]), None),
                    "at_last": rows[-1][key], "bytes_per_interval": slope}
    phases = {}
    for k in PHASES:
        y = np.array([r[f"{k}_s"] for r in rows], dtype=float)
        phases[k] = {"early_median": float(np.median(y[(x >= early[0]) & (x <= early[1])])),
                     "late_median": float(np.median(y[(x >= late[0]) & (x <= late[1])]))}
    out["phases_s"] = phases
    out["load_average_1min"] = {"min": min(r["load_1m"] for r in rows),
                                "median": statistics.median(r["load_1m"] for r in rows),
                                "max": max(r["load_1m"] for r in rows)}
    out["growing"] = growing
    out["verdict"] = "GROWING" if growing else "FLAT"
    return out


def machine() -> dict:
    import importlib.metadata as md
    import platform

    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                    .splitlines() if ln.startswith("model name")), cpu)
    versions = {"python": platform.python_version()}
    for name in ("numpy", "pandas", "apache-airflow", "fsspec", "universal-pathlib",
                 "airflow-provider-l4m"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "versions": versions}


# --------------------------------------------------------------------------- run


def prepare_work(work: Path) -> None:
    if work.exists():
        if not (work / WORK_MARKER).exists() and any(work.iterdir()):
            raise SystemExit(f"{work} exists and was not made by bench/soak.py; "
                             "choose another --work")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / WORK_MARKER).write_text(json.dumps({"by": "bench/soak.py"}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics", type=int, default=50_000, help="2 measures × metrics/2 combos")
    ap.add_argument("--intervals", type=int, default=288, help="consecutive PT5M intervals")
    ap.add_argument("--history-days", type=float, default=2.0,
                    help="history learned at activation (≥ 2: see the warning below)")
    ap.add_argument("--keep-versions", type=int, default=None,
                    help="state versions the hook keeps after each save (default: the "
                         "hook's KEEP_VERSIONS; 0 = keep all)")
    ap.add_argument("--fresh", action="store_true", help="each interval in a new process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(REPO / "out" / "soak"),
                    help="input, state and results (wiped first)")
    ap.add_argument("--results", default=str(REPO / "bench" / "results" / "soak"),
                    help="where soak.json and soak.csv go")
    ap.add_argument("--time-tolerance", type=float, default=0.10)
    ap.add_argument("--rss-tolerance", type=float, default=0.05)
    ap.add_argument("--keep-work", action="store_true", help="leave --work in place afterwards")
    a = ap.parse_args()
    if a.metrics < 2 or a.metrics % 2:
        ap.error("--metrics must be an even number ≥ 2")
    if a.history_days < 2:
        print("warning: under 2 days of history: a metric is scored after 300 observed "
              "intervals (the PT5M cold start) and once its slot of the day has a noise "
              "scale (seen on two days), so early intervals score fewer metrics",
              file=sys.stderr)

    work = Path(a.work).resolve()
    results_dir = Path(a.results).resolve()
    prepare_work(work)
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from l4m.hooks.detector import KEEP_VERSIONS, DetectorHook

    if a.keep_versions is None:
        a.keep_versions = KEEP_VERSIONS

    command = shlex.join([os.path.relpath(sys.executable, REPO)
                          if sys.executable.startswith(str(REPO)) else sys.executable,
                          os.path.relpath(__file__, REPO), *sys.argv[1:]])
    facts = machine()
    log(f"soak: {a.metrics} metrics, {a.intervals} intervals, history {a.history_days} d, "
        f"keep versions {a.keep_versions or 'all'}; {facts['cores']} cores, "
        f"{facts['ram_gib']} GiB, load {os.getloadavg()[0]:.2f}")

    history_intervals = round(a.history_days * 86400 / INTERVAL)
    soak_start = int(START.timestamp()) + history_intervals * INTERVAL
    panel = Panel(a.metrics // 2, a.seed, soak_start, a.intervals)
    t0 = time.perf_counter()
    per_file = 288
    for first in range(0, history_intervals, per_file):
        epochs = [int(START.timestamp()) + (first + k) * INTERVAL
                  for k in range(min(per_file, history_intervals - first))]
        panel.write(work / "input" / "history" / f"part-{first // per_file:03d}.csv", epochs)
    doc = definition(work, "soak", soak_start)
    definition_path = work / "definition.json"
    definition_path.write_text(json.dumps(doc, indent=1))
    log(f"history written: {history_intervals} intervals, "
        f"{tree_bytes(work / 'input' / 'history')[0] / MIB:.0f} MiB "
        f"({time.perf_counter() - t0:.0f} s)")

    t0 = time.perf_counter()
    with PeakRSS() as mem:
        hook = DetectorHook.from_file(str(definition_path), aws_conn_id=None)
        hook.create_detector()
        status = hook.activate_detector()["Status"]
    activation = {"seconds": time.perf_counter() - t0, "peak_rss_mib": mem.peak_mb,
                  "status": status, "history_intervals": history_intervals}
    version_bytes = tree_bytes(work / "state" / "versions")[0]
    log(f"activated ({status}) in {activation['seconds']:.0f} s, peak RSS "
        f"{mem.peak_mb:.0f} MiB; one state version = {version_bytes / MIB:.0f} MiB")
    shutil.rmtree(work / "input" / "history")          # learned: no need to keep it
    free = shutil.disk_usage(work).free
    projected = version_bytes * (a.intervals if not a.keep_versions else a.keep_versions + 1)
    if projected > 0.9 * free:
        raise SystemExit(
            f"the state would need ≈ {projected / 2**30:.0f} GiB ({version_bytes / MIB:.0f} MiB "
            f"per version × {a.intervals} intervals) and {free / 2**30:.0f} GiB are free: "
            "use --keep-versions N or fewer --intervals/--metrics")

    phases = None
    if not a.fresh:
        phases = Phases()
        phases.install()
    rows: list[dict] = []
    rss_start = psutil.Process().memory_info().rss / MIB
    for i in range(1, a.intervals + 1):
        epoch = soak_start + (i - 1) * INTERVAL
        panel.write(live_file(work, epoch), [epoch])
        start = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat()
        if a.fresh:
            row = run_fresh(detect_one, str(definition_path), start, a.keep_versions)
        else:
            row = detect_one(str(definition_path), start, a.keep_versions, phases)
        live_file(work, epoch).unlink()                # keep the input folder small
        results_b, results_n = tree_bytes(work / "results")
        state_b, _ = tree_bytes(work / "state")
        groups = work / "results" / "anomalyGroups.jsonl"
        row = {"interval": i, "interval_start": start, **row,
               "results_bytes": results_b, "results_files": results_n, "state_bytes": state_b,
               "state_versions": len(list((work / "state" / "versions").iterdir())),
               "anomaly_groups_bytes": groups.stat().st_size if groups.exists() else 0,
               "load_1m": os.getloadavg()[0]}
        rows.append(row)
        if i == 1 or i % 10 == 0 or i == a.intervals:
            log(f"interval {i}/{a.intervals}: {row['seconds']:.2f} s, RSS {row['rss_mib']:.0f} "
                f"MiB (peak {row['peak_rss_mib']:.0f}), results {results_b / MIB:.1f} MiB, "
                f"state {state_b / MIB:.0f} MiB, {row['anomalies']} anomalies, "
                f"load {row['load_1m']:.2f}")

    summary = summarise(rows, a.time_tolerance, a.rss_tolerance)
    report = {"command": command, "machine": facts,
              "config": {"metrics": a.metrics, "intervals": a.intervals,
                         "history_days": a.history_days, "keep_versions": a.keep_versions,
                         "fresh_process": a.fresh, "seed": a.seed, "frequency": "PT5M",
                         "injected_events": len(panel.events)},
              "activation": activation, "state_version_bytes": version_bytes,
              "rss_before_first_interval_mib": rss_start, "summary": summary, "rows": rows}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "soak.json").write_text(json.dumps(report, indent=1))
    with (results_dir / "soak.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print_summary(report)
    print(f"per-interval figures: {results_dir / 'soak.csv'}, {results_dir / 'soak.json'}")
    if not a.keep_work:
        shutil.rmtree(work, ignore_errors=True)


def print_summary(report: dict) -> None:
    s = report["summary"]
    e, late = s["early_window"], s["late_window"]
    c = report["config"]
    print(f"\n{c['metrics']} metrics × {s['intervals']} PT5M intervals (state versions kept: "
          f"{c['keep_versions'] or 'all'})")
    print(f"{'':18}{'at ' + str(e[0]):>12}{'median ' + f'{e[0]}–{e[1]}':>16}"
          f"{'median ' + f'{late[0]}–{late[1]}':>18}{'at ' + str(s['intervals']):>12}"
          f"{'slope /100 int.':>17}")
    for key, unit in (("seconds", "s"), ("rss_mib", "MiB"), ("peak_rss_mib", "MiB")):
        f = s[key]
        print(f"{key + ' (' + unit + ')':18}{f['at_10']:12.2f}{f['early_median']:16.2f}"
              f"{f['late_median']:18.2f}{f['at_last']:12.2f}{f['slope_per_100_intervals']:17.3f}")
    for key in ("results_bytes", "state_bytes"):
        f = s[key]
        print(f"{key:18}{f['at_10'] / MIB:11.1f}M{'':34}{f['at_last'] / MIB:11.1f}M"
              f"{f['bytes_per_interval'] / MIB:13.2f} MiB/interval")
    print("phases, median s (early → late): " + ", ".join(
        f"{k} {v['early_median']:.3f}→{v['late_median']:.3f}" for k, v in s["phases_s"].items()
        if v["early_median"] or v["late_median"]))
    la = s["load_average_1min"]
    print(f"load average (1 min) during the soak: {la['min']:.2f}–{la['max']:.2f} "
          f"(median {la['median']:.2f}) on {report['machine']['cores']} cores")
    print(f"VERDICT: {s['verdict']} (GROWING = late median > early median × "
          f"{1 + s['time_tolerance']:.2f} for seconds, × {1 + s['rss_tolerance']:.2f} for RSS, "
          f"or the fitted line rising by more than that over intervals {e[0]}–{s['intervals']})"
          + (f"; growing: {', '.join(s['growing'])}" if s["growing"] else ""))


if __name__ == "__main__":
    main()
