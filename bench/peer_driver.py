"""Run one peer detector on one labelled dataset and write its scores in the seed layout.

Runs in the peers' venv (pandas < 3); ``bench/run_bench.py`` calls it once per peer and
dataset::

    .venv-bench/bin/python bench/peer_driver.py --peer adtk --data LABELLED.csv \\
        --measures views,revenue --dims platform,marketplace \\
        --detection-start "2021-09-13 00:00:00" --out bench/results/<dataset>/adtk \\
        [--max-series N]

The peer learns on the rows before ``--detection-start`` (the same split as our
engine's backtest) and scores the rest. Timing and peak memory come from
:func:`measure.run_isolated` (fresh process, warm-up excluded). Scores of every
flagged point (score > 0) go to ``OUT/anomalyResults/metricValueAnomalyScore/`` so any
sensitivity can be scored later; the run facts go to ``OUT/run.json`` and stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from measure import run_isolated
from peer_outputs import Panel, load_panel, write_seed_layout


def select_columns(panel: Panel, max_series: int | None) -> np.ndarray:
    """Columns to run on: all, or the first whole dimension combinations within ``max_series``.

    Whole combinations keep every measure of a scored combination, so each measure is
    scored on the same combinations.
    """
    n_series = panel.values.shape[1]
    if not max_series or max_series >= n_series:
        return np.arange(n_series)
    dims = panel.dims
    n_combos = max(1, max_series // len(panel.measures))
    combos = panel.keys[dims].drop_duplicates().head(n_combos)
    wanted = set(combos.itertuples(index=False, name=None))
    in_subset = [tuple(row) in wanted for row in panel.keys[dims].itertuples(index=False)]
    return np.flatnonzero(in_subset)


def run(args: argparse.Namespace) -> dict:
    """Load, run the peer in a fresh process, write the layout; return the run facts."""
    measures, dims = args.measures.split(","), args.dims.split(",")
    panel = load_panel(args.data, measures, dims)
    start = pd.Timestamp(args.detection_start, tz="UTC")
    train_end = int(panel.timestamps.searchsorted(start))
    cols = select_columns(panel, args.max_series)
    values = panel.values[:, cols]
    res = run_isolated(args.peer, values, panel.timestamps, train_end)
    keys = panel.keys.iloc[cols].reset_index(drop=True)
    out = Path(args.out)
    files = write_seed_layout(res["scores"], keys, panel.timestamps, values, measures, dims, out)
    combos = keys[dims].drop_duplicates().astype(str).values.tolist()
    facts = {
        "peer": args.peer,
        "series": len(cols),
        "series_total": int(panel.values.shape[1]),
        "combos": combos,
        "intervals": len(panel.timestamps),
        "train_end": train_end,
        "detection_start": str(panel.timestamps[train_end].tz_localize(None)),
        "wall_s": res["wall_s"],
        "warmup_s": res["warmup_s"],
        "series_per_s": res["series_per_s"],
        "peak_rss_mb": res["peak_rss_mb"],
        "files_written": files,
    }
    (out / "run.json").write_text(json.dumps(facts, indent=1))
    return facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", required=True, choices=["adtk", "statsforecast", "prophet"])
    ap.add_argument("--data", required=True, help="labelled long CSV (values and <m>_label)")
    ap.add_argument("--measures", default="views,revenue")
    ap.add_argument("--dims", default="platform,marketplace")
    ap.add_argument("--detection-start", required=True, help="first scored timestamp (UTC)")
    ap.add_argument("--out", required=True, help="output folder (seed layout)")
    ap.add_argument("--max-series", type=int, default=None, help="run on a subset of series")
    print(json.dumps(run(ap.parse_args())), flush=True)


if __name__ == "__main__":
    main()
