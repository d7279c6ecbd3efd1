"""Side-by-side benchmark: our engine against ADTK, statsforecast MSTL and Prophet.

    .venv/bin/python bench/run_bench.py [--peers adtk,statsforecast,prophet]
        [--seeds 1,2,3] [--days 120] [--prophet-max-series N] [--scale 2000[,20000]]
        [--continuous-metrics 100000] [--shared-dir ../shared]

Steps (``make bench`` runs it with the defaults):

1. datasets: the shared tutorial data (when ``--shared-dir`` has it) and realistic
   synthetic data, one dataset per seed, each as one labelled long CSV;
2. per dataset: our engine (timed in a fresh process, then the seed layout written by
   ``runner.backtest``) and every peer (``bench/peer_driver.py`` in ``.venv-bench``);
3. scoring of every output folder the same way: event P/R/F1 per measure at
   sensitivity 50 (``l4m.evaluation.score_events`` and, when present, the shared
   ``eval_results.py``), best event F1 over sensitivities 10-90, range-based F1, and
   unlabelled flags just after missing rows;
4. throughput of our engine on larger panels (``--scale``) and continuous scoring
   (``bench/continuous.py``);
5. ``bench/results/summary.json`` and ``docs/benchmarks.md``, generated from these
   measurements only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_split import minimal_recursion_seconds, model_seconds
from l4m import runner
from l4m.evaluation import score_events
from l4m.spec import parse_spec_json
from l4m.synth import write_dataset
from measure import PeakRSS, run_fresh
from range_f1 import range_f1

REPO = Path(__file__).resolve().parent.parent
PEER_PYTHON = REPO / ".venv-bench" / "bin" / "python"
ALL_PEERS = ("adtk", "statsforecast", "prophet")
SENSITIVITIES = (10, 30, 50, 70, 90)
HEADLINE_SENS = 50
SPEED_TARGET = 100.0  # the "backtest series/s >= 100x the fastest peer"
WARMUP_DAYS = 35
ENGINE_REPEATS = 3  # our timed backtest on each dataset: median of 3 runs (scale runs: 1)  # warm-up slice of our engine, as measure.py does for the peers
SCORE_DIR = Path("anomalyResults") / "metricValueAnomalyScore"
EVAL_LINE = re.compile(
    r"^(?P<m>\w+): F1=(?P<f1>[\d.]+) P=(?P<p>[\d.]+) R=(?P<r>[\d.na]+) events=(?P<events>\d+) "
    r"found=(?P<found>\d+) false_runs=(?P<false_runs>\d+)"
)


def rel(path: Path | str) -> str:
    """``path`` relative to the repository when inside it (for readable command lines)."""
    absolute = Path(os.path.abspath(path))  # no symlink resolution: keeps .venv/bin/python
    try:
        return str(absolute.relative_to(REPO))
    except ValueError:
        return str(absolute)


def log(msg: str, t0: float = time.perf_counter()) -> None:
    """Progress line with the elapsed time since the start of the run."""
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)


# --------------------------------------------------------------------------- datasets


@dataclass
class Dataset:
    """One benchmark dataset: what our engine reads and the labelled CSV everyone is scored on."""

    name: str
    description: str
    spec_path: Path
    input_path: Path  # read by our engine
    truth_path: Path  # labelled long CSV: dims, timestamp, measures, <m>_label (peers read it)
    measures: list[str]
    dims: list[str]
    realistic: bool


def _spec(path: Path):
    return parse_spec_json(path.read_text(encoding="utf-8"), source=str(path))


def shared_dataset(shared_dir: Path) -> Dataset | None:
    """The shared tutorial data (labels in the same file), or None when it is absent."""
    data = shared_dir / "benchmarks" / "ecommerce_labeled.csv.gz"
    if not data.exists():
        return None
    spec_path = REPO / "dags" / "detectors" / "ecommerce.json"
    spec = _spec(spec_path)
    return Dataset(
        name="tutorial",
        description="shared L4M tutorial data (21 combinations x 2 measures, 1 year hourly)",
        spec_path=spec_path,
        input_path=data,
        truth_path=data,
        measures=list(spec.measure_names),
        dims=list(spec.dimensions),
        realistic=False,
    )


def merge_labels(labels: Path, values: Path, dims: list[str], out: Path) -> None:
    """One labelled CSV: every labelled row with its values (NaN where the row is missing)."""
    as_str = {d: str for d in [*dims, "timestamp"]}
    lab = pd.read_csv(labels, dtype=as_str)
    val = pd.read_csv(values, dtype=as_str)
    lab.merge(val, on=[*dims, "timestamp"], how="left").to_csv(out, index=False)


def synth_dataset(work_dir: Path, seed: int, days: int) -> Dataset:
    """Realistic synthetic data for one seed, generated (or regenerated) under ``work_dir``."""
    root = work_dir / f"realistic-s{seed}"
    paths = write_dataset(root, seed=seed, days=days, patterns="realistic")
    spec = _spec(paths.definition)
    truth = root / "labelled.csv"
    merge_labels(paths.labels, paths.backtest_input, list(spec.dimensions), truth)
    return Dataset(
        name=f"realistic-s{seed}",
        description=f"`l4m synth --patterns realistic --days {days} --seed {seed}`",
        spec_path=paths.definition,
        input_path=paths.backtest_input,
        truth_path=truth,
        measures=list(spec.measure_names),
        dims=list(spec.dimensions),
        realistic=True,
    )


# --------------------------------------------------------------------------- our engine


def engine_split(matrix) -> int:
    """First detected row: 70 % of the intervals with data, exactly as ``runner.backtest``."""
    present = matrix.numbers[~np.all(np.isnan(matrix.values), axis=1)]
    share = runner.BACKTEST_TRAIN_SHARE
    return int(np.searchsorted(matrix.numbers, present[int(len(present) * share)]))


def time_engine(spec, records: pd.DataFrame) -> dict:
    """Time aggregation + learning + detection of a backtest (no file writing)."""
    det = runner.new_detector(spec)
    t0 = time.perf_counter()
    matrix = det.matrix(records)
    t1 = time.perf_counter()
    split = engine_split(matrix)
    det.learn(matrix.rows(slice(0, split)))
    t2 = time.perf_counter()
    # Results are consumed as they come, as l4m backtest writes them (none is held).
    for _ in det.detect_each(matrix.rows(slice(split, None))):
        pass
    t3 = time.perf_counter()
    epoch = int(det.calendar.epoch_seconds(np.array([matrix.numbers[split]]))[0])
    series = matrix.values.shape[1]
    return {
        "series": series,
        "intervals": int(matrix.values.shape[0]),
        "intervals_learned": split,
        "detection_start": str(pd.Timestamp(epoch, unit="s")),
        "matrix_s": t1 - t0,
        "learn_s": t2 - t1,
        "detect_s": t3 - t2,
        "wall_s": t3 - t0,
        "series_per_s": series / (t3 - t0),
        # the peers' work: they are handed the aggregated matrix, untimed
        "engine_series_per_s": series / (t3 - t1),
    }


def cost_probes(spec, records: pd.DataFrame) -> dict:
    """The model's share of detection and the bare day-recursive floor (cost_split.py)."""
    det = runner.new_detector(spec)
    matrix = det.matrix(records)
    return {"model_detect_s": model_seconds(spec, matrix, engine_split(matrix)),
            "bare_recursion_s": minimal_recursion_seconds(matrix.values, det.calendar.per_day)}


