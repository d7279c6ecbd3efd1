"""Small vectorised robust statistics (NaN-aware) used by the model."""
from __future__ import annotations

import numpy as np


def nanmedian_last(a: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN; NaN where a window has no value.

    Faster than ``np.nanmedian`` for the short windows the model uses: NaN sorts
    last, so the median sits at known positions once the valid values are counted.
    """
    s = np.sort(a, axis=-1)
    n = np.sum(~np.isnan(a), axis=-1)
    lo = np.maximum((n - 1) // 2, 0)
    hi = np.maximum(n // 2, 0)
    take_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    take_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    out = 0.5 * (take_lo + take_hi)
    out[n == 0] = np.nan
    return out
