"""Synthetic labelled data shaped like the L4M tutorial "ecommerce" dataset.

Hourly, 3 platforms x 7 marketplaces = 21 series, measures ``views`` and ``revenue``.

``easy``  (the tutorial generator's shape) per series a daily cosine: offset 100-200, peak
    200-400 above it at hour 12-21 UTC, uniform noise +-2..+-10. An anomaly starts at any hour
    with probability 0.005 and shifts views by +-100..600 for 1-5 hours (overlaps add up);
    views are clamped at 0 and rounded; revenue = round(0.3 x views, 2); both measures are
    labelled while a shift is active (~1.5 % of hours). Nothing is missing.

``realistic``  varied per series, so that a detector has to generalise:
    * level: 3000-8000 x marketplace size x platform share x lognormal(0, 0.3), i.e. ~50-3500
      views/h; 3 random non-US series are sparse (mean 1-5/h, many zeros);
    * daily profile in local time (UTC offset per marketplace): exp of a 24 h cosine
      (amplitude 0.3-0.9, peak 12-21 h) plus a 12 h harmonic (0-0.3);
    * weekly cycle: Saturday/Sunday x (1 +- 0.05..0.4 per marketplace, +0.1 mobile_app,
      -0.1 pc_web, +-0.05 per series), clipped to 0.5..1.6;
    * trend: 30 % of series flat, the others grow or shrink geometrically by up to +-30 %;
    * noise: Poisson(mean x Gamma multiplier with cv): cv 0.04-0.12 for series >= 300/h
      (multiplicative), else pure Poisson or cv 0.1-0.35 (negative binomial), 0.4-0.8 if sparse;
    * revenue = views x price, price per series 0.05-0.5 (x currency: jp 110, uk 0.8, EU 0.9)
      with lognormal hourly noise sd 0.03-0.15, rounded to 2 decimals;
    * missing rows: runs of 1-3 hours starting with probability 0.005 per series and hour
      (~1 %), plus ``days // 20`` (at least 1) whole hours missing for all series.
    Anomalies (labels 1 while active, both measures unless said otherwise), one at a time per
    series with >= 3 free hours between two:
    (a) spikes/dips of 1-6 h, p = 0.002 per series-hour, sized in noise sd of the local mean
        (30 % subtle 4-6 sd, else 7-15 sd; dips deeper than 85 % and dips in sparse series
        become spikes);
    (b) outages to 0 for 1-4 h, p = 0.0006 (not in sparse series);
    (c) dimension-wide incidents: all series of one marketplace (60 %) or platform (40 %)
        x (1 -+ 0.25..0.6), drops 2 in 3, for 1-3 h; about one per week of the anomaly window;
    (d) permanent level shifts x (1 +- 0.3..0.6), only the first 3 h labelled; one per ~20 days
        of the anomaly window (at least 1);
    (e) price glitches: price x 0.2-0.5 or x 1.8-3 for 1-4 h, p = 0.0004, labelled on revenue
        only (views are normal).
    That is ~0.4-0.45 % of series-hours starting an anomaly. No anomaly starts in the first
    ``min(14, days // 2)`` days, so that a cold-started detector gets clean history. Missing
    rows are labelled 0 (this can shorten or remove an event).

Every component draws from its own child of ``numpy.random.SeedSequence([seed, pattern])``:
the same arguments give byte-identical files (for a given numpy version).
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GENERATOR_VERSION = 1
PATTERNS = ("easy", "realistic")
PLATFORMS = ("mobile_app", "mobile_web", "pc_web")
MARKETPLACES = ("de", "es", "fr", "it", "jp", "uk", "us")
SERIES = [(p, m) for p in PLATFORMS for m in MARKETPLACES]  # sorted: platform, marketplace
S = len(SERIES)
INPUT_COLUMNS = ["platform", "marketplace", "timestamp", "views", "revenue"]
LABEL_COLUMNS = ["platform", "marketplace", "timestamp", "views_label", "revenue_label"]
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
UTC_OFFSET = {"de": 1, "es": 1, "fr": 1, "it": 1, "jp": 9, "uk": 0, "us": -5}
MARKET_SIZE = {"de": 0.4, "es": 0.12, "fr": 0.25, "it": 0.1, "jp": 0.3, "uk": 0.35, "us": 1.0}
CURRENCY = {"de": 0.9, "es": 0.9, "fr": 0.9, "it": 0.9, "jp": 110.0, "uk": 0.8, "us": 1.0}
PLATFORM_SHARE = {"mobile_app": 0.4, "mobile_web": 0.25, "pc_web": 0.35}
PLATFORM_WEEKEND = {"mobile_app": 0.1, "mobile_web": 0.0, "pc_web": -0.1}
# realistic anomaly rates: per series and hour of the anomaly window
P_SPIKE, P_OUTAGE, P_PRICE, P_MISSING_RUN = 0.002, 0.0006, 0.0004, 0.005
GAP = 3  # hours kept free between two anomalies of one series so labelled events stay apart


@dataclass(frozen=True)
class SynthPaths:
    """Where :func:`write_dataset` put its files."""

    root: Path
    backtest_input: Path
    live_dir: Path
    labels: Path
    definition: Path


def _rngs(seed: int, patterns: str, n: int) -> list[np.random.Generator]:
    """Independent generators per component, so one component never shifts another's draws."""
    ss = np.random.SeedSequence([seed, PATTERNS.index(patterns)])
    return [np.random.default_rng(child) for child in ss.spawn(n)]


