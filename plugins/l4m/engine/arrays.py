"""Small array helpers shared by the model and the severity code."""
from __future__ import annotations

import numpy as np


def zero_nan(a: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(a, nan=0.0)`` for a float array, without its per-call overhead
    (it is called several times per block, where a block may hold only a few metrics)."""
    info = np.finfo(a.dtype)
    out = np.where(np.isnan(a), 0, a)
    return np.minimum(np.maximum(out, info.min, out=out), info.max, out=out)
