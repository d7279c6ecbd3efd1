"""Peer anomaly detectors for the side-by-side benchmark.

Every peer has the same interface::

    detect(values, timestamps, train_end) -> scores

- ``values``: float array (T, S), one column per series (measure x dimension
  combination), NaN where the interval is missing.
- ``timestamps``: hourly UTC ``pd.DatetimeIndex`` of length T.
- ``train_end``: rows ``[0, train_end)`` are history to learn from, rows
  ``[train_end, T)`` are scored.
- returns float array (T, S) of anomaly scores in [0, 100]; 0 = normal, rows
  before ``train_end`` and missing points are always 0.

Each peer is used the way its own documentation uses it for anomaly detection:

- ``adtk``: ``SeasonalAD`` per series (binary: 100 or 0).
- ``statsforecast``: ``MSTL`` in-sample fitted values with a 99 % interval.
- ``prophet``: forecast of the test range with a 99 % uncertainty interval.

The interval peers share one score: 0 inside the interval, 50 at its edge,
rising linearly to 100 at three half-widths from its centre (see
:func:`interval_score`), so "score >= 50" means exactly "outside the interval".

Libraries are imported inside the functions, so importing this module is cheap
and a missing peer library only breaks that peer.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

HOURS_PER_WEEK = 168


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Score how far ``y`` lies outside ``[lo, hi]`` on a 0-100 scale.

    0 inside the interval (and where any input is NaN), 50 just outside its edge,
    100 at (or beyond) three half-widths from the interval centre.
    """
    y, lo, hi = (np.asarray(a, dtype=float) for a in (y, lo, hi))
    centre = (hi + lo) / 2.0
    half = np.maximum((hi - lo) / 2.0, 1e-9)
    with np.errstate(invalid="ignore"):
        dist = np.abs(y - centre)
        outside = dist > half
        score = 50.0 + 50.0 * (dist - half) / (2.0 * half)
    score = np.where(outside, np.clip(score, 50.0, 100.0), 0.0)
    return np.nan_to_num(score, nan=0.0)


def _fill_gaps(col: np.ndarray) -> np.ndarray:
    """Linear interpolation of NaNs (edges take the nearest value); all-NaN -> 0."""
    s = pd.Series(col, dtype=float)
    if s.notna().sum() == 0:
        return np.zeros(len(s))
    return s.interpolate(limit_direction="both").to_numpy()