def replicate(records: pd.DataFrame, dims: list[str], copies: int) -> pd.DataFrame:
    """``copies`` copies of the records, the last dimension's values renamed per copy.

    The renamed column is built as a categorical from codes (as the reader gives
    dimensions), never as one string per row: the job's peak memory is then the
    engine's, not this copy's.
    """
    last = dims[-1]
    column = records[last].astype("category")
    names = [str(c) for c in column.cat.categories]
    codes = column.cat.codes.to_numpy().astype(np.int64)
    shifted = np.concatenate([np.where(codes < 0, -1, codes + i * len(names))
                              for i in range(copies)])
    out = pd.concat([records.drop(columns=[last])] * copies, ignore_index=True)
    out[last] = pd.Categorical.from_codes(
        shifted, categories=[f"{c}~{i:03d}" for i in range(copies) for c in names])
    return out[list(records.columns)]


def engine_job(spec_path: str, input_path: str, target_series: int = 0,
               repeats: int = 1) -> dict:
    """Fresh-process job: read, warm up, time the backtest; peak RSS of the whole job.

    With ``target_series`` the records are replicated (renamed dimension values) to at
    least that many series before timing; the warm-up always runs on the original data.
    With ``repeats`` > 1 the timed run is repeated and the run of median wall time kept
    (our run on a 42-series panel takes well under a second, so one run is noisy).
    """
    with PeakRSS() as mem:
        spec = _spec(Path(spec_path))
        records = runner.read_input(spec, input_path).records
        t0 = time.perf_counter()
        cutoff = records["timestamp"].min() + pd.Timedelta(days=WARMUP_DAYS)
        time_engine(spec, records[records["timestamp"] < cutoff])
        warmup_s = time.perf_counter() - t0
        copies = 1
        if target_series:
            base = len(records[list(spec.dimensions)].drop_duplicates()) * len(spec.metrics)
            copies = -(-target_series // base)
            records = replicate(records, list(spec.dimensions), copies)
        runs = sorted((time_engine(spec, records) for _ in range(repeats)),
                      key=lambda r: r["wall_s"])
        result = runs[len(runs) // 2]
        if not target_series:
            result.update(cost_probes(spec, records))
    result.update(warmup_s=warmup_s, peak_rss_mb=mem.peak_mb, copies=copies, repeats=repeats)
    return result


def write_engine_layout(ds: Dataset, out: Path) -> dict:
    """Backtest through the product path (``runner.backtest``, sensitivity 0) into ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    spec = _spec(ds.spec_path)
    data = runner.read_input(spec, str(ds.input_path))
    return runner.backtest(spec, data, out, sensitivity=0).as_dict()


# --------------------------------------------------------------------------- peers


def run_peer(ds: Dataset, peer: str, out: Path, start: str, max_series: int | None) -> dict:
    """Run ``bench/peer_driver.py`` for one peer in the peers' venv; return its run facts."""
    cmd = [
        rel(PEER_PYTHON), "bench/peer_driver.py", "--peer", peer, "--data", rel(ds.truth_path),
        "--measures", ",".join(ds.measures), "--dims", ",".join(ds.dims),
        "--detection-start", start, "--out", rel(out),
    ]
    if peer == "prophet" and max_series:
        cmd += ["--max-series", str(max_series)]
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:], "command": shlex.join(cmd)}
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    facts["command"] = shlex.join(cmd)
    return facts


# --------------------------------------------------------------------------- scoring


def load_truth(ds: Dataset) -> pd.DataFrame:
    """Labelled rows: dims (str), timestamp (naive UTC), measures (NaN = missing), labels."""
    truth = pd.read_csv(ds.truth_path, dtype={d: str for d in ds.dims})
    truth["timestamp"] = pd.to_datetime(truth["timestamp"])
    return truth.sort_values([*ds.dims, "timestamp"]).reset_index(drop=True)


