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

from dataclasses import dataclass, field

import numpy as np

from .calendar import Calendar
from .params import ModelParams
from .robust import nanmedian_last

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
    extra: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, calendar: Calendar, params: ModelParams, n_series: int) -> "ModelState":
        state = cls(calendar, params, *[np.empty(0)] * len(STATE_ARRAYS))
        state._allocate(n_series)
        return state

    @property
    def n_series(self) -> int:
        return int(self.unit.shape[0])

    def _allocate(self, n: int) -> None:
        p, w = self.calendar.per_day, self.calendar.per_week
        lw = self.params.level_window(self.calendar)
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
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def score_block(state: ModelState, numbers: np.ndarray, x: np.ndarray) -> BlockScores:
    """Score and learn one block: ``numbers`` increasing interval numbers of one day,
    ``x`` (len(numbers), S) raw values with NaN where a metric has no value.
    """
    cal, prm = state.calendar, state.params
    numbers = np.asarray(numbers, dtype=np.int64)
    if state.last_interval is not None and numbers[0] <= state.last_interval:
        raise ValueError(
            f"interval {int(numbers[0])} is not after the last processed one "
            f"({state.last_interval}): intervals must be processed in order, once")
    day = int(cal.day_number(numbers[0]))
    if state.last_day != day:
        known = state.scale_n > 0
        total = np.where(known, state.scale, 0.0).sum(axis=1)
        state.scale_mean = np.where(known.any(axis=1), total / np.maximum(known.sum(axis=1), 1),
                                    np.nan).astype(np.float32)
        state.last_day = day

    observed = ~np.isnan(x)
    new_units = np.isnan(state.unit) & observed.any(axis=0)
    if new_units.any():
        first = np.argmax(observed, axis=0)
        cols = np.flatnonzero(new_units)
        state.unit[cols] = _first_units(x[first[cols], cols])
    y = np.arcsinh(x / state.unit)

    k = cal.day_slot(numbers)
    q = cal.week_slot(numbers)
    base = state.base[:, k].T.astype(np.float64)
    week = state.week[:, q].T.astype(np.float64)
    resid_seasonal = y - base - week

    level = _level(state, numbers, resid_seasonal)
    resid = resid_seasonal - level
    sigma = _sigma(state, k)
    z = resid / sigma

    # Only metrics past their cold start are scored.
    seen_before = state.n_obs + np.cumsum(observed, axis=0) - observed
    scored = observed & (seen_before >= prm.warmup_intervals(cal)) & np.isfinite(z)
    z = np.where(scored, z, np.nan)

    fitted = base + week + level
    band = prm.z_threshold * sigma
    unit = state.unit
    scores = BlockScores(
        numbers=numbers, z=z,
        expected=unit * np.sinh(fitted),
        lower=unit * np.sinh(fitted - band),
        upper=unit * np.sinh(fitted + band),
    )
    _learn(state, numbers, k, q, y, level, resid, sigma, resid_seasonal, observed)
    return scores


def _level(state: ModelState, numbers: np.ndarray, resid_seasonal: np.ndarray) -> np.ndarray:
    """Median of the previous ``L`` seasonal residuals for every interval of the block."""
    lw = state.ring.shape[1]
    start = int(numbers[0])
    prev_numbers = np.arange(start - lw, start)
    prev = state.ring[:, prev_numbers % lw].T.astype(np.float64)
    if state.last_interval is None:
        prev[:] = np.nan
    else:
        prev[prev_numbers > state.last_interval] = np.nan   # a gap: nothing was seen there
        prev[prev_numbers <= state.last_interval - lw] = np.nan
    stacked = np.concatenate([prev, resid_seasonal], axis=0)
    windows = np.lib.stride_tricks.sliding_window_view(stacked, lw, axis=0)[: len(numbers)]
    level = nanmedian_last(windows)
    return np.nan_to_num(level, nan=0.0)


