"""Continuous scoring at scale: one interval for N metrics, state load and save included.

    .venv/bin/python bench/continuous.py [--metrics 100000] [--history-days 9] [--intervals 3]

Prepares (untimed) a detector of N metrics (2 measures × N/2 stores) that has learned
``--history-days`` of hourly data and saves it. Then, in a fresh process per interval
(so peak memory is that of one scheduled task), times the scheduled path: load state,
aggregate the interval's records into the matrix, detect, write the seed layout,
save state. Prints one JSON line with the median and worst seconds per interval and
the peak RSS.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from l4m.engine import Calendar, Detector
from l4m.io.results import write_interval
from l4m.io.state_store import load_detector, save_detector

HOUR = 3600
START = pd.Timestamp("2024-01-01", tz="UTC")
MEASURES = [("views", "SUM"), ("revenue", "SUM")]


def interval_records(stores: int, hour: int, seed: int) -> pd.DataFrame:
    """One hour of records: a row per store with a daily cycle and noise."""
    rng = np.random.default_rng([seed, hour])
    base = np.random.default_rng(seed).uniform(50, 5000, stores)
    daily = 1 + 0.5 * np.cos(2 * np.pi * ((hour % 24) - 15) / 24)
    views = np.round(base * daily * rng.lognormal(0, 0.05, stores))
    return pd.DataFrame({
        "timestamp": START + pd.Timedelta(hours=hour),
        "store": np.char.add("s", np.arange(stores).astype(str)).astype(object),
        "views": views, "revenue": views * 0.3})


def prepare(folder: Path, metrics: int, days: int, seed: int) -> None:
    """Learn ``days`` of history for ``metrics`` metrics and save the detector."""
    stores = metrics // len(MEASURES)
    det = Detector(name="bench", measures=MEASURES, dimensions=["store"], calendar=Calendar(HOUR))
    for day in range(days):
        records = pd.concat([interval_records(stores, day * 24 + h, seed) for h in range(24)])
        det.learn(det.matrix(records))
    save_detector(det, folder)


def score_one(folder: Path, out: Path, hour: int, metrics: int, seed: int) -> dict:
    """The scheduled path for one interval; returns timings in seconds and peak RSS."""
    records = interval_records(metrics // len(MEASURES), hour, seed)
    t0 = time.perf_counter()
    det = load_detector(folder)
    t1 = time.perf_counter()
    number = det.calendar.interval_number(np.array([int(records["timestamp"].iloc[0].timestamp())]))
    matrix = det.matrix(records, first=int(number[0]), last=int(number[0]))
    results = det.detect(matrix)
    t2 = time.perf_counter()
    for r in results:
        write_interval(out, r, measures=[m for m, _ in MEASURES], dimensions=["store"],
                       timezone="UTC")
    save_detector(det, folder)
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "detect_s": t2 - t1, "write_save_s": t3 - t2,
            "total_s": t3 - t0, "anomalies": int(sum(len(r.anomalies) for r in results)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", type=int, default=100_000)
    ap.add_argument("--history-days", type=int, default=9)
    ap.add_argument("--intervals", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", nargs=2, metavar=("FOLDER", "HOUR"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        folder = Path(a.one[0])
        print(json.dumps(score_one(folder, folder / "out", int(a.one[1]), a.metrics, a.seed)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        prepare(folder, a.metrics, a.history_days, a.seed)
        prepare_s = time.perf_counter() - t0
        runs = []
        for i in range(a.intervals):
            hour = a.history_days * 24 + i
            done = subprocess.run(
                [sys.executable, __file__, "--metrics", str(a.metrics), "--seed", str(a.seed),
                 "--one", str(folder), str(hour)], capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout))
        state_mb = sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20
    totals = [r["total_s"] for r in runs]
    print(json.dumps({
        "metrics": a.metrics, "intervals": len(runs), "history_days": a.history_days,
        "prepare_s": round(prepare_s, 1), "state_mb": round(state_mb, 1),
        "seconds_per_interval": round(statistics.median(totals), 3),
        "worst_seconds_per_interval": round(max(totals), 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "runs": runs}))


if __name__ == "__main__":
    main()
