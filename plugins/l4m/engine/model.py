"""The online seasonal model: state per metric and the update that scores new intervals.

Each metric (one measure for one combination of dimension values) is modelled in
``y = asinh(x / c)`` space, ``c`` being a per-metric unit: multiplicative (log-like)
for values much larger than ``c``, additive near zero, defined for zeros and negatives.

    y(t) = base[day slot] + week[week slot] + level(t) + noise * scale[day slot]

* ``base``  – the daily profile, learned per slot (one update per day),
* ``week``  – the weekly correction of that profile (zero-mean over the weekdays),
* ``level`` – the median of the last few seasonal residuals: it follows trends and
  adopts a level shift after half its window (the start is flagged, then adopted),
* ``scale`` – a robust noise scale per daily slot, shrunk to the metric's mean scale.

Updates are clipped at ``clip_sigmas`` scales, so an anomaly barely moves the model.
Intervals are processed in blocks that never cross a day boundary and never repeat
a slot, so a whole day can be scored with array operations and one interval at a
time gives exactly the same numbers: backtest, replay and the scheduled run share
this one function.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .arrays import zero_nan
from .calendar import Calendar
from .params import ModelParams

LEVEL_WINDOW = 12        # intervals whose residuals set the level
COUNTER_CAP = 30000      # update counters saturate (int16)

STATE_ARRAYS = (
    "unit", "n_obs", "base", "base_n", "week", "week_n", "scale", "scale_n",
    "scale_mean", "ring", "fb_level", "fb_sign",
)


@dataclass
class ModelState:
    """Everything the model remembers, as arrays with one row per metric."""

    calendar: Calendar
    params: ModelParams
    unit: np.ndarray           # (S,) transform unit c; NaN until the first value
    n_obs: np.ndarray          # (S,) observed intervals
    base: np.ndarray           # (S, per_day) daily profile
    base_n: np.ndarray         # (S, per_day) updates so far (early learning rate)
    week: np.ndarray           # (S, per_week) weekly correction
    week_n: np.ndarray         # (S, per_week)
    scale: np.ndarray          # (S, per_day) noise scale per daily slot
    scale_n: np.ndarray        # (S, per_day)
    scale_mean: np.ndarray     # (S,) mean slot scale, refreshed once per day
    ring: np.ndarray           # (S, L) recent seasonal residuals, indexed by interval % L
    fb_level: np.ndarray       # (S,) |z| of a deviation marked "not an anomaly" (0 = none)
    fb_sign: np.ndarray        # (S,) its direction (+1/-1), 0 = none
    last_interval: int | None = None
    last_day: int | None = None

    @classmethod
    def empty(cls, calendar: Calendar, params: ModelParams, n_series: int) -> ModelState:
        state = cls(calendar, params, *[np.empty(0)] * len(STATE_ARRAYS))
        state._allocate(n_series)
        return state

    @property
    def n_series(self) -> int:
        return int(self.unit.shape[0])

    def _allocate(self, n: int) -> None:
        p, w = self.calendar.per_day, self.calendar.per_week
        lw = LEVEL_WINDOW
        f32 = np.float32
        self.unit = np.full(n, np.nan)
        self.n_obs = np.zeros(n, np.int32)
        self.base = np.full((n, p), np.nan, f32)
        self.base_n = np.zeros((n, p), np.int16)
        self.week = np.zeros((n, w), f32)
        self.week_n = np.zeros((n, w), np.int16)
        self.scale = np.full((n, p), np.nan, f32)
        self.scale_n = np.zeros((n, p), np.int16)
        self.scale_mean = np.full(n, np.nan, f32)
        self.ring = np.full((n, lw), np.nan, f32)
        self.fb_level = np.zeros(n, f32)
        self.fb_sign = np.zeros(n, np.int8)

    def grow(self, n_new: int) -> None:
        """Add ``n_new`` metrics (new dimension combinations) with a cold start."""
        if n_new <= 0:
            return
        fresh = ModelState.empty(self.calendar, self.params, n_new)
        for name in STATE_ARRAYS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(fresh, name)]))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in STATE_ARRAYS}


@dataclass
class BlockScores:
    """Scores of a block of intervals: arrays of shape (intervals, metrics)."""

    numbers: np.ndarray
    z: np.ndarray              # signed robust z-score; NaN where not scored
    expected: np.ndarray       # expected value in the data's units
    lower: np.ndarray          # band outside which a value is an anomaly
    upper: np.ndarray


def _first_units(x: np.ndarray) -> np.ndarray:
    """Transform unit from a metric's first value: a tenth of it, at least 4 for counts.

    Small counts then stay on the near-linear part of asinh, where Poisson-like noise
    is not blown up the way a logarithm would blow it up near zero.
    """
    mag = np.abs(x)
    integral = np.isfinite(x) & (np.floor(x) == x)
    floor = np.where(integral, 4.0, np.maximum(mag * 1e-6, 1e-12))
    return np.maximum(0.1 * mag, floor)


def split_blocks(numbers: np.ndarray, calendar: Calendar) -> list[slice]:
    """Slices of consecutive interval numbers that stay within one day."""
    days = calendar.day_number(numbers)
    cuts = np.flatnonzero(np.diff(days) != 0) + 1
    edges = np.concatenate([[0], cuts, [len(numbers)]])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def score_block(state: ModelState, numbers: np.ndarray, x: np.ndarray) -> BlockScores:
    """Score and learn one block: ``numbers`` increasing interval numbers of one day,
    ``x`` (len(numbers), S) raw values with NaN where a metric has no value.

    Inside, arrays are (metrics, intervals) and float32, so every step is one dense
    array operation over the whole block.
    """
    return _step(state, numbers, x, with_scores=True)


def learn_block(state: ModelState, numbers: np.ndarray, x: np.ndarray) -> None:
    """:func:`score_block` without the scores (history): the same state afterwards."""
    _step(state, numbers, x, with_scores=False)


def _step(state: ModelState, numbers: np.ndarray, x: np.ndarray,
          with_scores: bool) -> BlockScores | None:
    cal = state.calendar
    numbers = np.asarray(numbers, dtype=np.int64)
    if state.last_interval is not None and numbers[0] <= state.last_interval:
        raise ValueError(
            f"interval {int(numbers[0])} is not after the last processed one "
            f"({state.last_interval}): intervals must be processed in order, once")
    day = int(cal.day_number(numbers[0]))
    if state.last_day != day:
        _refresh_scale_mean(state)
        state.last_day = day

    xs = np.asarray(x, dtype=np.float64).T
    observed = ~np.isnan(xs)
    new_units = np.isnan(state.unit) & observed.any(axis=1)
    if new_units.any():
        rows = np.flatnonzero(new_units)
        state.unit[rows] = _first_units(xs[rows, np.argmax(observed[rows], axis=1)])
    y = np.arcsinh(xs / state.unit[:, None]).astype(np.float32)

    kc = _columns(cal.day_slot(numbers))
    qc = _columns(cal.week_slot(numbers))
    base = state.base[:, kc]
    week = state.week[:, qc]
    resid_seasonal = y - base - week
    level = _level(state, numbers, resid_seasonal)
    resid = resid_seasonal - level
    sigma = _sigma(state, kc)
    scores = _scores(state, numbers, observed, base + week + level, resid, sigma) \
        if with_scores else None
    _learn(state, numbers, kc, qc, y, base, week, level, resid, sigma, observed)
    state.ring[:, numbers[-LEVEL_WINDOW:] % LEVEL_WINDOW] = resid_seasonal[:, -LEVEL_WINDOW:]
    state.n_obs += observed.sum(axis=1).astype(np.int32)
    state.last_interval = int(numbers[-1])
    return scores


def _scores(state: ModelState, numbers, observed, fitted, resid, sigma) -> BlockScores:
    """z-scores (metrics past their cold start only), expected values and bands."""
    cal, prm = state.calendar, state.params
    z = resid / sigma
    seen_before = state.n_obs[:, None] + np.cumsum(observed, axis=1) - observed
    scored = observed & (seen_before >= prm.warmup_intervals(cal)) & np.isfinite(z)
    fitted = fitted.astype(np.float64)
    band = prm.z_threshold * sigma.astype(np.float64)
    unit = state.unit[:, None]
    return BlockScores(
        numbers=numbers, z=np.where(scored, z, np.nan).T.astype(np.float64),
        expected=(unit * np.sinh(fitted)).T,
        lower=(unit * np.sinh(fitted - band)).T,
        upper=(unit * np.sinh(fitted + band)).T,
    )


def _columns(slots: np.ndarray):
    """A slice when the slots are consecutive (a whole or partial day), else the array."""
    if len(slots) and slots[-1] - slots[0] == len(slots) - 1:
        return slice(int(slots[0]), int(slots[-1]) + 1)
    return slots


def _refresh_scale_mean(state: ModelState) -> None:
    known = state.scale_n > 0
    total = np.where(known, state.scale, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    state.scale_mean = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def _level(state: ModelState, numbers: np.ndarray, resid_seasonal: np.ndarray) -> np.ndarray:
    """Robust level: the median of the previous 12 seasonal residuals.

    It ignores anomalies shorter than half the window and adopts a change that lasts
    longer. Intervals without a residual (gaps, cold start) count as 0, "no evidence
    of a shift", so every window has 12 values and the median sits at fixed positions.
    """
    lw = LEVEL_WINDOW
    start = int(numbers[0])
    prev_numbers = np.arange(start - lw, start)
    prev = state.ring[:, prev_numbers % lw]
    if state.last_interval is None:
        prev[:] = np.nan
    else:
        stale = (prev_numbers > state.last_interval) | (prev_numbers <= state.last_interval - lw)
        prev[:, stale] = np.nan                      # a gap: nothing was seen there
    stacked = zero_nan(np.concatenate([prev, resid_seasonal], axis=1))
    # The (metrics, intervals, 12) windows as a strided view: sliding_window_view's
    # argument checks cost more than the whole view on a small block.
    rows, step = stacked.strides
    windows = np.ndarray((stacked.shape[0], len(numbers), lw), stacked.dtype, stacked, 0,
                         (rows, step, step))
    ordered = np.sort(windows, axis=-1)
    return 0.5 * (ordered[..., lw // 2 - 1] + ordered[..., lw // 2])


def _sigma(state: ModelState, kc) -> np.ndarray:
    """Noise scale per metric and interval: slot scale shrunk to the metric's mean scale."""
    prm = state.params
    slot = state.scale[:, kc]
    n = np.minimum(state.scale_n[:, kc], np.float32(1.0 / prm.alpha_scale)).astype(np.float32)
    mean = state.scale_mean[:, None]
    mean = np.where(np.isnan(mean), slot, mean)
    slot = np.where(np.isnan(slot), mean, slot)
    n0 = np.float32(prm.scale_prior_days)
    sigma = np.sqrt((n * slot * slot + n0 * mean * mean) / (n + n0))
    return np.maximum(sigma, np.float32(prm.scale_floor))


