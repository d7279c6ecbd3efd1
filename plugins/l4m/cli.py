"""The ``l4m`` command: synth, tutorial, demo, backtest, replay, iam-policy, mwaa-bundle.

Errors in the definition or unusable input exit with code 2 and one line that
names the problem; everything else is a bug and shows its traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from .mwaa import add_parser as add_mwaa_parser
from .mwaa import run as run_mwaa


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l4m", description="Lookout for Metrics, reborn.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the tutorial-shaped ecommerce data with labels")
    s.add_argument("--out", required=True, type=Path,
                   help="data folder: OUT/ecommerce/{backtest,live}, labels, definition")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 1, 1),
                   help="first day, YYYY-MM-DD (default 2021-01-01)")
    s.add_argument("--days", type=int, default=60, help="days of hourly data (default 60)")
    s.add_argument("--patterns", choices=["easy", "realistic"], default="easy",
                   help="easy: the L4M tutorial's shapes; realistic: adds weekly cycles, "
                        "trends, count noise, outages, dimension-wide incidents and missing "
                        "rows (default easy)")

    t = sub.add_parser("tutorial", help="write tutorial data and its detector definition "
                                        "around now, for a live Airflow (docker-compose)")
    t.add_argument("--data", required=True, type=Path,
                   help="data folder; the definition goes to DATA/detectors/")
    t.add_argument("--catchup-hours", type=int, default=3,
                   help="complete hours before now that the scheduler catches up (default 3)")
    t.add_argument("--live-days", type=int, default=7,
                   help="days of hourly live files after now (default 7)")

    d = sub.add_parser("demo", help="run the Airflow pipeline on tutorial data, score it")
    d.add_argument("--out", type=Path, default=Path("out/demo"),
                   help="output folder (default out/demo)")
    d.add_argument("--days", type=int, default=21,
                   help="days of data, history + live (default 21)")
    d.add_argument("--hours", type=int, default=48,
                   help="hourly intervals the detect DAG runs (default 48)")
    d.add_argument("--patterns", choices=["easy", "realistic"], default="easy",
                   help="data patterns, as for synth (default easy)")

    i = sub.add_parser("iam-policy", help="print the least-privilege IAM policy of the "
                                          "Airflow execution role for a definition")
    i.add_argument("--spec", required=True, type=Path, help="detector definition (JSON)")
    i.add_argument("--region", default=None, help="AWS region (default: from the definition)")
    i.add_argument("--account-id", default=None,
                   help="AWS account id (default: from the definition)")

    add_mwaa_parser(sub)

    for name, text in (("backtest", "learn on the oldest 70 %%, detect in the newest 30 %%"),
                       ("replay", "detect continuously from a cold start, interval by interval")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--spec", required=True, type=Path, help="detector definition (JSON)")
        c.add_argument("--input", required=True, help="a CSV/JSON Lines file (.gz ok) or a folder")
        c.add_argument("--out", required=True, type=Path, help="output folder (seed S3 layout)")
        c.add_argument("--sensitivity", type=float, default=0.0,
                       help="write anomalies with severity ≥ this (0–100, default 0)")
        c.add_argument("--scores-out", type=Path, default=None,
                       help="also write every scored point to this CSV")
        if name == "replay":
            c.add_argument("--history", default=None,
                           help="learn from this file or folder first, as activation does")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .io.reader import InputError
    from .spec import SpecError

    try:
        if args.command == "synth":
            return _synth(args)
        if args.command == "tutorial":
            return _tutorial(args)
        if args.command == "demo":
            from .demo import run_demo

            print(run_demo(args.out, days=args.days, hours=args.hours, patterns=args.patterns))
            return 0
        if args.command == "iam-policy":
            return _iam_policy(args)
        if args.command == "mwaa-bundle":
            return run_mwaa(args)
        return _detect(args)
    except (SpecError, InputError, FileExistsError, ValueError) as exc:
        print(f"l4m {args.command}: {exc}", file=sys.stderr)
        return 2


def _synth(args) -> int:
    from .synth import write_dataset

    paths = write_dataset(args.out, seed=args.seed, start=args.start, days=args.days,
                          patterns=args.patterns)
    print(f"wrote {paths.backtest_input}, {paths.live_dir}/…, {paths.labels}, {paths.definition}")
    return 0


def _tutorial(args) -> int:
    from .tutorial import write_tutorial

    path, written = write_tutorial(args.data, catchup_hours=args.catchup_hours,
                                   live_days=args.live_days)
    doc = json.loads(path.read_text(encoding="utf-8"))
    state = "wrote" if written else "kept the existing"
    print(f"{state} tutorial detector {path} (detects from {doc['Schedule']['StartDate']}); "
          f"point L4M_DETECTORS_DIR at {path.parent}")
    return 0


def _read_spec(path: Path):
    from .io.reader import InputError
    from .spec import parse_spec_json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the definition ({exc})") from exc
    return parse_spec_json(text, source=str(path))


def _iam_policy(args) -> int:
    from .aws.iam import policy

    print(json.dumps(policy(_read_spec(args.spec), region=args.region,
                            account=args.account_id), indent=2))
    return 0


def _detect(args) -> int:
    from . import runner

    if not 0 <= args.sensitivity <= 100:
        raise ValueError(f"--sensitivity must be between 0 and 100 (got {args.sensitivity})")
    spec = _read_spec(args.spec)
    data = runner.read_input(spec, args.input)
    if args.command == "backtest":
        summary = runner.backtest(spec, data, args.out, sensitivity=args.sensitivity,
                                  scores_out=args.scores_out)
    else:
        history = runner.read_input(spec, args.history) if args.history else None
        summary = runner.replay(spec, data, args.out, sensitivity=args.sensitivity,
                                scores_out=args.scores_out, history=history)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