def load_layout(folder: Path, ds: Dataset) -> pd.DataFrame:
    """Scores written in the seed layout: dims, timestamp, one ``<m>`` score column each."""
    files = sorted((folder / SCORE_DIR).glob("*.csv"))
    cols = [*ds.dims, "timestamp", *ds.measures]
    if not files:
        return pd.DataFrame(columns=cols)
    table = pd.concat([pd.read_csv(f, dtype={d: str for d in ds.dims}) for f in files])
    table["timestamp"] = pd.to_datetime(table["Timestamp"])
    for m in ds.measures:  # a score counts only with a value, as eval_results.py reads it
        table[m] = table[f"{m}GroupScore"].where(table[f"{m}AnomalyMetricValue"].notna())
    return table[cols].reset_index(drop=True)


def restrict(truth: pd.DataFrame, dims: list[str], combos: list[list[str]] | None):
    """Rows of the given dimension combinations only (all rows when ``combos`` is None)."""
    if combos is None:
        return truth
    keep = pd.DataFrame(combos, columns=dims)
    return truth.merge(keep, on=dims, how="inner")


def event_score(window, flags, ds: Dataset, m: str, sens: float, start) -> dict:
    """Event P/R/F1 of measure ``m`` at ``sens`` (``l4m.evaluation.score_events``)."""
    hit = flags.loc[flags[m].fillna(-1) >= sens, [*ds.dims, "timestamp"]]
    s = score_events(window, hit, ds.dims, f"{m}_label", start=start)
    return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "events": s.events,
            "found": s.found, "flagged_runs": s.flagged_runs, "false_runs": s.false_runs}


def range_score(window, flags, ds: Dataset, m: str, sens: float) -> dict:
    """Range-based P/R/F1 (bench/range_f1.py) of measure ``m`` at ``sens``."""
    keys = [*ds.dims, "timestamp"]
    merged = window[[*keys, f"{m}_label"]].merge(flags[[*keys, m]], on=keys, how="left")
    merged["_flag"] = (merged[m].fillna(-1) >= sens).astype(int)
    grid = merged.set_index(["timestamp", *ds.dims])[[f"{m}_label", "_flag"]].unstack(ds.dims)
    grid = grid.fillna(0).sort_index()
    return range_f1(grid[f"{m}_label"].to_numpy(int), grid["_flag"].to_numpy(int))


def score_folder(truth, layout, ds: Dataset, start, combos=None) -> dict:
    """Per measure: event score at every sensitivity, best F1, range score at 50."""
    window = restrict(truth[truth["timestamp"] >= start], ds.dims, combos)
    flags = restrict(layout, ds.dims, combos)
    out = {}
    for m in ds.measures:
        by_sens = {s: event_score(window, flags, ds, m, s, start) for s in SENSITIVITIES}
        best = max(SENSITIVITIES, key=lambda s: by_sens[s]["f1"])
        out[m] = {
            "event": by_sens[HEADLINE_SENS],
            "event_by_sensitivity": {str(s): round(v["f1"], 4) for s, v in by_sens.items()},
            "best_f1": by_sens[best]["f1"],
            "best_sensitivity": best,
            "range": range_score(window, flags, ds, m, HEADLINE_SENS),
        }
    return out


def after_gap_flags(truth, layout, ds: Dataset, start) -> dict:
    """Per measure: unlabelled flags (>= 50) in the interval right after a missing row.

    A row is "after a gap" when the same series has no value one interval earlier.
    Returns the number of such rows in the scored window, how many were flagged, and how
    many of those flags are not labelled anomalous.
    """
    keys = [*ds.dims, "timestamp"]
    out = {}
    for m in ds.measures:
        t = truth[[*keys, m, f"{m}_label"]]
        grp = t.groupby(ds.dims, sort=False)
        prev_ts = grp["timestamp"].shift(1)
        prev_missing = grp[m].shift(1).isna() | (t["timestamp"] - prev_ts != pd.Timedelta(hours=1))
        after = t[prev_missing & (grp.cumcount() > 0) & t[m].notna() & (t["timestamp"] >= start)]
        hit = after.merge(layout[[*keys, m]].rename(columns={m: "_s"}), on=keys, how="left")
        flagged = hit["_s"].fillna(-1) >= HEADLINE_SENS
        out[m] = {
            "rows_after_gap": len(after),
            "flagged": int(flagged.sum()),
            "flagged_unlabelled": int((flagged & (hit[f"{m}_label"] == 0)).sum()),
        }
    return out