def _naive_index(timestamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """UTC wall-clock index without tz (what ADTK and Prophet expect), freq set to hourly."""
    idx = pd.DatetimeIndex(timestamps)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return pd.DatetimeIndex(idx, freq=pd.infer_freq(idx) or "h")


def detect_adtk(
    values: np.ndarray, timestamps: pd.DatetimeIndex, train_end: int, c: float = 3.0
) -> np.ndarray:
    """ADTK ``SeasonalAD(c=c, side="both")`` fitted on the history of each series.

    ADTK picks the seasonal period itself from the autocorrelation of the training
    series (daily or weekly on hourly data). ADTK refuses NaNs inside the training
    series, so training gaps are linearly interpolated; test gaps stay NaN and score 0.
    If ADTK finds no significant seasonality it raises (a constant series even fails
    inside its autocorrelation search); we then fall back to a daily period (24), the
    natural one for hourly business metrics. Output is binary:
    100 where ADTK flags the point, 0 elsewhere.
    """
    from adtk.detector import SeasonalAD

    idx = _naive_index(timestamps)
    scores = np.zeros(values.shape, dtype=float)
    for j in range(values.shape[1]):
        train = pd.Series(_fill_gaps(values[:train_end, j]), index=idx[:train_end])
        test = pd.Series(values[train_end:, j], index=idx[train_end:])
        with warnings.catch_warnings():  # ADTK 0.6.2 writes NaN into bool Series (pandas 2.x)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # acf of a constant series
            model = SeasonalAD(c=c, side="both")
            try:
                model.fit(train)
            except Exception:  # noqa: BLE001 - ADTK raises bare Exception for no seasonality
                model = SeasonalAD(freq=24, c=c, side="both")
                model.fit(train)
            flags = model.detect(test)
        scores[train_end:, j] = np.where(flags.eq(True).to_numpy(), 100.0, 0.0)
    return scores


def detect_statsforecast(
    values: np.ndarray,
    timestamps: pd.DatetimeIndex,
    train_end: int,
    level: int = 99,
    n_jobs: int = 1,
) -> np.ndarray:
    """statsforecast ``MSTL`` in-sample intervals (Nixtla's anomaly-detection idiom).

    Variant used: one fit per series on the *full* series (history and test rows),
    ``forecast(h=1, fitted=True, level=[99])`` then ``forecast_fitted_values()``; a
    test point is anomalous when it lies outside its in-sample 99 % interval, scored
    by :func:`interval_score`. Seasons are ``[24, 168]`` (daily + weekly), or ``[24]``
    when the history is shorter than three weeks. This is the documented idiom, not
    a multi-week-ahead forecast (which would be unfair to MSTL); note that it sees the
    test rows while fitting, which favours it. MSTL needs a regular grid without NaNs,
    so gaps are linearly interpolated for fitting and score 0.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL

    T, S = values.shape
    seasons = [24, HOURS_PER_WEEK] if train_end >= 3 * HOURS_PER_WEEK else [24]
    ds = _naive_index(timestamps)
    filled = np.column_stack([_fill_gaps(values[:, j]) for j in range(S)]) if S else values
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(S), T),
            "ds": np.tile(ds.to_numpy(), S),
            "y": filled.T.reshape(-1),
        }
    )
    sf = StatsForecast(models=[MSTL(season_length=seasons)], freq="h", n_jobs=n_jobs)
    sf.forecast(df=df, h=1, fitted=True, level=[level])
    fv = sf.forecast_fitted_values()
    fv = fv.sort_values(["unique_id", "ds"])
    lo = fv[f"MSTL-lo-{level}"].to_numpy().reshape(S, T).T
    hi = fv[f"MSTL-hi-{level}"].to_numpy().reshape(S, T).T
    scores = interval_score(values, lo, hi)
    scores[:train_end] = 0.0
    return scores


def detect_prophet(
    values: np.ndarray, timestamps: pd.DatetimeIndex, train_end: int, interval_width: float = 0.99
) -> np.ndarray:
    """Prophet fitted on the history of each series, forecasting the test range.

    Daily and weekly seasonality on, yearly off (the history is under two years,
    where Prophet's own default also turns it off); ``interval_width=0.99``. A test
    point is anomalous when it lies outside ``[yhat_lower, yhat_upper]``, scored by
    :func:`interval_score`. Prophet accepts irregular history, so missing training
    points are simply dropped; missing test points score 0. About seconds per
    series: callers may pass a subset of columns.
    """
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly missing" notice
    from cmdstanpy.utils import get_logger
    from prophet import Prophet

    get_logger().setLevel(logging.ERROR)  # creates cmdstanpy's handler first, then quiets it
    logging.getLogger("prophet").setLevel(logging.ERROR)
    idx = _naive_index(timestamps)
    future = pd.DataFrame({"ds": idx[train_end:]})
    scores = np.zeros(values.shape, dtype=float)
    for j in range(values.shape[1]):
        hist = pd.DataFrame({"ds": idx[:train_end], "y": values[:train_end, j]}).dropna()
        if len(hist) < 2:
            continue
        model = Prophet(
            interval_width=interval_width,
            daily_seasonality=True,
            weekly_seasonality=True,
            yearly_seasonality=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(hist)
            np.random.seed(j)  # Prophet samples its uncertainty interval with np.random
            fc = model.predict(future)
        scores[train_end:, j] = interval_score(
            values[train_end:, j], fc["yhat_lower"].to_numpy(), fc["yhat_upper"].to_numpy()
        )
    return scores


PEERS: dict[str, Callable[..., np.ndarray]] = {
    "adtk": detect_adtk,
    "statsforecast": detect_statsforecast,
    "prophet": detect_prophet,
}
