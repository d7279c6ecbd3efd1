"""Throwaway smoke run of the peers on the shared labelled data (to be folded into run_bench.py).

    .venv-bench/bin/python bench/_smoke_peers.py [--peers adtk,statsforecast,prophet]
        [--prophet-max-series N] [--out /tmp/l4m-bench-peers]

For each peer: run it in a fresh process (time, series/s, peak RSS), write the seed
layout, score it with eval_results.py (event F1 at --sens) and with range_f1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from measure import run_isolated
from peer_outputs import load_panel, write_seed_layout
from range_f1 import range_f1

SHARED = Path("/work/shared")
MEASURES, DIMS = ["views", "revenue"], ["platform", "marketplace"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(SHARED / "benchmarks/ecommerce_labeled.csv.gz"))
    ap.add_argument("--out", default="/tmp/l4m-bench-peers")
    ap.add_argument("--peers", default="adtk,statsforecast,prophet")
    ap.add_argument("--prophet-max-series", type=int, default=None)
    ap.add_argument("--sens", type=float, default=50.0)
    a = ap.parse_args()

    panel = load_panel(a.data, MEASURES, DIMS)
    T, S = panel.values.shape
    train_end = int(T * 0.7)
    summary = {}
    for peer in a.peers.split(","):
        cols = np.arange(S)
        if peer == "prophet" and a.prophet_max_series:
            # whole dimension combinations, so both measures of each scored combination count
            n_combos = max(1, a.prophet_max_series // len(MEASURES))
            combos = panel.keys[DIMS].drop_duplicates().head(n_combos)
            cols = np.flatnonzero(
                panel.keys[DIMS].apply(tuple, axis=1).isin(combos.apply(tuple, axis=1)).to_numpy()
            )
        out = Path(a.out) / peer
        res = run_isolated(peer, panel.values[:, cols], panel.timestamps, train_end)
        keys = panel.keys.iloc[cols].reset_index(drop=True)
        write_seed_layout(
            res["scores"], keys, panel.timestamps, panel.values[:, cols], MEASURES, DIMS, out
        )
        truth = a.data
        if len(cols) < S:  # score only the combinations the peer ran on
            t = pd.read_csv(a.data, dtype={d: str for d in DIMS})
            t = t.merge(keys[DIMS].drop_duplicates(), on=DIMS)
            truth = out / "truth_subset.csv"
            t.to_csv(truth, index=False)
        ev = subprocess.run(
            [
                sys.executable,
                str(SHARED / "tools/eval_results.py"),
                str(truth),
                str(out),
                ",".join(MEASURES),
                ",".join(DIMS),
                "timestamp",
                "--from-pct",
                "0.7",
                "--sens",
                str(a.sens),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        flags = res["scores"][train_end:] >= a.sens
        labels = panel.labels[train_end:, cols]
        rf = {
            m: range_f1(labels[:, keys["measure"] == m], flags[:, keys["measure"] == m])
            for m in MEASURES
        }
        summary[peer] = {
            "series": len(cols),
            "wall_s": round(res["wall_s"], 2),
            "warmup_s": round(res["warmup_s"], 2),
            "series_per_s": round(res["series_per_s"], 3),
            "peak_rss_mb": round(res["peak_rss_mb"], 1),
            "event": ev.strip().splitlines(),
            "range_f1": {m: round(r["f1"], 3) for m, r in rf.items()},
            "range_pr": {
                m: (round(r["precision"], 3), round(r["recall"], 3)) for m, r in rf.items()
            },
        }
        print(json.dumps({peer: summary[peer]}), flush=True)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
