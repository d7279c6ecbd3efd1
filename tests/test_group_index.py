"""Incremental anomalyGroups.jsonl (io.group_index) gives the bytes of a full rebuild;
state version pruning (io.state_store.prune_versions)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from l4m.io import group_index
from l4m.io.results import GROUP_DIR, consolidate_groups
from l4m.io.state_store import prune_versions
from l4m.io.storage import names, open_path


def full_rebuild(root: Path) -> bytes:
    """consolidate_groups as it was: read every group file, the newest one wins."""
    latest: dict[str, dict] = {}
    for name in names(root / GROUP_DIR, "*_anomalyGroups.jsonl"):
        for line in (root / GROUP_DIR / name).read_text().splitlines():
            group = json.loads(line)
            latest[group["AnomalyGroup"]["AnomalyGroupId"]] = group
    ordered = sorted(latest.values(), key=lambda g: (g["AnomalyGroup"]["StartTime"],
                                                     g["AnomalyGroup"]["PrimaryMetricName"]))
    return "".join(json.dumps(g, sort_keys=True) + "\n" for g in ordered).encode()


def group(gid: str, start: str, measure: str, rng: random.Random) -> dict:
    return {"AnomalyGroup": {"AnomalyGroupId": gid, "StartTime": start, "EndTime": start,
                             "PrimaryMetricName": measure,
                             "AnomalyGroupScore": round(rng.uniform(0, 100), 2)},
            "InterMetricImpactList": [],
            "AnomalyGroupTimeSeries": {"TimestampList": [start], "Note": "é\u2028\"x\""},
            "Value": rng.random()}


def write_groups(root: Path, hour: int, groups: list[dict]) -> str:
    name = f"20240101_{hour:02d}0000_anomalyGroups.jsonl"
    path = root / GROUP_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(g, sort_keys=True) + "\n" for g in groups))
    return name


def interval_groups(hour: int, rng: random.Random) -> list[dict]:
    """Groups touched at ``hour``: some continue from earlier hours (same id, new state)."""
    out = []
    for measure in ("views", "revenue"):
        if rng.random() < 0.7:
            start = max(0, hour - rng.randrange(3))
            out.append(group(f"{measure}-{start}", f"2024-01-01T{start:02d}:00:00Z", measure, rng))
    return out


def test_incremental_equals_full_rebuild(tmp_path):
    rng = random.Random(7)
    for hour in range(20):
        write_groups(tmp_path, hour, interval_groups(hour, rng))
        consolidate_groups(tmp_path)
        assert (tmp_path / "anomalyGroups.jsonl").read_bytes() == full_rebuild(tmp_path)
    assert (tmp_path / group_index.INDEX_NAME).exists()


def test_only_new_group_files_are_read(tmp_path, monkeypatch):
    rng = random.Random(1)
    for hour in range(5):
        write_groups(tmp_path, hour, interval_groups(hour, rng))
        consolidate_groups(tmp_path)
    newest = write_groups(tmp_path, 5, interval_groups(5, rng))
    read = []
    original = Path.read_bytes

    def spy(self, *args, **kwargs):
        read.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", spy)
    offsets = []
    read_from = group_index._read_from
    monkeypatch.setattr(group_index, "_read_from",
                        lambda path, offset: offsets.append(offset) or read_from(path, offset))
    size = (tmp_path / "anomalyGroups.jsonl").stat().st_size
    consolidate_groups(tmp_path)
    # the index, the newest covered file (is it unchanged?), the new one
    assert read == [group_index.INDEX_NAME, "20240101_040000_anomalyGroups.jsonl", newest]
    # the consolidated file is read (checked, merged) only from the lines the previous
    # update and this one can change, not from its start
    assert offsets and all(0 < offset < size for offset in offsets)
    assert (tmp_path / "anomalyGroups.jsonl").read_bytes() == full_rebuild(tmp_path)


def test_changed_index_or_files_rebuild(tmp_path):
    rng = random.Random(3)
    for hour in range(8):
        write_groups(tmp_path, hour, interval_groups(hour, rng))
    consolidate_groups(tmp_path)
    out, index = tmp_path / "anomalyGroups.jsonl", tmp_path / group_index.INDEX_NAME

    # The newest file rewritten with other groups (a retried interval): rebuilt.
    write_groups(tmp_path, 7, [group("views-7", "2024-01-01T07:00:00Z", "views", rng)])
    consolidate_groups(tmp_path)
    assert out.read_bytes() == full_rebuild(tmp_path)

    # An older file rewritten (a replay into the same folder) needs rebuild=True.
    write_groups(tmp_path, 3, [group("views-3", "2024-01-01T03:00:00Z", "views", rng)])
    consolidate_groups(tmp_path, rebuild=True)
    assert out.read_bytes() == full_rebuild(tmp_path)

    # Nothing new: nothing is written.
    before = (out.stat().st_mtime_ns, index.stat().st_mtime_ns)
    consolidate_groups(tmp_path)
    assert (out.stat().st_mtime_ns, index.stat().st_mtime_ns) == before

    # A covered file removed, a corrupt index, an edited consolidated file: rebuilt.
    write_groups(tmp_path, 9, interval_groups(9, rng))
    (tmp_path / GROUP_DIR / "20240101_020000_anomalyGroups.jsonl").unlink()
    consolidate_groups(tmp_path)
    assert out.read_bytes() == full_rebuild(tmp_path)
    index.write_text("{not json")
    consolidate_groups(tmp_path)
    assert out.read_bytes() == full_rebuild(tmp_path)
    out.write_bytes(out.read_bytes()[:-10])
    consolidate_groups(tmp_path)
    assert out.read_bytes() == full_rebuild(tmp_path)


def test_no_group_files_gives_an_empty_file(tmp_path):
    consolidate_groups(tmp_path)
    assert (tmp_path / "anomalyGroups.jsonl").read_bytes() == b""
    write_groups(tmp_path, 0, interval_groups(0, random.Random(0)) or [
        group("views-0", "2024-01-01T00:00:00Z", "views", random.Random(0))])
    consolidate_groups(tmp_path)
    assert (tmp_path / "anomalyGroups.jsonl").read_bytes() == full_rebuild(tmp_path)


def make_version(root: Path, stamp: str, complete: bool = True) -> None:
    folder = root / stamp
    folder.mkdir(parents=True)
    (folder / "model.npz").write_bytes(b"x")
    if complete:
        (folder / "detector.json").write_text("{}")


@pytest.mark.parametrize("object_storage", [False, True])
def test_prune_versions_keeps_the_newest(tmp_path, object_storage):
    root = tmp_path / "versions"
    for hour in range(6):
        make_version(root, f"20240101_{hour:02d}0000")
    make_version(root, "20231231_230000", complete=False)       # an old leftover
    make_version(root, "20240101_060000", complete=False)       # a save in progress
    target = open_path(str(root)) if object_storage else root
    deleted = prune_versions(target, 2)
    assert deleted == ["20231231_230000", *(f"20240101_{h:02d}0000" for h in range(4))]
    assert sorted(p.name for p in root.iterdir()) == [
        "20240101_040000", "20240101_050000", "20240101_060000"]
    assert prune_versions(target, 2) == []
    with pytest.raises(ValueError):
        prune_versions(target, 0)


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_write_keeping_prefix(tmp_path, monkeypatch, kernel_copy):
    from l4m.io.storage import write_keeping_prefix

    if not kernel_copy:
        monkeypatch.delattr("os.copy_file_range", raising=False)
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"a" * 3_000_000 + b"old tail")
    write_keeping_prefix(path, 3_000_000, b"new tail")
    assert path.read_bytes() == b"a" * 3_000_000 + b"new tail"
    remote = open_path(str(path))
    write_keeping_prefix(remote, 2, b"!")
    assert path.read_bytes() == b"aa!"
    with pytest.raises(OSError, match="fewer than 10 bytes"):
        write_keeping_prefix(path, 10, b"x")
    assert path.read_bytes() == b"aa!" and [p.name for p in tmp_path.iterdir()] == ["f.jsonl"]