def _sigma(state: ModelState, k: np.ndarray) -> np.ndarray:
    """Noise scale per interval and metric: slot scale shrunk to the metric's mean scale."""
    prm = state.params
    slot = state.scale[:, k].T.astype(np.float64)
    n = np.minimum(state.scale_n[:, k].T, 1.0 / prm.alpha_scale)
    mean = state.scale_mean.astype(np.float64)
    mean = np.where(np.isnan(mean), slot, mean)
    slot = np.where(np.isnan(slot), mean, slot)
    n0 = prm.scale_prior_days
    sigma = np.sqrt((n * slot**2 + n0 * mean**2) / (n + n0))
    return np.maximum(sigma, prm.scale_floor)


def _learn(state, numbers, k, q, y, level, resid, sigma, resid_seasonal, observed) -> None:
    """Update profile, weekly correction, scales and residual ring from one block."""
    cal, prm = state.calendar, state.params
    clip = np.where(np.isnan(sigma), np.inf, prm.clip_sigmas * sigma)  # no scale yet: no clip
    clipped = np.clip(np.nan_to_num(resid, nan=0.0), -clip, clip)
    dev = np.where(observed, level + clipped, np.nan)  # how far y sits from base + week

    rows, cols = np.nonzero(observed)
    kk, qq = k[rows], q[rows]
    first = state.base_n[cols, kk] == 0
    seasoned = ~first & np.isfinite(dev[rows, cols])

    # Daily profile: set on first sight, then an early-average/EWMA step.
    fr, fc, fk = rows[first], cols[first], kk[first]
    state.base[fc, fk] = y[fr, fc] - state.week[fc, q[fr]] - level[fr, fc]
    sr, sc, sk, sq = rows[seasoned], cols[seasoned], kk[seasoned], qq[seasoned]
    d = dev[sr, sc]
    rate = np.maximum(1.0 / (state.base_n[sc, sk] + 1.0), prm.alpha_day)
    state.base[sc, sk] += rate * d

    # Scale: RMS of clipped residuals per slot (only once the slot had a profile).
    r2 = np.minimum(resid[sr, sc] ** 2, clip[sr, sc] ** 2)
    old = state.scale[sc, sk].astype(np.float64)
    srate = np.maximum(1.0 / (state.scale_n[sc, sk] + 1.0), prm.alpha_scale)
    state.scale[sc, sk] = np.sqrt(np.where(np.isnan(old), r2, (1 - srate) * old**2 + srate * r2))
    _bump(state.scale_n, sc, sk)

    if cal.per_week > cal.per_day:
        _learn_week(state, sr, sc, sk, sq, d * (1 - rate))
    _bump(state.base_n, cols, kk)

    lw = state.ring.shape[1]
    state.ring[:, numbers % lw] = resid_seasonal.T
    state.n_obs += observed.sum(axis=0).astype(np.int32)
    state.last_interval = int(numbers[-1])


def _learn_week(state, rows, cols, k, q, remaining) -> None:
    """Weekly correction: learn what the profile update left, keep it zero-mean per slot."""
    prm, cal = state.params, state.calendar
    rate = np.maximum(1.0 / (state.week_n[cols, q] + 1.0), prm.alpha_week)
    state.week[cols, q] += rate * remaining
    _bump(state.week_n, cols, q)
    # Re-centre the weekdays sharing this daily slot; move their mean into the profile.
    siblings = _sibling_slots(q, cal)
    mean = state.week[cols[:, None], siblings].mean(axis=1)
    state.week[cols[:, None], siblings] -= mean[:, None]
    state.base[cols, k] += mean


def _sibling_slots(q: np.ndarray, cal: Calendar) -> np.ndarray:
    """The weekly slots at the same time of day as each slot in ``q`` (one per weekday)."""
    days = cal.per_week // cal.per_day
    offset = q % cal.per_day
    return offset[:, None] + np.arange(days)[None, :] * cal.per_day


def _bump(counter: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Increment a saturating int16 counter at (rows, cols)."""
    counter[rows, cols] = np.minimum(counter[rows, cols].astype(np.int32) + 1, 30000)