def official_eval(shared_dir: Path, ds: Dataset, folder: Path, start: str, combos) -> dict:
    """Run the shared ``eval_results.py`` at sensitivity 50; parse its lines."""
    tool = shared_dir / "tools" / "eval_results.py"
    if not tool.exists():
        return {"skipped": f"{tool} not found"}
    truth = ds.truth_path
    if combos is not None:  # the peer ran on a subset: score it on that subset only
        truth = folder / "truth_subset.csv"
        cols = pd.read_csv(ds.truth_path, dtype={d: str for d in ds.dims})
        restrict(cols, ds.dims, combos).to_csv(truth, index=False)
    cmd = [
        rel(sys.executable), rel(tool), rel(truth), rel(folder), ",".join(ds.measures),
        ",".join(ds.dims), "timestamp", "--after", start, "--sens", str(HEADLINE_SENS),
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    result: dict = {"command": shlex.join(cmd)}
    if done.returncode:
        result["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return result
    for line in done.stdout.splitlines():
        match = EVAL_LINE.match(line)
        if match:
            g = match.groupdict()
            result[g["m"]] = {"f1": float(g["f1"]), "precision": float(g["p"]),
                              "recall": float(g["r"]), "events": int(g["events"]),
                              "found": int(g["found"]), "false_runs": int(g["false_runs"])}
    return result


def headline_f1(entry: dict, m: str) -> float:
    """Event F1 at 50: the shared eval_results.py figure when it ran, else score_events'."""
    official = entry.get("official", {}).get(m)
    return official["f1"] if official else entry["scores"][m]["event"]["f1"]


# --------------------------------------------------------------------------- one dataset


def bench_dataset(ds: Dataset, args, results_dir: Path) -> dict:
    """Run and score our engine and every peer on ``ds``."""
    log(f"{ds.name}: our engine (timed in a fresh process)")
    timing = run_fresh(engine_job, str(ds.spec_path), str(ds.input_path), 0, ENGINE_REPEATS)
    ours_dir = results_dir / ds.name / "l4m"
    backtest = write_engine_layout(ds, ours_dir)
    start_str = timing["detection_start"]
    start = pd.Timestamp(start_str)
    detectors = {"l4m": {"speed": timing, "backtest": backtest, "folder": ours_dir,
                         "combos": None}}
    for peer in args.peers:
        log(f"{ds.name}: {peer}")
        facts = run_peer(ds, peer, results_dir / ds.name / peer, start_str,
                         args.prophet_max_series)
        if "error" in facts:
            log(f"{ds.name}: {peer} FAILED: {facts['error']}")
            detectors[peer] = {"error": facts["error"], "command": facts["command"]}
            continue
        subset = facts["combos"] if facts["series"] < facts["series_total"] else None
        detectors[peer] = {"speed": facts, "folder": results_dir / ds.name / peer,
                           "combos": subset, "command": facts["command"]}
    log(f"{ds.name}: scoring")
    truth = load_truth(ds)
    for name, entry in detectors.items():
        if "error" in entry:
            continue
        layout = load_layout(entry["folder"], ds)
        entry["scores"] = score_folder(truth, layout, ds, start, entry["combos"])
        if ds.realistic:
            entry["after_gap"] = after_gap_flags(truth, layout, ds, start)
        if args.shared_dir.exists():
            entry["official"] = official_eval(args.shared_dir, ds, entry["folder"], start_str,
                                              entry["combos"])
        if entry["combos"] is not None:  # our engine scored on the peer's subset too
            ours = detectors["l4m"]
            ours.setdefault("subset_scores", {})[name] = score_folder(
                truth, load_layout(ours["folder"], ds), ds, start, entry["combos"])
        entry["folder"] = rel(entry["folder"])
    return {"description": ds.description, "realistic": ds.realistic,
            "truth": rel(ds.truth_path),
            "input": rel(ds.input_path), "spec": rel(ds.spec_path),
            "detection_start": start_str, "detectors": detectors}


# --------------------------------------------------------------------------- scale, continuous


def bench_scale(ds: Dataset, targets: list[int]) -> list[dict]:
    """Our engine on ``ds`` replicated to each target number of series (fresh process each)."""
    rows = []
    for n in targets:
        log(f"scale: our engine on {ds.name} replicated to >= {n} series")
        try:
            rows.append(run_fresh(engine_job, str(ds.spec_path), str(ds.input_path), n))
        except RuntimeError as exc:
            rows.append({"target_series": n, "error": str(exc).splitlines()[-1]})
            continue
        rows[-1].update(target_series=n, dataset=ds.name)
    return rows


def bench_continuous(metrics: int) -> dict:
    """``bench/continuous.py --metrics N`` in a subprocess; its JSON line, or why it was skipped."""
    script = REPO / "bench" / "continuous.py"
    cmd = [rel(sys.executable), "bench/continuous.py", "--metrics", str(metrics)]
    if not metrics:
        return {"skipped": "--continuous-metrics 0"}
    if not script.exists():
        return {"skipped": "bench/continuous.py does not exist yet", "command": shlex.join(cmd)}
    log(f"continuous scoring: {metrics} metrics")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"skipped": f"bench/continuous.py failed: {done.stderr.strip()[-300:]}",
                "command": shlex.join(cmd)}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(command=shlex.join(cmd), run_s=time.perf_counter() - t0)
    return result


# --------------------------------------------------------------------------- machine facts


BENCH_VERSIONS = (
    "import json, sys, importlib.metadata as md\n"
    "names = ['numpy', 'pandas', 'adtk', 'statsforecast', 'prophet', 'cmdstanpy', 'psutil']\n"
    "out = {'python': sys.version.split()[0]}\n"
    "for n in names:\n"
    "    try: out[n] = md.version(n)\n"
    "    except md.PackageNotFoundError: out[n] = None\n"
    "print(json.dumps(out))\n"
)


def machine_facts() -> dict:
    """CPU, cores, RAM, OS and package versions of both venvs, git commit."""
    import importlib.metadata as md

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kb = next((int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal")), 0)
    main = {"python": platform.python_version()}
    for name in ("numpy", "pandas", "airflow-provider-l4m"):
        main[name] = md.version(name)
    bench: dict = {"skipped": "no .venv-bench"}
    if PEER_PYTHON.exists():
        done = subprocess.run([str(PEER_PYTHON), "-c", BENCH_VERSIONS],
                              capture_output=True, text=True, check=False)
        bench = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-200:]}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO,
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gb": round(kb / 2**20, 1),
        "os": platform.platform(),
        "main_venv": main,
        "bench_venv": bench,
        "git": commit + (" (with uncommitted changes)" if dirty else ""),
    }


# --------------------------------------------------------------------------- ratios


