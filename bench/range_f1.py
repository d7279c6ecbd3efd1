"""Range-based precision, recall and F1 (Tatbul et al., NeurIPS 2018), flat bias, alpha = 0.

Definitions for one series, with real ranges R_1..R_Nr (runs of labelled points) and
predicted ranges P_1..P_Np (runs of flagged points):

    Recall_T    = (1/Nr) * sum_i  alpha * Existence(R_i, P) + (1 - alpha) * Overlap(R_i, P)
    Precision_T = (1/Np) * sum_j  Overlap(P_j, R)
    Overlap(X, Ys) = CardinalityFactor(X, Ys) * sum_k omega(X, X n Y_k)

with alpha = 0 (no reward for mere existence), flat positional bias, so
omega(X, X n Y) = |X n Y| / |X|, and CardinalityFactor = 1 when X overlaps at most one
range of the other side, else 1/x for x overlapping ranges (the reciprocal gamma).
Because the ranges of one side are disjoint, sum_k |X n Y_k| = |X n union(Ys)|.

Aggregation over series is micro: the per-range rewards and the range counts are
summed over all series before dividing (the same as scoring all series laid end to end
with gaps). Conventions follow /work/shared/tools/events.py: recall is NaN without any
real range, precision is 0 without any predicted range.
"""

from __future__ import annotations

import numpy as np


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive start and end indices of the True runs of a 1-D mask."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def _overlap_rewards(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Sum over the ranges X of mask ``x`` of Overlap(X, ranges of ``y``); and their count."""
    starts, ends = _runs(x)
    if starts.size == 0:
        return 0.0, 0
    covered = np.concatenate([[0], np.cumsum(y.astype(np.int64))])
    y_starts = np.concatenate([[0], np.cumsum(np.diff(y.astype(np.int8), prepend=0) == 1)])
    inter = covered[ends + 1] - covered[starts]
    # ranges of y touching [s, e]: those starting inside (s, e] plus one already running at s
    touching = y_starts[ends + 1] - y_starts[starts + 1] + y[starts].astype(int)
    cardinality = np.where(touching > 1, 1.0 / np.maximum(touching, 1), 1.0)
    return float(np.sum(cardinality * inter / (ends - starts + 1))), int(starts.size)


def range_counts(labels: np.ndarray, flags: np.ndarray) -> tuple[float, int, float, int]:
    """(recall reward sum, real ranges, precision reward sum, predicted ranges) of one series."""
    labels = np.asarray(labels).astype(bool)
    flags = np.asarray(flags).astype(bool)
    rec, n_real = _overlap_rewards(labels, flags)
    prec, n_pred = _overlap_rewards(flags, labels)
    return rec, n_real, prec, n_pred


def range_f1(labels: np.ndarray, flags: np.ndarray) -> dict:
    """Range-based P/R/F1 over the columns of (T, S) ``labels`` and ``flags`` (or 1-D)."""
    labels = np.asarray(labels)
    flags = np.asarray(flags)
    if labels.ndim == 1:
        labels, flags = labels[:, None], flags[:, None]
    tot = np.zeros(4)
    for j in range(labels.shape[1]):
        tot += range_counts(labels[:, j], flags[:, j])
    rec_sum, n_real, prec_sum, n_pred = tot
    recall = rec_sum / n_real if n_real else float("nan")
    precision = prec_sum / n_pred if n_pred else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "real_ranges": int(n_real),
        "predicted_ranges": int(n_pred),
    }


def _self_check() -> None:
    """Hand-computed cases of the definition."""

    def close(a, b):
        assert abs(a - b) < 1e-12, (a, b)

    z = np.zeros(20, dtype=int)
    # perfect detection
    lab = z.copy()
    lab[3:6] = 1
    lab[10:12] = 1
    r = range_f1(lab, lab)
    close(r["precision"], 1.0)
    close(r["recall"], 1.0)
    close(r["f1"], 1.0)
    # half of a 4-long range found by one 2-long prediction inside it
    lab = z.copy()
    lab[4:8] = 1
    pr = z.copy()
    pr[4:6] = 1
    r = range_f1(lab, pr)
    close(r["recall"], 0.5)
    close(r["precision"], 1.0)
    close(r["f1"], 2 / 3)
    # one real range split over two predictions: cardinality 1/2 on recall
    lab = z.copy()
    lab[2:8] = 1  # 6 points
    pr = z.copy()
    pr[2:4] = 1
    pr[6:8] = 1  # 4 of them, in two ranges
    r = range_f1(lab, pr)
    close(r["recall"], 0.5 * 4 / 6)
    close(r["precision"], 1.0)
    # one prediction spanning two real ranges: cardinality 1/2 on precision
    lab = z.copy()
    lab[2:4] = 1
    lab[6:8] = 1
    pr = z.copy()
    pr[2:8] = 1
    r = range_f1(lab, pr)
    close(r["recall"], 1.0)
    close(r["precision"], 0.5 * 4 / 6)
    # a false alarm and a miss: alpha = 0, so no existence reward either
    lab = z.copy()
    lab[2:4] = 1
    pr = z.copy()
    pr[10:12] = 1
    r = range_f1(lab, pr)
    close(r["recall"], 0.0)
    close(r["precision"], 0.0)
    close(r["f1"], 0.0)
    # range at the very start and end of the series
    lab = z.copy()
    lab[0:2] = 1
    lab[18:20] = 1
    pr = z.copy()
    pr[0:1] = 1
    pr[17:20] = 1
    r = range_f1(lab, pr)
    close(r["recall"], (0.5 + 1.0) / 2)
    close(r["precision"], (1.0 + 2 / 3) / 2)
    # micro aggregation over two series: counts add up before dividing
    lab2 = np.stack([np.r_[1, 1, 0, 0], np.r_[0, 0, 1, 0]], axis=1)
    pr2 = np.stack([np.r_[1, 0, 0, 0], np.r_[0, 0, 0, 0]], axis=1)
    r = range_f1(lab2, pr2)
    close(r["recall"], 0.5 / 2)
    close(r["precision"], 1.0)
    # no flags at all
    r = range_f1(lab2, np.zeros_like(lab2))
    close(r["precision"], 0.0)
    close(r["f1"], 0.0)
    print("range_f1 self-check: 8 passed, 0 failed")


if __name__ == "__main__":
    _self_check()