def _easy(seed: int, T: int) -> dict[str, np.ndarray]:
    """Tutorial-like data: daily cosine + uniform noise + additive shifts (arrays shape S x T)."""
    r_base, r_noise, r_events = _rngs(seed, "easy", 3)
    offset, peak_height = r_base.uniform(100, 200, S), r_base.uniform(200, 400, S)
    peak_hour, noise = r_base.uniform(12, 21, S), r_base.uniform(2, 10, S)
    hod = np.arange(T) % 24
    phase = 2 * np.pi * (hod[None, :] - peak_hour[:, None]) / 24
    signal = offset[:, None] + peak_height[:, None] * (1 + np.cos(phase)) / 2
    signal += r_noise.uniform(-1, 1, (S, T)) * noise[:, None]
    shift, label = np.zeros((S, T)), np.zeros((S, T), dtype=np.int8)
    for s, t in np.argwhere(r_events.random((S, T)) < 0.005):
        d = int(r_events.integers(1, 6))
        shift[s, t:t + d] += r_events.choice([-1, 1]) * r_events.uniform(100, 600)
        label[s, t:t + d] = 1
    views = np.maximum(np.rint(signal + shift), 0).astype(np.int64)
    return {"views": views, "revenue": np.round(0.3 * views, 2), "views_label": label,
            "revenue_label": label.copy(), "_missing": np.zeros((S, T), dtype=bool)}


def _daily(hod: np.ndarray, a1: float, peak1: float, a2: float, peak2: float) -> np.ndarray:
    """Daily profile: exp of a 24 h cosine peaking at ``peak1`` plus a 12 h harmonic."""
    return np.exp(a1 * np.cos(2 * np.pi * (hod - peak1) / 24)
                  + a2 * np.cos(4 * np.pi * (hod - peak2) / 24))