def accuracy_ratios(datasets: dict) -> list[dict]:
    """Our headline F1 against each peer's, per dataset and measure (same series)."""
    rows = []
    for name, d in datasets.items():
        ours = d["detectors"]["l4m"]
        for peer, entry in d["detectors"].items():
            if peer == "l4m" or "error" in entry:
                continue
            subset = entry["combos"] is not None
            mine = ours["subset_scores"][peer] if subset else ours["scores"]
            for m, s in entry["scores"].items():
                if subset:  # eval_results.py scored our folder on all series: use ours on both
                    our_f1, peer_f1 = mine[m]["event"]["f1"], s["event"]["f1"]
                else:
                    our_f1, peer_f1 = headline_f1(ours, m), headline_f1(entry, m)
                rows.append({
                    "dataset": name, "measure": m, "peer": peer,
                    "series": "subset" if subset else "all",
                    "ours_f1": our_f1, "peer_f1": peer_f1, "f1_diff": our_f1 - peer_f1,
                    "f1_ratio": our_f1 / peer_f1 if peer_f1 else None,
                    "range_f1_diff": mine[m]["range"]["f1"] - s["range"]["f1"],
                })
    return rows


def speed_ratios(datasets: dict, scale: list[dict]) -> list[dict]:
    """Our backtest series/s over the fastest peer's, per dataset and per scaled panel."""
    rows, best_realistic = [], None
    for name, d in datasets.items():
        peers = {p: e["speed"]["series_per_s"] for p, e in d["detectors"].items()
                 if p != "l4m" and "error" not in e}
        if not peers:
            continue
        fastest = max(peers, key=peers.get)
        ours = d["detectors"]["l4m"]["speed"]
        rows.append({"panel": name, "series": ours["series"], **_ours(ours, peers[fastest]),
                     "fastest_peer": fastest, "peer": peers[fastest], "measured": True})
        if d["realistic"] and (best_realistic is None
                                             or peers[fastest] > best_realistic[1]):
            best_realistic = (f"{fastest} on {name}", peers[fastest])
    for s in scale:
        if "error" in s or best_realistic is None:
            continue
        rows.append({"panel": f"{s['dataset']} x{s['copies']}", "series": s["series"],
                     **_ours(s, best_realistic[1]), "fastest_peer": best_realistic[0],
                     "peer": best_realistic[1], "measured": False})
    return rows


def _ours(speed: dict, peer: float) -> dict:
    """Our series/s and ratios: from the aggregated matrix, as the peers are timed
    (``ratio``), and with our aggregation of the raw records included (``ratio_all``)."""
    return {"ours": speed["engine_series_per_s"], "ours_all": speed["series_per_s"],
            "ratio": speed["engine_series_per_s"] / peer,
            "ratio_all": speed["series_per_s"] / peer}


# --------------------------------------------------------------------------- markdown


def fmt(x, digits: int = 3) -> str:
    """Number for a table cell (``-`` for missing)."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    return f"{x:,.{digits}f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def per_peer_speed(datasets: dict) -> list[str]:
    """Our series/s over each peer's, per dataset, and the peers we beat 100x everywhere."""
    ratios: dict[str, dict[str, float]] = {}
    for name, d in datasets.items():
        ours = d["detectors"]["l4m"]["speed"]["engine_series_per_s"]
        ratios[name] = {p: ours / e["speed"]["series_per_s"]
                        for p, e in d["detectors"].items() if p != "l4m" and "error" not in e}
    peers = [p for p in ALL_PEERS if any(p in r for r in ratios.values())]
    lines = table(["dataset", *peers],
                  [[name, *(fmt(r[p], 1) + "x" if p in r else "-" for p in peers)]
                   for name, r in ratios.items()])
    beaten = [p for p in peers if all(r.get(p, 0) >= SPEED_TARGET for r in ratios.values())]
    if beaten:
        lines += [(f"At least {SPEED_TARGET:.0f}x faster than {', '.join(beaten)} on every "
                   "dataset."), ""]
    return lines


def budget_lines(datasets: dict, measured: list[dict]) -> list[str]:
    """What the speed target asks for on each measured panel, and where our time goes."""
    rows = []
    for r in measured:
        sp = datasets[r["panel"]]["detectors"]["l4m"]["speed"]
        if "bare_recursion_s" not in sp:
            continue
        budget = r["series"] / (SPEED_TARGET * r["peer"])
        rows.append([r["panel"], fmt(1e3 * budget, 1), fmt(1e3 * (sp["learn_s"] + sp["detect_s"]), 1),
                     fmt(1e3 * sp["learn_s"], 1), fmt(1e3 * sp["model_detect_s"], 1),
                     fmt(1e3 * (sp["detect_s"] - sp["model_detect_s"]), 1),
                     fmt(1e3 * sp["bare_recursion_s"], 1),
                     fmt(budget / sp["bare_recursion_s"], 1) + "x"])
    if not rows:
        return []
    intro = (f"What {SPEED_TARGET:.0f}x the fastest peer asks for: the whole backtest within "
             "the budget below (ms). Ours splits into learning (70 %), the model on the "
             "detected intervals, and the rest of detection (severity, groups, contributions, "
             "one result per interval). \"Bare update\" is `bench/cost_split.py`'s "
             "day-recursive update over the same panel: a daily profile and a noise scale, "
             "13 numpy calls a day, no weekly cycle, trend, gaps, severity or groups: the "
             "dispatch cost any model learning day by day pays. The budget holds the whole "
             "detector, results included, in the last column's multiple of the bare update.")
    header = ["panel", "budget ms", "ours ms", "learn ms", "detect: model ms",
              "detect: results ms", "bare update ms", "budget / bare update"]
    return ["", intro, ""] + table(header, rows)[:-1]


