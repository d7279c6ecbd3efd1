"""Wall time and peak memory of one detector run, in a fresh process.

:func:`run_isolated` runs ``bench.peers.PEERS[name]`` in a new (spawned) Python
process so each peer's peak RSS is its own, not the sum of everything loaded before
it. Peak RSS = the larger of the child's own ``ru_maxrss`` and a psutil sample (every
20 ms) of the child plus its subprocesses (Prophet fits in a cmdstan subprocess).
Before timing, a warm-up run on a small slice pays one-off costs (library import,
numba compilation, cmdstan start-up); it is reported separately as ``warmup_s``.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd
import psutil


class PeakRSS:
    """Context manager sampling RSS (MiB) of this process and its children."""

    def __init__(self, every: float = 0.02):
        self._proc = psutil.Process()
        self._every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        rss = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # child ended meanwhile
                continue
        self.peak_mb = max(self.peak_mb, rss / 2**20)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def __enter__(self) -> PeakRSS:  # noqa: PYI034
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        self.peak_mb = max(self.peak_mb, own)


def run_fresh(fn, *args) -> dict:
    """Call ``fn(*args)`` (returns a dict) in a new spawned process, so memory is its own."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fresh_child, args=(fn, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not proc.is_alive() and queue.empty():
                raise RuntimeError(f"{fn.__name__} died (exit code {proc.exitcode})") from None
    proc.join()
    if "error" in result:
        raise RuntimeError(f"{fn.__name__} failed:\n{result['error']}")
    return result


def _fresh_child(fn, args, queue) -> None:
    try:
        queue.put(fn(*args))
    except Exception:  # noqa: BLE001 - reported to the parent, which raises
        queue.put({"error": traceback.format_exc()})


def _peer_job(name, values, timestamps, train_end, kwargs) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from peers import PEERS

    return _timed(PEERS[name], values, timestamps, train_end, kwargs)


def _timed(fn, values, timestamps, train_end, kwargs) -> dict:
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        warm_rows = min(len(timestamps), 24 * 7 * 5)
        fn(values[:warm_rows, :1], timestamps[:warm_rows], int(warm_rows * 0.7), **kwargs)
        t1 = time.perf_counter()
        scores = fn(values, timestamps, train_end, **kwargs)
        t2 = time.perf_counter()
    return {"scores": scores, "warmup_s": t1 - t0, "wall_s": t2 - t1, "peak_rss_mb": mem.peak_mb}


def run_isolated(
    name: str, values: np.ndarray, timestamps: pd.DatetimeIndex, train_end: int, **kwargs
) -> dict:
    """Run peer ``name`` in a fresh process; return scores, warmup_s, wall_s, series_per_s,
    peak_rss_mb."""
    result = run_fresh(_peer_job, name, values, timestamps, train_end, kwargs)
    result["series_per_s"] = (
        values.shape[1] / result["wall_s"] if result["wall_s"] else float("inf")
    )
    return result
