"""Persist a detector (model arrays, metric keys, open groups) in a local folder.

``model.npz`` holds the arrays uncompressed (loading and saving 100,000 metrics takes
a fraction of a second); ``keys.csv`` the metric keys; ``detector.json`` everything
else and is written last, so a folder with a ``detector.json`` is always complete.
"""
from __future__ import annotations

import dataclasses
import io
import json
import shutil

import numpy as np
import pandas as pd

from ..engine.calendar import Calendar
from ..engine.detector import Detector
from ..engine.groups import GroupTracker
from ..engine.model import STATE_ARRAYS, ModelState
from ..engine.params import ModelParams
from .storage import local, names, read_bytes, write_bytes, write_text

FORMAT_VERSION = 1


def save_detector(detector: Detector, folder) -> None:
    """Save into ``folder`` (a Path or an ObjectStoragePath); ``detector.json`` goes last."""
    buf = io.BytesIO()
    np.savez(buf, **detector.state.arrays())
    write_bytes(folder / "model.npz", buf.getvalue())
    write_text(folder / "keys.csv", detector.keys.to_csv(index=False))
    meta = {
        "format": FORMAT_VERSION,
        "name": detector.name,
        "measures": detector.measures,
        "dimensions": detector.dimensions,
        "interval_seconds": detector.calendar.interval_seconds,
        "utc_offset_seconds": detector.calendar.utc_offset_seconds,
        "params": dataclasses.asdict(detector.params),
        "last_interval": detector.state.last_interval,
        "last_day": detector.state.last_day,
        "groups": detector.tracker.to_state(),
    }
    write_text(folder / "detector.json", json.dumps(meta, indent=1, sort_keys=True))


def prune_versions(root, keep: int) -> list[str]:
    """Delete the versions under ``root`` (``<state>/versions``) older than the newest
    ``keep`` complete ones; return the names deleted, oldest first.

    A deleted version's ``detector.json`` goes first, so a folder being deleted never
    looks complete to a reader. Incomplete folders (no ``detector.json``) are deleted
    only when older than every kept version: a newer one may be a save in progress.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (got {keep})")
    found = names(root)
    complete = [n for n in found if (root / n / "detector.json").exists()]
    if len(complete) <= keep:
        return []
    oldest_kept = complete[-keep]
    doomed = [n for n in found if n < oldest_kept]
    for name in doomed:
        folder = root / name
        on_disk = local(folder)
        (folder / "detector.json").unlink(missing_ok=True)
        if on_disk is not None:
            shutil.rmtree(on_disk, ignore_errors=True)
        else:                                   # an object store has no folders to remove
            for item in folder.iterdir():
                item.unlink(missing_ok=True)
    return doomed


def load_detector(folder) -> Detector:
    """Load a detector saved by :func:`save_detector` (a Path or an ObjectStoragePath)."""
    meta = json.loads(read_bytes(folder / "detector.json"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder}: unsupported detector state format {meta.get('format')!r}")
    calendar = Calendar(meta["interval_seconds"], meta["utc_offset_seconds"])
    params = ModelParams(**meta["params"])
    dims = meta["dimensions"]
    keys = pd.read_csv(io.BytesIO(read_bytes(folder / "keys.csv")), dtype=str,
                       keep_default_na=False)
    state = ModelState.empty(calendar, params, 0)
    on_disk = local(folder)                 # a local file is read member by member
    source = on_disk / "model.npz" if on_disk is not None else \
        io.BytesIO(read_bytes(folder / "model.npz"))
    with np.load(source, allow_pickle=False) as arrays:
        for name in STATE_ARRAYS:
            setattr(state, name, arrays[name])
    state.last_interval, state.last_day = meta["last_interval"], meta["last_day"]
    return Detector(name=meta["name"], measures=[tuple(m) for m in meta["measures"]],
                    dimensions=dims, calendar=calendar, params=params, state=state,
                    keys=keys.astype(object), tracker=GroupTracker(meta["name"], meta["groups"]))