def ratios_section(summary: dict) -> list[str]:
    """Headline ratios and plain verdicts on the targets."""
    acc, speed, cont = summary["ratios"]["accuracy"], summary["ratios"]["speed"], summary[
        "continuous"]
    lines = ["## Ratios (headline)", "",
             f"### Accuracy: our event F1 at sensitivity {HEADLINE_SENS} against each peer", ""]
    lines += table(
        ["dataset", "measure", "peer", "ours F1", "peer F1", "ours - peer", "ours / peer",
         "range-F1 ours - peer"],
        [[r["dataset"], r["measure"], r["peer"] + (" (subset)" if r["series"] == "subset" else ""),
          fmt(r["ours_f1"]), fmt(r["peer_f1"]), f"{r['f1_diff']:+.3f}",
          fmt(r["f1_ratio"], 2) + "x" if r["f1_ratio"] else "-", f"{r['range_f1_diff']:+.3f}"]
         for r in acc])
    losses = [r for r in acc if r["f1_diff"] <= 0]
    if not acc:
        lines.append("No peer ran: no accuracy comparison.")
    elif losses:
        worst = min(losses, key=lambda r: r["f1_diff"])
        lines.append(
            f"**Target \"F1 beats every peer\": NOT MET.** Our event F1 is not above the peer's "
            f"in {len(losses)} of {len(acc)} comparisons (worst: {worst['peer']} on "
            f"{worst['dataset']} {worst['measure']}, {worst['f1_diff']:+.3f}).")
    else:
        lines.append(f"**Target \"F1 beats every peer\": met** in all {len(acc)} comparisons "
                     f"(smallest margin {min(r['f1_diff'] for r in acc):+.3f}).")
    lines += ["", "### Speed: backtest series/s, ours / fastest peer", ""]
    lines += table(
        ["panel", "series", "ours series/s", "fastest peer", "peer series/s", "ours / peer",
         "with our aggregation: series/s", "with our aggregation: ours / peer"],
        [[r["panel"] + ("" if r["measured"] else " *"), fmt(r["series"]), fmt(r["ours"], 1),
          r["fastest_peer"], fmt(r["peer"], 1), fmt(r["ratio"], 2) + "x",
          fmt(r["ours_all"], 1), fmt(r["ratio_all"], 2) + "x"] for r in speed])
    lines.append("Every detector is timed from the same aggregated matrix (learning and "
                 "detection, producing results: for ours, the groups and contributions too). "
                 "The last two columns add our aggregation of the raw records, which the "
                 "peers are spared.")
    lines.append("")
    if any(not r["measured"] for r in speed):
        lines.append("\\* peers not run on the replicated panel: compared with the fastest "
                     "peer's series/s on the realistic data (their cost per series does not "
                     "depend on the panel size: one independent fit per series).")
        lines.append("")
    measured = [r for r in speed if r["measured"]]
    if measured:
        low = min(measured, key=lambda r: r["ratio"])
        verdict = "met" if low["ratio"] >= SPEED_TARGET else "NOT MET"
        lines.append(
            f"**Target \"backtest series/s >= {SPEED_TARGET:.0f}x the fastest peer\": {verdict}** "
            f"on the measured panels: the lowest ratio is {low['ratio']:.2f}x ({low['panel']}, "
            f"fastest peer {low['fastest_peer']}).")
        big = [r for r in speed if not r["measured"]]
        if big:
            lines.append(f"On the largest replicated panel ({fmt(big[-1]['series'])} series) the "
                         f"ratio is {big[-1]['ratio']:.2f}x.")
        lines += budget_lines(summary["datasets"], measured)
        lines += ["", "Against each peer (backtest series/s, ours / peer's, the same input):", ""]
        lines += per_peer_speed(summary["datasets"])
    lines += ["", "### Continuous scoring", ""]
    if "skipped" in cont:
        lines.append(f"Skipped: {cont['skipped']}.")
    else:
        lines.append(
            f"One scheduled interval for **{fmt(cont['metrics'])} metrics** (load state, "
            f"aggregate, detect, write results, save state): **{cont['seconds_per_interval']:.2f} "
            f"s per interval** (median of {cont['intervals']}, worst "
            f"{cont['worst_seconds_per_interval']:.2f} s), **peak RSS "
            f"{cont['peak_rss_mb']:,.0f} MB**, saved state {cont.get('state_mb', '-')} MB.")
    lines += ["", "### Missing intervals", ""] + missing_summary(summary["datasets"]) + [""]
    return lines


def missing_summary(datasets: dict) -> list[str]:
    """One sentence on our unlabelled flags right after missing rows."""
    n_rows = n_bad = 0
    for d in datasets.values():
        gap = d["detectors"]["l4m"].get("after_gap")
        for v in (gap or {}).values():
            n_rows += v["rows_after_gap"]
            n_bad += v["flagged_unlabelled"]
    if not n_rows:
        return ["No dataset with missing rows was run."]
    return [(f"On the realistic data our engine raised **{n_bad} unlabelled anomalies "
            f"(severity >= {HEADLINE_SENS})** in the interval right after a missing row, out of "
            f"{n_rows:,} such points (all measures and seeds; details below).")]


def accuracy_tables(summary: dict) -> list[str]:
    """Per dataset: P/R/F1 at 50 (both scorers), best F1 over sensitivities, range scores."""
    lines = ["## Accuracy per dataset", ""]
    for name, d in summary["datasets"].items():
        lines += [f"### {name}", "", (f"{d['description']}; scored from {d['detection_start']} "
                  f"(UTC, the newest 30 % of the intervals with data)."), ""]
        rows = []
        for det, e in d["detectors"].items():
            if "error" in e:
                rows.append([det, "-", f"failed: {e['error']}"] + ["-"] * 7)
                continue
            for m, s in e["scores"].items():
                ev, rg = s["event"], s["range"]
                off = e.get("official", {}).get(m)
                rows.append([
                    det + (" (subset)" if e["combos"] else ""), m, fmt(ev["precision"]),
                    fmt(ev["recall"]), fmt(ev["f1"]), fmt(off["f1"]) if off else "-",
                    f"{ev['found']}/{ev['events']}, {ev['false_runs']}",
                    f"{fmt(s['best_f1'])} @{s['best_sensitivity']}",
                    f"{fmt(rg['precision'])} / {fmt(rg['recall'])}", fmt(rg["f1"])])
        lines += table(["detector", "measure", "P", "R", "F1", "F1 (eval_results.py)",
                        "found/events, false runs", "best F1 @sens", "range P / R",
                        "range F1"], rows)
    return [*lines, scorer_agreement(summary), ""]


