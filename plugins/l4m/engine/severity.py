"""From robust z-scores to L4M's 0–100 severity.

Severity grows with surprise (|z| past the threshold) and with breadth: when many
metrics of one measure deviate in the same interval, each of them is more severe
("a 10 % drop for 100 stores can be more severe than 15 % for one").
"""
from __future__ import annotations

import numpy as np

from .arrays import zero_nan
from .params import ModelParams


def breadth_factor(z: np.ndarray, measure_of: np.ndarray, n_measures: int,
                   prm: ModelParams) -> np.ndarray:
    """Per (interval, metric): 1 + gain * log2(1 + metrics moving together beyond chance).

    Chance deviations go both ways; a real event moves many metrics of a measure the
    same way. Breadth is the imbalance between metrics past the threshold upwards and
    downwards, less three binomial standard deviations, and it raises only the metrics
    that move with the majority, so 100,000 quiet metrics do not lend each other severity.
    """
    zz = zero_nan(z)
    rows = zz.shape[0]
    # Counts per (interval, measure) in one bincount each: row i's cells shifted by i * n.
    cells = (measure_of[None, :] + n_measures * np.arange(rows)[:, None]).ravel()
    size = rows * n_measures
    kp = np.bincount(cells, weights=(zz > prm.z_threshold).ravel(), minlength=size)
    km = np.bincount(cells, weights=(zz < -prm.z_threshold).ravel(), minlength=size)
    kp, km = kp.reshape(rows, n_measures), km.reshape(rows, n_measures)
    excess = np.maximum(np.abs(kp - km) - 3 * np.sqrt(kp + km) - 1, 0)
    boost = 1.0 + prm.breadth_gain * np.log2(1.0 + excess)
    with_majority = np.sign(zz) == np.sign(kp - km)[:, measure_of]
    return np.where(with_majority, boost[:, measure_of], 1.0)


def coherent_z(z: np.ndarray, groups: list[np.ndarray], prm: ModelParams) -> np.ndarray:
    """|z| raised where the metrics sharing a dimension value deviate together.

    ``groups`` holds, per dimension, a code per metric for (measure, value of that
    dimension). Per interval and code the clipped z-scores are pooled (sum / sqrt(n)):
    a 25 % drop on every series of one marketplace is a strong signal even when each
    series alone is within its noise. A metric takes its pooled score when it deviates
    itself (|z| ≥ ``coherence_min_z``) in the same direction. Clipping stops a single
    extreme metric from lending its surprise to its neighbours.
    """
    zz = zero_nan(z)
    out = np.abs(zz)
    if not groups:
        return out
    zc = np.clip(zz, -prm.coherence_clip, prm.coherence_clip)
    present = np.isfinite(z)
    own_ok = out >= prm.coherence_min_z
    rows = z.shape[0]
    for codes in groups:
        width = int(codes.max()) + 1 if len(codes) else 0
        # One bincount over the whole block: row i's codes are shifted by i * width.
        cells = (codes[None, :] + width * np.arange(rows)[:, None]).ravel()
        total = np.bincount(cells, weights=zc.ravel(), minlength=rows * width)
        count = np.bincount(cells, weights=present.ravel(), minlength=rows * width)
        pooled = total / np.sqrt(np.maximum(count, 1.0))
        member, members = pooled[cells].reshape(z.shape), count[cells].reshape(z.shape)
        agree = own_ok & (np.sign(member) == np.sign(zc)) & (members >= 2)
        out = np.where(agree, np.maximum(out, np.abs(member)), out)
    return out


def severity(z: np.ndarray, breadth: np.ndarray, damping: np.ndarray,
             prm: ModelParams) -> np.ndarray:
    """Severity 0–100 from |z| (after pooling); 0 for normal or unscored points."""
    excess = z * breadth - prm.z_threshold
    sev = 100.0 * (1.0 - np.exp(-np.maximum(excess, 0.0) * np.log(2.0) / prm.z_half))
    return np.round(sev * damping, 2)


def feedback_damping(z: np.ndarray, fb_level: np.ndarray, fb_sign: np.ndarray,
                     prm: ModelParams) -> np.ndarray:
    """Damp deviations like one a user marked "not an anomaly" on the same metric.

    Alike = same direction and at most 1.5x the |z| of the marked deviation.
    """
    zz = zero_nan(z)
    alike = (fb_sign != 0) & (np.sign(zz) == fb_sign) & (np.abs(zz) <= 1.5 * fb_level)
    return np.where(alike, prm.feedback_damping, 1.0)


def z_of_severity(score: float, prm: ModelParams) -> float:
    """The |z| that alone gives severity ``score`` (inverse of :func:`severity`)."""
    share = min(max(float(score), 0.0), 99.99) / 100.0
    return prm.z_threshold - np.log(1.0 - share) * prm.z_half / np.log(2.0)
