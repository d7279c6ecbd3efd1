"""One SendAlertsOperator run in its own process, for the alert crash-safety test.

    python alert_child.py DEFINITION INTERVAL_START [--kill-at N] [--slow-send S]
                          [--start-when FILE]

Events, in order: each write of the alert record counts twice (before its temporary
file is written, before the rename that publishes it), each SNS publish once (before it
is sent). ``--kill-at N`` sends SIGKILL to this process at event N. A run that finishes
prints ``RESULT {"events": [labels], "counts": {...}}``; a label is ``write``,
``rename`` or ``send <topic ARN>``. ``--slow-send S`` makes each publish take S more
seconds; ``--start-when FILE`` waits (after the imports) until FILE exists: the
concurrency test uses them to start a second delivery in the middle of the first.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from l4m.io import storage
from l4m.operators.alerts import SendAlertsOperator

RESULT = "RESULT "
events: list[str] = []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("definition")
    parser.add_argument("interval_start")
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--slow-send", type=float, default=0.0)
    parser.add_argument("--start-when", type=Path)
    args = parser.parse_args()

    def event(label: str) -> None:
        if len(events) == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        events.append(label)

    real_write, real_replace, real_publish = (storage.write_bytes_atomic, os.replace,
                                              SnsHook.publish_to_target)

    def write(path, data):
        event("write")
        real_write(path, data)

    def replace(src, dst):
        event("rename")
        real_replace(src, dst)

    def publish(self, **kwargs):
        event(f"send {kwargs['target_arn']}")
        time.sleep(args.slow_send)
        return real_publish(self, **kwargs)

    storage.write_bytes_atomic, os.replace, SnsHook.publish_to_target = write, replace, publish
    while args.start_when and not args.start_when.exists():
        time.sleep(0.02)
    operator = SendAlertsOperator(task_id="send_alerts", definition=args.definition,
                                  interval_start=args.interval_start)
    counts = operator.execute(context={})
    print(RESULT + json.dumps({"events": events, "counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
