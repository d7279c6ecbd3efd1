"""SendAlertsOperator killed (SIGKILL) at every step of delivery, then retried.

Steps: writing the alert record (its temporary file, its rename) before the sends and
after each one, and each SNS publish. Two alerts, one to a standard topic and one to a
FIFO topic, each with an SQS queue subscribed (moto server). After each kill the record
is whole or absent; the retry delivers every alert, leaves the record byte-identical to
an uninterrupted run's, and sends nothing the record already lists as sent. The one
window left, killed after SNS accepted a message but before the record says so, sends
that message again: delivered twice on the standard topic, once on the FIFO topic (its
deduplication id is the event's). Two deliveries of one interval at once take turns
on the detector's lock: each alert is sent once.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from alert_helpers import INTERVAL, deliveries, record, subscribed_topic, write_definition
from fakes.moto_server import moto_endpoint
from l4m.operators.alerts import SendAlertsOperator

CHILD = Path(__file__).with_name("alert_child.py")


@pytest.fixture(scope="module")
def aws():
    with moto_endpoint() as endpoint:
        yield (boto3.client("sns", endpoint_url=endpoint),
               boto3.client("sqs", endpoint_url=endpoint))


def prepare(aws, home: Path) -> dict:
    """A standard and a FIFO topic named after ``home``, each with a queue, and a
    definition alerting to both (standard first)."""
    queues = dict(subscribed_topic(*aws, home.name, fifo) for fifo in (False, True))
    return {"home": home, "queues": queues,
            "definition": write_definition(home, list(queues))}


def child(case: dict, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), case["definition"], INTERVAL,
                             *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> dict:
    """The RESULT report of a child that ran to the end."""
    out, err = process.communicate(timeout=120)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, err[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def retry(case: dict) -> dict:
    """The task's retry, as Airflow runs it (in this process)."""
    return SendAlertsOperator(task_id="send_alerts", definition=case["definition"],
                              interval_start=INTERVAL).execute(context={})


@pytest.fixture(scope="module")
def reference(aws, tmp_path_factory):
    case = prepare(aws, tmp_path_factory.mktemp("reference", numbered=False))
    report = finished(child(case))
    assert report["counts"] == {"anomaly_alerts_sent": 2, "data_missing_alerts_sent": 0,
                                "already_sent": 0, "groups": 1}
    assert [sorted(deliveries(aws[1], url).values()) for url in case["queues"].values()] == [
        [1], [1]]
    return case, report["events"]


def test_delivery_steps_are_counted(reference):
    _, events = reference
    # the intent (pending), then per alert: its send and the record saying sent
    assert events[:2] == ["write", "rename"]
    assert [label.split()[0] for label in events[2:]] == ["send", "write", "rename"] * 2
    assert events[5].endswith(".fifo")


def test_kill_at_every_delivery_step_then_retry_sends_each_alert_once(
        aws, reference, tmp_path):
    ref, events = reference
    expected = record(ref["home"]).read_text()
    cases = [prepare(aws, tmp_path / f"kill-{k}") for k in range(len(events))]
    killed = [child(case, "--kill-at", k) for k, case in enumerate(cases)]  # in parallel
    for k, (case, process) in enumerate(zip(cases, killed)):
        _, err = process.communicate(timeout=120)
        assert process.returncode == -9, (k, err[-3000:])
        path = record(case["home"])
        # once anything may have reached a target, the record lists every alert owed
        first_send = next(i for i, label in enumerate(events) if label.startswith("send "))
        assert path.exists() or k <= first_send, k
        if path.exists():                       # whole, never partial
            statuses = [json.loads(line)["status"] for line in path.read_text().splitlines()]
            assert len(statuses) == 2 and set(statuses) <= {"pending", "sent"}, k
        leftovers = [p.name for p in path.parent.glob(".*")] if path.parent.exists() else []
        assert all(name.endswith(".tmp") for name in leftovers), (k, leftovers)

        # sends the record calls sent (their rename happened) are not repeated
        sends = [i for i, label in enumerate(events[:k]) if label.startswith("send ")]
        durable = sum(events.index("rename", i) < k for i in sends)
        counts = retry(case)
        assert (counts["anomaly_alerts_sent"], counts["already_sent"]) == (2 - durable,
                                                                           durable), k
        final = path.read_text().replace(f"kill-{k}", "reference")
        assert final == expected, f"record after a kill at step {k} and a retry differs"

        # killed after SNS accepted a message, before the record said so: sent again
        window = {events[i].removeprefix("send ") for i in sends
                  if k <= events.index("rename", i)}
        for topic, url in case["queues"].items():
            twice = (topic.replace(f"kill-{k}", "reference") in window
                     and not topic.endswith(".fifo"))
            arrived = deliveries(aws[1], url)
            assert sorted(arrived.values()) == [2 if twice else 1], (k, topic, arrived)


def test_two_deliveries_at_once_send_each_alert_once(aws, tmp_path):
    """A second delivery (the notifier, a manual rerun) starting while the first is
    sending waits for the detector's lock, then finds every alert sent."""
    case = prepare(aws, tmp_path / "together")
    go = tmp_path / "go"
    second = child(case, "--start-when", go)      # imported and waiting
    first = child(case, "--slow-send", 2)
    deadline = time.monotonic() + 120
    while not record(case["home"]).exists():      # the first wrote its intent: sending
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    go.touch()
    reports = [finished(first), finished(second)]
    assert [(r["counts"]["anomaly_alerts_sent"], r["counts"]["already_sent"])
            for r in reports] == [(2, 0), (0, 2)]
    for url in case["queues"].values():
        assert sorted(deliveries(aws[1], url).values()) == [1]
