"""A detect run killed (SIGKILL) at every write step, then retried.

The retry must leave results and state byte-identical to an uninterrupted run, and at
no moment may a reader see a partial file: every visible file is either as before the
run or as the finished run writes it. Steps covered: the interval's result files, the
anomaly groups, the interval marker, data quality, and each file of the model state
(the version's ``detector.json`` last, the commit point).
"""
from __future__ import annotations

import pytest
from helpers import activated, clone, make_dataset, result, run_child, visible

INTERVAL = "2021-01-09T03:00:00Z"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """An activated detector that has detected the three intervals before INTERVAL."""
    root = tmp_path_factory.mktemp("crash")
    dataset = make_dataset(root / "data")
    home = root / "base"
    path = activated(dataset, home)
    for hour in range(3):
        done = run_child(path, f"2021-01-09T0{hour}:00:00Z")
        assert done.returncode == 0, done.stderr[-2000:]
    return dataset, home


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    dataset, home = base
    ref = tmp_path_factory.mktemp("reference")
    done = run_child(clone(home, dataset, ref), INTERVAL)
    assert done.returncode == 0, done.stderr[-2000:]
    return ref, result(done)


def test_every_changed_file_is_written_through_the_atomic_writer(base, reference):
    _, home = base
    ref, report = reference
    before, after = visible(home), visible(ref)
    changed = {name for name in after if before.get(name) != after[name]}
    counted = {str(p).split(str(ref) + "/", 1)[-1] for p in report["written"]}
    assert changed and changed <= counted, changed - counted
    assert report["events"] == 2 * len(report["written"])
    assert report["written"][-1].endswith("/detector.json") and "/versions/" in \
        report["written"][-1], "the state version's detector.json must be the last write"


def test_kill_at_every_write_step_then_retry_gives_the_uninterrupted_result(
        base, reference, tmp_path):
    dataset, home = base
    ref, report = reference
    before, expected = visible(home), visible(ref)
    for step in range(report["events"]):
        case = tmp_path / f"kill-{step}"
        path = clone(home, dataset, case)
        killed = run_child(path, INTERVAL, "--kill-at", step)
        assert killed.returncode == -9, (step, killed.stderr[-2000:])
        for name, data in visible(case).items():   # nothing partial is ever visible
            assert data in (before.get(name), expected.get(name)), (step, name)
        leftovers = [p.name for p in case.rglob(".*") if p.name != ".lock"]
        assert all(name.endswith(".tmp") for name in leftovers), leftovers
        retried = run_child(path, INTERVAL)
        assert retried.returncode == 0, (step, retried.stderr[-2000:])
        assert visible(case) == expected, f"retry after a kill at write step {step} differs"
        assert result(retried)["marker"] == report["marker"]
