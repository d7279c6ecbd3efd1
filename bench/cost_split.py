"""Where our backtest's time goes, and the least a day-recursive update can cost.

Two probes for the speed table's "what 100x asks for" columns, both on the same
aggregated matrix our timed backtest uses:

* :func:`model_seconds` – the model alone on the detection intervals: the same state
  update as detection (``Detector.learn`` runs it without scores), so the rest of the
  detection time is severity, groups, contributions and the per-interval results;
* :func:`minimal_recursion_seconds` – a deliberately bare day-recursive update (a daily
  profile and a noise scale per slot, learned one day at a time, 13 numpy calls a day;
  no weekly cycle, trend, gaps, cold start, severity or groups). It is not a detector:
  it measures the numpy dispatch cost any model that learns day by day pays on this
  panel, to compare with the time budget of the speed target.
"""
from __future__ import annotations

import time

import numpy as np
from l4m import runner

PROBE_REPEATS = 5


def model_seconds(spec, matrix, split: int) -> float:
    """Best time of the state update alone over ``matrix`` rows from ``split`` on."""
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        det = runner.new_detector(spec)
        det.state.grow(matrix.values.shape[1])     # what Detector.matrix does for new keys
        det.keys = matrix.keys
        det.learn(matrix.rows(slice(0, split)))
        t0 = time.perf_counter()
        det.learn(matrix.rows(slice(split, None)))
        best = min(best, time.perf_counter() - t0)
    return best


def minimal_recursion_seconds(values: np.ndarray, per_day: int) -> float:
    """Best time of the bare day-recursive update over the whole panel (see module doc)."""
    days = values.shape[0] // per_day
    if days < 2:
        return float("nan")
    y = np.arcsinh(np.nan_to_num(values[: days * per_day])).astype(np.float32)
    y = y.reshape(days, per_day, values.shape[1])
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        t0 = time.perf_counter()
        _bare_update(y)
        best = min(best, time.perf_counter() - t0)
    return best


def _bare_update(y: np.ndarray) -> np.ndarray:
    """z-scores of each day against a profile and scale learned from the days before."""
    base, var = y[0].copy(), np.full_like(y[0], 0.01)
    z = np.empty_like(y)
    for d in range(1, y.shape[0]):
        resid = y[d] - base
        scale = np.sqrt(var)
        z[d] = resid / scale
        np.clip(resid, -3 * scale, 3 * scale, out=resid)
        base += 0.15 * resid
        var *= 0.9
        var += 0.1 * resid * resid
    return z
