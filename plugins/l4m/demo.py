"""The main job on the embedded default, until the Airflow pipeline lands:
generate the tutorial data, backtest it, and score the anomalies against the labels."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import runner
from .evaluation import score_events
from .io.results import SCORE_DIR
from .spec import parse_spec_json
from .synth import write_dataset

DEMO_SENSITIVITY = 50


def flagged_points(out_dir: Path, measure: str, dims: list[str], sensitivity: float) -> pd.DataFrame:
    """The (dims, timestamp) points written as anomalous for ``measure`` at ``sensitivity``."""
    files = sorted((Path(out_dir) / SCORE_DIR).glob("*.csv"))
    cols = [*dims, "timestamp"]
    if not files:
        return pd.DataFrame(columns=cols)
    table = pd.concat([pd.read_csv(f, dtype={d: str for d in dims}) for f in files])
    hit = table[table[f"{measure}GroupScore"].fillna(-1) >= sensitivity]
    return hit.assign(timestamp=pd.to_datetime(hit["Timestamp"]))[cols]


def run_demo(out: Path, *, days: int = 60, patterns: str = "easy", seed: int = 0) -> str:
    out = Path(out).resolve()
    paths = write_dataset(out / "data", seed=seed, days=days, patterns=patterns)
    spec = parse_spec_json(paths.definition.read_text(), source=str(paths.definition))
    data = runner.read_input(spec, str(paths.backtest_input))
    summary = runner.backtest(spec, data, out / "backtest")
    labels = pd.read_csv(paths.labels, dtype={d: str for d in spec.dimensions})
    labels["timestamp"] = pd.to_datetime(labels["timestamp"])
    start = pd.Timestamp(summary.detection_start)
    lines = [str(summary), (f"accuracy at sensitivity {DEMO_SENSITIVITY} against "
                            f"{paths.labels} (events from {start}):")]
    for m in spec.measure_names:
        flagged = flagged_points(summary.out_dir, m, list(spec.dimensions), DEMO_SENSITIVITY)
        s = score_events(labels, flagged, list(spec.dimensions), f"{m}_label", start=start)
        lines.append(f"  {m}: F1={s.f1:.3f} precision={s.precision:.3f} recall={s.recall:.3f} "
                     f"events={s.events} found={s.found} false_runs={s.false_runs}")
    lines.append(f"input data: {paths.root}; anomaly results: {summary.out_dir}/anomalyResults; "
                 f"groups: {summary.out_dir}/anomalyGroups.jsonl")
    return "\n".join(lines)