def _learn(state, numbers, kc, qc, y, base, week, level, resid, sigma, observed) -> None:
    """Update profile, weekly correction and scales from one block (dense, per slot)."""
    cal, prm = state.calendar, state.params
    clip = np.where(np.isnan(sigma), np.inf, prm.clip_sigmas * sigma)   # no scale yet: no clip
    clipped = np.clip(zero_nan(resid), -clip, clip)
    dev = level + clipped                         # how far y sits from base + week
    base_n = state.base_n[:, kc]
    first = observed & (base_n == 0)
    seasoned = observed & (base_n > 0) & np.isfinite(dev)

    # Daily profile: set on first sight, then an early-average/EWMA step.
    rate = np.maximum(1.0 / (base_n + 1.0), prm.alpha_day).astype(np.float32)
    step = np.where(seasoned, rate * dev, 0.0)
    state.base[:, kc] = np.where(first, y - week - level, base + step)
    state.base_n[:, kc] = np.minimum(base_n + observed, COUNTER_CAP)

    # Scale: RMS of clipped residuals per slot (once the slot has a profile).
    r2 = np.minimum(resid * resid, clip * clip)
    old = state.scale[:, kc]
    scale_n = state.scale_n[:, kc]
    srate = np.maximum(1.0 / (scale_n + 1.0), prm.alpha_scale).astype(np.float32)
    new = np.sqrt(np.where(np.isnan(old), r2, (1 - srate) * old * old + srate * r2))
    state.scale[:, kc] = np.where(seasoned, new, old)
    state.scale_n[:, kc] = np.minimum(scale_n + seasoned, COUNTER_CAP)

    if cal.per_week > cal.per_day:
        # Weekly correction learns what the profile step left, then is re-centred per
        # time of day (zero mean over the weekdays), its mean moving into the profile.
        week_n = state.week_n[:, qc]
        wrate = np.maximum(1.0 / (week_n + 1.0), prm.alpha_week).astype(np.float32)
        state.week[:, qc] = week + np.where(seasoned, wrate * (dev - step), 0.0)
        state.week_n[:, qc] = np.minimum(week_n + seasoned, COUNTER_CAP)
        by_day = state.week.reshape(state.n_series, cal.per_week // cal.per_day, cal.per_day)
        # by_day[:, :, kc].mean(axis=1), exactly as numpy computes it, without its overhead
        mean = np.true_divide(np.add.reduce(by_day[:, :, kc], axis=1), np.intp(by_day.shape[1]),
                              casting="unsafe", dtype=np.float32)
        by_day[:, :, kc] -= mean[:, None, :]
        state.base[:, kc] += mean