def scorer_agreement(summary: dict) -> str:
    """Whether ``score_events`` and the shared ``eval_results.py`` gave the same F1s."""
    pairs, differ = 0, []
    for name, d in summary["datasets"].items():
        for det, e in d["detectors"].items():
            for m, off in e.get("official", {}).items():
                if not isinstance(off, dict):
                    continue
                pairs += 1
                ours = e["scores"][m]["event"]["f1"]
                if abs(ours - off["f1"]) > 0.0005:  # eval_results.py prints 3 decimals
                    differ.append(f"{name}/{det}/{m}: {ours:.3f} vs {off['f1']:.3f}")
    if not pairs:
        return "The shared `eval_results.py` was not available: F1 from `score_events` only."
    if differ:
        return ("**Scorers disagree** (`score_events` vs `eval_results.py`): "
                + "; ".join(differ) + ".")
    return (f"`score_events` and the shared `eval_results.py` agree on all {pairs} event F1 "
            f"figures at sensitivity {HEADLINE_SENS}.")


def speed_tables(summary: dict) -> list[str]:
    """Backtest timing per dataset and detector, then the replicated panels."""
    rows = []
    for name, d in summary["datasets"].items():
        for det, e in d["detectors"].items():
            if "error" in e:
                continue
            sp = e["speed"]
            rows.append([name, det, fmt(sp["series"]), fmt(sp["wall_s"], 2),
                         fmt(sp["matrix_s"], 2) if "matrix_s" in sp else "-",
                         fmt(sp["warmup_s"], 2), fmt(sp["series_per_s"], 1),
                         fmt(sp["peak_rss_mb"], 0)])
    lines = ["## Speed and memory", ""]
    lines += table(["dataset", "detector", "series", "wall s", "of which aggregation s",
                    "warm-up s", "series/s (wall)", "peak RSS MB"], rows)
    scale = summary["scale"]
    if scale:
        lines += [("Our engine on the realistic seed-1 data replicated (dimension values "
                  "renamed per copy) to larger panels; peers are not run on these panels."), ""]
        lines += table(
            ["series", "intervals", "aggregate s", "learn s", "detect s", "wall s", "series/s",
             "peak RSS MB"],
            [[fmt(s["series"]), fmt(s["intervals"]), fmt(s["matrix_s"], 2), fmt(s["learn_s"], 2),
              fmt(s["detect_s"], 2), fmt(s["wall_s"], 2), fmt(s["series_per_s"], 1),
              fmt(s["peak_rss_mb"], 0)] if "error" not in s
             else [fmt(s["target_series"]), f"failed: {s['error']}"] + ["-"] * 6
             for s in scale])
    else:
        lines += ["Larger panels: not run (`--scale 0`).", ""]
    return lines


def missing_table(summary: dict) -> list[str]:
    """Flags right after missing rows, per realistic dataset, detector and measure."""
    rows = []
    for name, d in summary["datasets"].items():
        for det, e in d["detectors"].items():
            for m, v in (e.get("after_gap") or {}).items():
                rows.append([name, det, m, fmt(v["rows_after_gap"]), fmt(v["flagged"]),
                             fmt(v["flagged_unlabelled"])])
    if not rows:
        return []
    return ["## Flags right after missing rows", "",
            ("Points of a series whose previous interval has no value, in the scored window; "
            f"flagged = score >= {HEADLINE_SENS}; unlabelled = flagged but not an anomaly."), ""] \
        + table(["dataset", "detector", "measure", "points after a gap", "flagged",
                 "flagged, unlabelled"], rows)


METHOD = """## How it was measured

- **Split**: every detector learns on the intervals before the detection start and is
  scored after it. The detection start is our backtest's (70 % of the intervals with
  data, `runner.backtest`), passed to the peers, and `eval_results.py` is run with
  `--after` that timestamp, so every detector is scored on the same rows.
- **Event F1** (the issues' definition, `l4m.evaluation.score_events` = the shared
  `eval_results.py`): an event is a run of labelled intervals of one series; it is found
  when a point flagged at sensitivity >= 50 lies within 1 interval of it; precision =
  flagged runs touching an event / flagged runs. The authoritative figure is the shared
  `eval_results.py` run on each output folder; the two must agree.
- **Range F1**: Tatbul et al. 2018, flat bias, alpha = 0 (`bench/range_f1.py`).
- **Sensitivity**: every detector writes a 0-100 score, 50 = its own threshold (ours:
  severity; interval peers: 50 at the edge of their 99 % interval; ADTK: binary 100/0).
  "best F1 @sens" is the best event F1 over sensitivities 10, 30, 50, 70, 90, for
  information only (it is tuned on the test labels).
- **Speed**: wall time of the detection work only, after a warm-up run that pays imports
  and first-call costs. Ours: aggregation of the parsed records into the metric matrix,
  learning and detection (`Detector.matrix` + `learn` + `detect`, which builds every
  interval's groups and contributions), without file writing; median of 3 runs on each
  dataset (one run takes under a second), one run on the replicated panels.
  Peers: one call on in-memory arrays of the aggregated values (`bench/measure.py`).
  The headline ratio compares the same work (from the aggregated matrix: our `learn` +
  `detect`); the ratio with our aggregation added is shown next to it, and the
  "series/s (wall)" column of the per-dataset table includes it. series = measures x
  dimension combinations. Each detector runs in a fresh process; peak RSS is that
  process's (ours includes the parsed input records, the peers include their libraries).
- **Peers** (`bench/peers.py`): ADTK `SeasonalAD`, statsforecast `MSTL` (in-sample 99 %
  interval, fitted on the whole series: it sees the test rows), Prophet (99 % interval
  forecast of the test range). They run in `.venv-bench` (pandas < 3).
"""