def _baseline(rng: np.random.Generator, start: datetime.date, T: int) -> dict[str, np.ndarray]:
    """Per-series expected views (level x trend x daily x weekly cycle), noise cv and price."""
    level = rng.uniform(3000, 8000) * rng.lognormal(0, 0.3, S)
    level *= [MARKET_SIZE[m] * PLATFORM_SHARE[p] for p, m in SERIES]
    sparse = np.zeros(S, dtype=bool)
    sparse[rng.choice([i for i, (_, m) in enumerate(SERIES) if m != "us"], 3, replace=False)] = True
    level[sparse] = rng.uniform(1, 5, sparse.sum())
    # count noise (Poisson) times a gamma multiplier with this cv (0 = pure Poisson)
    cv = np.where(level >= 300, rng.uniform(0.04, 0.12, S),
                  np.where(rng.random(S) < 0.5, 0.0, rng.uniform(0.1, 0.35, S)))
    cv[sparse] = rng.uniform(0.4, 0.8, sparse.sum())  # overdispersed: many zeros
    weekend = {m: rng.choice([-1, 1]) * rng.uniform(0.05, 0.4) for m in MARKETPLACES}
    change = np.where(rng.random(S) < 0.3, 0.0, rng.uniform(-0.3, 0.3, S))
    a1, a2 = rng.uniform(0.3, 0.9, S), rng.uniform(0.0, 0.3, S)
    peak1, peak2 = rng.uniform(12, 21, S), rng.uniform(0, 24, S)
    h = np.arange(T)
    mu = np.empty((S, T))
    for i, (p, m) in enumerate(SERIES):
        local = h + UTC_OFFSET[m]  # hours since start, local time
        shape = (a1[i], peak1[i], a2[i], peak2[i])
        daily = _daily(local % 24, *shape) / _daily(np.arange(24), *shape).mean()
        dow = (start.weekday() + local // 24) % 7
        w = np.clip(1 + weekend[m] + PLATFORM_WEEKEND[p] + rng.normal(0, 0.05), 0.5, 1.6)
        trend = (1 + change[i]) ** (h / max(T - 1, 1))
        mu[i] = level[i] * trend * daily * np.where(dow >= 5, w, 1.0)
    price = rng.uniform(0.05, 0.5, S) * [CURRENCY[m] for _, m in SERIES]
    return {"mu": mu, "cv": cv, "sparse": sparse, "price": price,
            "price_sd": rng.uniform(0.03, 0.15, S)}


def _free(occ: np.ndarray, rows, t: int, d: int) -> bool:
    """Mark hours t..t+d-1 of ``rows`` as taken (with GAP around) if they are all still free."""
    if occ[rows, max(t - GAP, 0):t + d + GAP].any():
        return False
    occ[rows, t:t + d] = True
    return True


def _structural_events(rng, mult, occ, lab, eligible, lo: int) -> None:
    """Level shifts (+-30-60 %, first 3 hours labelled) and dimension-wide incidents.

    An incident moves every series sharing one marketplace or platform by 25-60 % (drop 2 in 3)
    for 1-3 hours; all those series are labelled on both measures.
    """
    T = mult.shape[1]
    window_days = (T - lo) / 24
    for _ in range(max(1, round(window_days / 20)) if T - lo > 3 else 0):
        s, t = int(rng.choice(np.flatnonzero(eligible))), int(rng.integers(lo, T - 3))
        factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.3, 0.6)
        if _free(occ, [s], t, 3):
            mult[s, t:] *= factor
            lab[:, s, t:t + 3] = 1
    for _ in range(max(1, round(window_days / 7)) if T - lo > 3 else 0):
        dim, values = (0, PLATFORMS) if rng.random() < 0.4 else (1, MARKETPLACES)
        value = values[rng.integers(len(values))]
        rows = [i for i, key in enumerate(SERIES) if key[dim] == value]
        d = int(rng.integers(1, 4))
        factor = 1 + (-1 if rng.random() < 2 / 3 else 1) * rng.uniform(0.25, 0.6)
        for _attempt in range(20):
            t = int(rng.integers(lo, T - d + 1))
            if _free(occ, rows, t, d):
                mult[rows, t:t + d] *= factor
                lab[:, rows, t:t + d] = 1
                break


def _spikes(rng, mu, cv, occ, lab, sparse, lo: int) -> None:
    """Spikes/dips of 1-6 hours sized in noise sd: 30 % subtle (4-6 sd), the rest 7-15 sd."""
    T = mu.shape[1]
    for s, t in np.argwhere(rng.random((S, T - lo)) < P_SPIKE):
        t += lo
        d, sign = min(int(rng.integers(1, 7)), T - t), rng.choice([-1, 1])
        k = rng.uniform(4, 6) if rng.random() < 0.3 else rng.uniform(7, 15)
        seg = mu[s, t:t + d]
        delta = k * np.sqrt(seg + (cv[s] * seg) ** 2)
        if sign < 0 and (sparse[s] or (delta > 0.85 * seg).any()):
            sign = 1  # a dip that deep would be an outage: make it a spike instead
        if _free(occ, [s], t, d):
            mu[s, t:t + d] = seg + sign * delta
            lab[:, s, t:t + d] = 1


