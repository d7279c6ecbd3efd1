"""One detect run in its own process, for the reliability tests.

    python detector_child.py DEFINITION INTERVAL_START [--kill-at N] [--wait S] [--slow S]
    python detector_child.py DEFINITION --hold-lock S

Every storage write is counted as two events: before its temporary file is written and
before the rename that publishes it. ``--kill-at N`` sends SIGKILL to this process at
event N, as an OOM killer or a lost worker would. A run that finishes prints
``RESULT {"events": n, "written": [paths], "marker": {...}}``. ``--hold-lock S`` takes the
detector's lock and holds it S seconds, like a long detect run; ``--slow S`` makes
detection itself take S seconds longer, so that two runs started together overlap.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from l4m.hooks.detector import DetectorHook
from l4m.io import storage

RESULT = "RESULT "   # the line the tests read; Airflow's logging may print other lines
events = 0
written: list[str] = []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("definition")
    parser.add_argument("interval_start", nargs="?")
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--wait", type=float, default=600)
    parser.add_argument("--hold-lock", type=float, default=0)
    parser.add_argument("--slow", type=float, default=0,
                        help="sleep this long inside detection, before reading the data")
    args = parser.parse_args()

    def event() -> None:
        global events
        if events == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        events += 1

    real_write, real_replace = storage.write_bytes_atomic, os.replace

    def write(path, data):
        event()
        written.append(str(path))
        real_write(path, data)

    def replace(src, dst):
        event()
        real_replace(src, dst)

    real_keep = storage.write_keeping_prefix

    def keep_prefix(path, prefix, tail):
        event()
        written.append(str(path))
        real_keep(path, prefix, tail)

    storage.write_bytes_atomic, os.replace = write, replace
    storage.write_keeping_prefix = keep_prefix
    read_interval = DetectorHook._read_interval

    def slow_read(self, epoch):
        time.sleep(args.slow)     # widen the window in which two runs overlap
        return read_interval(self, epoch)

    DetectorHook._read_interval = slow_read
    hook = DetectorHook.from_file(args.definition, lock_wait_seconds=args.wait,
                                  lock_owner=f"child pid {os.getpid()}")
    if args.hold_lock:
        with hook.lock:
            print("locked", flush=True)
            time.sleep(args.hold_lock)
        return 0
    marker = hook.detect_interval(args.interval_start)
    print(RESULT + json.dumps({"events": events, "written": written, "marker": marker}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