def machine_section(summary: dict) -> list[str]:
    """Machine facts, package versions and the exact command lines."""
    mf = summary["machine"]
    main, bench = mf["main_venv"], mf["bench_venv"]
    lines = ["## Machine", "",
             (f"- CPU: {mf['cpu']}; {mf['cores']} cores ({mf['cores_usable']} usable); "
             f"RAM {mf['ram_gb']} GB; {mf['os']}"),
             (f"- main venv: Python {main['python']}, numpy {main['numpy']}, pandas "
             f"{main['pandas']}, airflow-provider-l4m {main['airflow-provider-l4m']} "
             f"(git {mf['git']})")]
    if "python" in bench:
        lines.append(
            f"- peers venv: Python {bench['python']}, numpy {bench['numpy']}, pandas "
            f"{bench['pandas']}, adtk {bench['adtk']}, statsforecast {bench['statsforecast']}, "
            f"prophet {bench['prophet']}, cmdstanpy {bench['cmdstanpy']}")
    lines += [f"- run: {summary['generated']}, {summary['run_seconds'] / 60:.1f} min in total",
              "", "## Commands", "", "```", summary["command"]]
    lines += summary["commands"] + ["```", ""]
    return lines


def render_doc(summary: dict) -> str:
    """The whole of docs/benchmarks.md."""
    head = ["# Benchmarks", "",
            ("Generated by `bench/run_bench.py` from its own measurements "
            f"({summary['generated']}); do not edit by hand, rerun `make bench`."), ""]
    body = (ratios_section(summary) + accuracy_tables(summary) + speed_tables(summary)
            + missing_table(summary) + [METHOD] + machine_section(summary))
    return "\n".join(head + body)


# --------------------------------------------------------------------------- main


def collect_commands(summary: dict) -> list[str]:
    """Every subprocess command line the run used, in order."""
    cmds = []
    for d in summary["datasets"].values():
        for e in d["detectors"].values():
            if "command" in e:
                cmds.append(e["command"])
            if "command" in e.get("official", {}):
                cmds.append(e["official"]["command"])
    if "command" in summary["continuous"]:
        cmds.append(summary["continuous"]["command"])
    return cmds


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Benchmark our engine against the peers.")
    ap.add_argument("--shared-dir", type=Path, default=REPO.parent / "shared",
                    help="shared folder with benchmarks/ and tools/ (default ../shared)")
    ap.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results" / "data",
                    help="where synthetic data is generated")
    ap.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--seeds", default="1,2,3", help="realistic synth seeds, one dataset each")
    ap.add_argument("--days", type=int, default=120, help="days of realistic synth data")
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help="comma list, or 'none'")
    ap.add_argument("--prophet-max-series", type=int, default=None,
                    help="run Prophet on the first whole combinations within N series")
    ap.add_argument("--scale", default="2000",
                    help="series counts for our engine's throughput (e.g. 2000,20000; 0 = skip)")
    ap.add_argument("--continuous-metrics", type=int, default=100_000,
                    help="metrics for bench/continuous.py (0 = skip)")
    a = ap.parse_args(argv)
    a.peers = [] if a.peers in ("", "none") else a.peers.split(",")
    unknown = set(a.peers) - set(ALL_PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}; choose from {ALL_PEERS}")
    if a.peers and not PEER_PYTHON.exists():
        ap.error(f"{rel(PEER_PYTHON)} missing: run `make bench-venv` (or --peers none)")
    a.seeds = [int(s) for s in a.seeds.split(",") if s]
    a.scale = [int(s) for s in a.scale.split(",") if s and s != "none" and int(s) > 0]
    a.shared_dir = a.shared_dir.resolve()
    return a


def main(argv=None) -> None:
    t_start = time.perf_counter()
    args = parse_args(argv)
    datasets = []
    shared = shared_dataset(args.shared_dir)
    if shared is None:
        log(f"no shared tutorial data under {args.shared_dir}: skipping that dataset")
    else:
        datasets.append(shared)
    for seed in args.seeds:
        log(f"generating realistic data, seed {seed}")
        datasets.append(synth_dataset(args.work_dir.resolve(), seed, args.days))
    results = {ds.name: bench_dataset(ds, args, args.results_dir) for ds in datasets}
    realistic = [ds for ds in datasets if ds.realistic]
    scale = bench_scale(realistic[0], args.scale) if realistic and args.scale else []
    continuous = bench_continuous(args.continuous_metrics)
    summary = {
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join([rel(sys.executable), rel(__file__), *sys.argv[1:]]),
        "datasets": results,
        "scale": scale,
        "continuous": continuous,
        "ratios": {"accuracy": accuracy_ratios(results), "speed": speed_ratios(results, scale)},
        "machine": machine_facts(),
    }
    summary["commands"] = collect_commands(summary)
    summary["run_seconds"] = time.perf_counter() - t_start
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / "summary.json"
    out.write_text(json.dumps(summary, indent=1, default=str))
    args.doc.write_text(render_doc(summary))
    log(f"wrote {rel(out)} and {rel(args.doc)} in {summary['run_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
