"""Two runs of one detector at once: one proceeds, the other waits or fails clearly.

The runs are separate processes, as two schedulers, a manual trigger beside a scheduled
run, or a backfill beside the live schedule would start them. State is never written
from a stale base, and no interval is detected twice or skipped.
"""
from __future__ import annotations

import time

import boto3
import pytest
from helpers import activated, clone, make_dataset, result, run_child, start_child, visible
from l4m.io.lock import DetectorBusy, DetectorLock, LockLost
from moto import mock_aws

FIRST, SECOND = "2021-01-09T00:00:00Z", "2021-01-09T01:00:00Z"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrency")
    dataset = make_dataset(root / "data")
    home = root / "base"
    activated(dataset, home)
    return dataset, home


@pytest.fixture(scope="module")
def sequential(base, tmp_path_factory):
    """Both intervals detected one after the other: what any interleaving must give."""
    dataset, home = base
    ref = tmp_path_factory.mktemp("sequential")
    path = clone(home, dataset, ref)
    for start in (FIRST, SECOND):
        assert run_child(path, start).returncode == 0
    return ref


def hold_lock(path, seconds: float):
    holder = start_child(path, "--hold-lock", seconds)
    for line in holder.stdout:     # Airflow may log first
        if line.strip() == "locked":
            return holder
    pytest.fail(f"the holder never took the lock: {holder.stderr.read()[-1500:]}")


def test_a_run_that_cannot_get_the_lock_fails_naming_the_holder(base, tmp_path):
    dataset, home = base
    path = clone(home, dataset, tmp_path / "case")
    holder = hold_lock(path, 30)
    try:
        busy = run_child(path, FIRST, "--wait", 1)
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 1
    assert "is locked by another run" in busy.stderr
    assert f"child pid {holder.pid}" in busy.stderr
    assert visible(tmp_path / "case") == visible(home), "the refused run wrote something"


def test_a_waiting_run_goes_on_when_the_holder_ends(base, sequential, tmp_path):
    dataset, home = base
    path = clone(home, dataset, tmp_path / "case")
    holder = hold_lock(path, 4)
    began = time.monotonic()
    done = run_child(path, FIRST, "--wait", 120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.monotonic() - began > 2, "it did not wait for the holder"
    holder.wait()
    assert run_child(path, SECOND).returncode == 0
    assert visible(tmp_path / "case") == visible(sequential)


def test_the_same_interval_started_twice_at_once_is_detected_once(base, sequential, tmp_path):
    dataset, home = base
    path = clone(home, dataset, tmp_path / "case")
    runs = [start_child(path, FIRST, "--slow", 3) for _ in range(2)]
    outs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-1500:] for _, err in outs]
    reports = [result(type("Done", (), {"stdout": out, "returncode": 0})) for out, _ in outs]
    assert sorted(bool(r["written"]) for r in reports) == [False, True], \
        "exactly one run must write; the other finds the interval committed"
    assert reports[0]["marker"] == reports[1]["marker"]
    assert run_child(path, SECOND).returncode == 0
    assert visible(tmp_path / "case") == visible(sequential)


def test_a_later_interval_never_runs_before_an_earlier_one(base, sequential, tmp_path):
    dataset, home = base
    path = clone(home, dataset, tmp_path / "case")
    later, earlier = start_child(path, SECOND, "--slow", 3), start_child(path, FIRST, "--slow", 3)
    outs = {name: (run, *run.communicate(timeout=300))
            for name, run in (("later", later), ("earlier", earlier))}
    assert earlier.returncode == 0, outs["earlier"][2][-1500:]
    if later.returncode != 0:    # it took the lock first: refused, not skipped ahead
        assert "20210109_000000 is not detected yet" in outs["later"][2], \
            outs["later"][2][-1500:]
        assert run_child(path, SECOND).returncode == 0    # Airflow's retry
    assert visible(tmp_path / "case") == visible(sequential)


def test_the_first_scheduled_interval_cannot_be_skipped(base, tmp_path):
    dataset, home = base
    path = clone(home, dataset, tmp_path / "case")
    ahead = run_child(path, SECOND)     # FIRST (Schedule.StartDate) is not detected yet
    assert ahead.returncode == 1 and "20210109_000000 is not detected yet" in ahead.stderr
    assert visible(tmp_path / "case") == visible(home)


def test_an_old_interval_after_a_newer_one_is_refused(base, sequential, tmp_path):
    dataset, _ = base
    case = tmp_path / "case"
    path = clone(sequential, dataset, case)
    before = visible(case)
    again = run_child(path, "2021-01-08T22:00:00Z")      # before StartDate, learned history
    assert again.returncode == 1 and "starts before Schedule.StartDate" in again.stderr
    assert visible(case) == before


@mock_aws
def test_an_s3_lease_is_exclusive_and_a_stale_holder_cannot_write(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3").create_bucket(Bucket="l4m-state")
    url = "s3://l4m-state/detectors/ecommerce/state"
    first = DetectorLock(url, owner="first", conn_id=None, lease_seconds=0, wait_seconds=0)
    second = DetectorLock(url, owner="second", conn_id=None, wait_seconds=0)
    first.__enter__()
    time.sleep(0.01)               # first's zero-second lease has expired: its holder "died"
    with second:                   # taken over with If-Match on the stale lease's ETag
        with pytest.raises(LockLost):
            first.renew()          # the stale holder finds out before it writes state
        first.__exit__(None, None, None)   # and its release leaves second's lease alone
        second.renew()
        late = DetectorLock(url, owner="late", conn_id=None, wait_seconds=0)
        with pytest.raises(DetectorBusy, match="locked by another run.*second"):
            late.__enter__()
    with DetectorLock(url, owner="after", conn_id=None, wait_seconds=0):
        pass                       # released: free again