def _bernoulli_events(rng, p, max_len, occ, eligible, lo: int):
    """Yield (series, start, duration) of non-overlapping events starting with probability p."""
    T = occ.shape[1]
    for s, t in np.argwhere(rng.random((S, T - lo)) < p):
        t, d = t + lo, int(rng.integers(1, max_len + 1))
        d = min(d, T - t)
        if eligible[s] and d > 0 and _free(occ, [s], t, d):
            yield s, t, d


def _realistic(seed: int, start: datetime.date, T: int) -> dict[str, np.ndarray]:
    """Realistic data (arrays shape S x T); see the module docstring."""
    r_base, r_struct, r_spike, r_noise, r_out, r_price, r_miss = _rngs(seed, "realistic", 7)
    b = _baseline(r_base, start, T)
    lo = min(14 * 24, (T // 24) // 2 * 24)  # anomaly-free history for a cold start
    eligible = ~b["sparse"]
    occ = np.zeros((S, T), dtype=bool)
    lab = np.zeros((2, S, T), dtype=np.int8)  # views, revenue
    mult = np.ones((S, T))
    _structural_events(r_struct, mult, occ, lab, eligible, lo)
    mu = b["mu"] * mult
    _spikes(r_spike, mu, b["cv"], occ, lab, b["sparse"], lo)
    gamma = np.ones((S, T))
    for s in np.flatnonzero(b["cv"] > 0):
        shape = 1 / b["cv"][s] ** 2
        gamma[s] = r_noise.gamma(shape, 1 / shape, T)
    views = r_noise.poisson(mu * gamma).astype(np.int64)
    for s, t, d in _bernoulli_events(r_out, P_OUTAGE, 4, occ, eligible, lo):
        views[s, t:t + d] = 0
        lab[:, s, t:t + d] = 1
    sd = b["price_sd"][:, None]
    price = b["price"][:, None] * np.exp(r_price.normal(0, 1, (S, T)) * sd - sd**2 / 2)
    for s, t, d in _bernoulli_events(r_price, P_PRICE, 4, occ, eligible, lo):
        glitch = r_price.uniform(0.2, 0.5) if r_price.random() < 0.5 else r_price.uniform(1.8, 3)
        price[s, t:t + d] *= glitch  # revenue-only anomaly: a wrong price, views are normal
        lab[1, s, t:t + d] = 1
    missing = np.zeros((S, T), dtype=bool)
    for s, t in np.argwhere(r_miss.random((S, T)) < P_MISSING_RUN):
        missing[s, t:t + int(r_miss.integers(1, 4))] = True
    missing[:, r_miss.choice(T, min(T, max(1, T // 480)), replace=False)] = True
    lab[:, missing] = 0
    return {"views": views, "revenue": np.round(views * price, 2), "views_label": lab[0],
            "revenue_label": lab[1], "_missing": missing}


def generate_frame(*, seed: int = 0, start: datetime.date = datetime.date(2021, 1, 1),
                   days: int = 60, patterns: str = "easy") -> pd.DataFrame:
    """All series x hours as one frame sorted by timestamp, platform, marketplace.

    Columns platform, marketplace, timestamp (naive UTC datetimes), views, revenue,
    views_label, revenue_label and ``_missing`` (True for rows absent from the written input).
    """
    if not isinstance(start, datetime.date) or isinstance(start, datetime.datetime):
        raise TypeError(f"start must be a datetime.date, not {start!r}")
    if patterns not in PATTERNS:
        raise ValueError(f"patterns must be one of {PATTERNS}, not {patterns!r}")
    if not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, not {days!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    T = days * 24
    data = _easy(seed, T) if patterns == "easy" else _realistic(seed, start, T)
    stamps = pd.date_range(pd.Timestamp(start), periods=T, freq="h")
    frame = pd.DataFrame({
        "platform": np.tile([p for p, _ in SERIES], T),
        "marketplace": np.tile([m for _, m in SERIES], T),
        "timestamp": np.repeat(stamps.to_numpy(), S),
    })
    for name, arr in data.items():  # (S, T) -> timestamp-major rows
        frame[name] = arr.T.reshape(-1)
    return frame


def _atomic_write(path: Path, text: str) -> None:
    """Write text through a temporary file in the same directory and os.replace it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _check_target(root: Path, args: dict) -> None:
    """Refuse to overwrite an existing ecommerce folder made with other arguments (or unknown)."""
    marker = root / "synth.json"
    if marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8"))
        if old != args:
            raise FileExistsError(
                f"{root} holds synthetic data made with {old}; refusing to overwrite it with "
                f"{args}. Choose another --out directory or delete {root}.")
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and was not written by l4m synth (no synth.json); "
                              "refusing to overwrite it. Choose another --out directory.")


def _definition(out: Path) -> dict:
    """The L4M detector definition that reads the written files."""
    base = f"file://{out.as_posix()}/ecommerce"
    return {
        "AnomalyDetectorName": "ecommerce",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricSetName": "ecommerce",
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"},
                           {"MetricName": "revenue", "AggregationFunction": "SUM"}],
            "DimensionList": ["platform", "marketplace"],
            "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "Timezone": "UTC",
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": [f"{base}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
                "HistoricalDataPathList": [f"{base}/backtest/"],
                "FileFormatDescriptor": {"CsvFormatDescriptor": {
                    "FileCompression": "NONE", "Charset": "UTF-8", "ContainsHeader": True,
                    "Delimiter": ",", "QuoteSymbol": "\""}}}},
        },
        "Alerts": [],
    }


def _write_live(live_dir: Path, rows: pd.DataFrame, lines: list[str], header: str) -> None:
    """One CSV per hour at live/yyyyMMdd/HHmm/yyyyMMdd_HHmmss.csv (rows are sorted by hour)."""
    stamps = rows["timestamp"].to_numpy()
    hours, first = np.unique(stamps, return_index=True)
    bounds = np.append(first, len(lines))
    names = pd.DatetimeIndex(hours).strftime("%Y%m%d/%H%M/%Y%m%d_%H%M%S.csv")
    for name, a, b in zip(names, bounds[:-1], bounds[1:]):
        path = live_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, header + "".join(lines[a:b]))


def write_dataset(out: Path, *, seed: int = 0, start: datetime.date = datetime.date(2021, 1, 1),
                  days: int = 60, patterns: str = "easy") -> SynthPaths:
    """Generate the data and write input.csv, live files, labels.csv and definition.json.

    Raises FileExistsError when ``out/ecommerce`` holds data written with other arguments.
    """
    out = Path(out).resolve()
    root = out / "ecommerce"
    paths = SynthPaths(root, root / "backtest" / "input.csv", root / "live",
                       root / "labels.csv", root / "definition.json")
    frame = generate_frame(seed=seed, start=start, days=days, patterns=patterns)  # validates
    args = {"generator": "l4m.synth", "version": GENERATOR_VERSION, "seed": seed,
            "start": start.isoformat(), "days": days, "patterns": patterns}
    _check_target(root, args)
    root.mkdir(parents=True, exist_ok=True)
    paths.backtest_input.parent.mkdir(parents=True, exist_ok=True)
    paths.live_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(root / "synth.json", json.dumps(args, indent=2) + "\n")

    rows = frame.loc[~frame["_missing"], INPUT_COLUMNS]
    body = rows.to_csv(index=False, header=False, lineterminator="\n",
                       date_format=TS_FORMAT, float_format="%.2f")
    lines = body.splitlines(keepends=True)
    header = ",".join(INPUT_COLUMNS) + "\n"
    _atomic_write(paths.backtest_input, header + body)
    _write_live(paths.live_dir, rows, lines, header)
    _atomic_write(paths.labels, frame[LABEL_COLUMNS].to_csv(
        index=False, lineterminator="\n", date_format=TS_FORMAT))
    _atomic_write(paths.definition, json.dumps(_definition(out), indent=2) + "\n")
    return paths
