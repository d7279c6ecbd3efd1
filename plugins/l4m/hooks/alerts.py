"""Send a detector's alerts for one interval: to SNS and Lambda, once per alert event.

The operator :class:`~l4m.operators.alerts.SendAlertsOperator` and the notifier
:class:`~l4m.notifications.alerts.L4MAlertNotifier` both go through
:class:`L4MAlertsHook`. Files are read and written with Airflow's ``ObjectStoragePath``
(``file://`` or ``s3://`` through ``aws_conn_id``); AWS calls go through the amazon
provider's ``SnsHook.publish_to_target`` and ``LambdaHook.invoke_lambda`` only, with
the definition's ``Aws.BotocoreConfig`` (else the connection's ``config_kwargs``).
"""
from __future__ import annotations

import json
from functools import cached_property

from l4m.alerts import (
    DATA_MISSING,
    alert_payloads,
    alert_target,
    missing_data_payload,
    sns_fifo_ids,
    sns_message,
)
from l4m.compat import BaseHook, ObjectStoragePath
from l4m.intervals import interval_stamp
from l4m.io.storage import open_path, read_definition, write_text
from l4m.locations import resolve
from l4m.spec import AlertSpec, DetectorSpec

ALERTS_DIR = "alerts"
MISSING_DATA_DIR = "missingData"
PENDING, SENT = "pending", "sent"


class AlertDeliveryError(RuntimeError):
    """Some alerts were not delivered; they stay pending in the interval's alert record."""


class L4MAlertsHook(BaseHook):
    """Alerts of one detector definition: payloads from the results, delivery, a record.

    :param definition: path or URL of the detector definition JSON.
    :param aws_conn_id: Airflow AWS connection for SNS, Lambda and ``s3://`` files.
    :param region_name: AWS region of the SNS and Lambda clients; default: the region in
        each target's ARN.
    """

    def __init__(
        self, definition: str, *, aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
    ):
        super().__init__()
        self.definition = definition
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self._target_hooks: dict = {}

    def path(self, url: str) -> ObjectStoragePath:
        """``url`` as an ObjectStoragePath (remote ones through ``aws_conn_id``)."""
        return open_path(url, self.aws_conn_id)

    @cached_property
    def spec(self) -> DetectorSpec:
        """The validated definition."""
        return read_definition(self.definition, self.aws_conn_id)

    @cached_property
    def results(self) -> ObjectStoragePath:
        """The detector's results root."""
        return self.path(resolve(self.spec).results)

    def _interval_file(self, folder: str, suffix: str, epoch: int) -> ObjectStoragePath:
        return self.results / folder / f"{interval_stamp(epoch)}_{suffix}"

    # ------------------------------------------------------------------------ payloads

    def anomaly_alerts(self, epoch: int) -> tuple[int, list[tuple[AlertSpec, dict]]]:
        """(groups in the interval's group file, (alert, payload) of every alert to send)."""
        from l4m.io.results import GROUP_DIR

        path = self._interval_file(GROUP_DIR, "anomalyGroups.jsonl", epoch)
        if not path.exists():
            self.log.info("No anomaly group file %s: no anomalies in this interval", path)
            return 0, []
        groups = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        batch = [(alert, payload) for alert in self.spec.alerts
                 for payload in alert_payloads(self.spec, alert, groups, interval_epoch=epoch)]
        return len(groups), batch

    def missing_paths(self, epoch: int) -> list[str] | None:
        """The ``Paths`` (or ``paths``) of the interval's ``missingData`` file; ``None`` if absent."""
        path = self._interval_file(MISSING_DATA_DIR, "missingData.json", epoch)
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return list(record["Paths"] if "Paths" in record else record["paths"])

    def missing_data_alerts(
        self, epoch: int, paths: list[str], alert_name: str | None = None
    ) -> list[tuple[AlertSpec, dict]]:
        """(alert, data-missing payload) for every alert, or only ``alert_name``."""
        alerts = self.spec.alerts
        if alert_name is not None:
            alerts = tuple(alert for alert in alerts if alert.name == alert_name)
            if not alerts:
                known = ", ".join(a.name for a in self.spec.alerts) or "none"
                raise ValueError(f"no alert {alert_name!r} in the definition (alerts: {known})")
        return [(alert, missing_data_payload(self.spec, alert, interval_epoch=epoch, paths=paths))
                for alert in alerts]

    # ------------------------------------------------------------------------ delivery

    def deliver(self, epoch: int, batch: list[tuple[AlertSpec, dict]]) -> dict:
        """Send each payload the interval's alert record does not list as sent.

        The record ``<results>/alerts/<stamp>_alerts.jsonl`` has one line per alert event:
        ``alertName``, ``alertEventId``, ``target``, ``status``, ``payload``. New events
        are written ``pending`` before anything is sent; each is rewritten ``sent`` as
        soon as its target accepted it. A pending event (a failed send, or a run killed
        between writing the record and sending) is sent again, with the same
        ``alertEventId``; a line without ``status`` (older records) counts as sent.
        A failed send leaves its event pending with the ``error`` and does not stop the
        others; then :class:`AlertDeliveryError` names each alert, target and error.
        Returns the counts ``anomaly_alerts_sent``, ``data_missing_alerts_sent`` and
        ``already_sent``.

        A delivery holds the detector's lock (:class:`~l4m.io.lock.DetectorLock` on its
        state root) from reading the record to its last write, so two deliveries at once
        (the operator and the data-missing notifier, a manual rerun) take turns and the
        second sees what the first sent.
        """
        from l4m.io.lock import DetectorLock, default_owner

        with DetectorLock(resolve(self.spec).state, conn_id=self.aws_conn_id,
                          owner=f"alert delivery, {default_owner()}"):
            return self._deliver(epoch, batch)

    def _deliver(self, epoch: int, batch: list[tuple[AlertSpec, dict]]) -> dict:
        """:meth:`deliver`, under the lock."""
        path = self._interval_file(ALERTS_DIR, "alerts.jsonl", epoch)
        record = _read_record(path)
        counts = {"anomaly_alerts_sent": 0, "data_missing_alerts_sent": 0, "already_sent": 0}
        owed = []
        for alert, payload in batch:
            event = payload["alertEventId"]
            entry = record.get(event)
            if entry is not None and entry.get("status", SENT) == SENT:
                self.log.info("Alert event %s already sent (recorded in %s): not sending "
                              "it again", event, path)
                counts["already_sent"] += 1
                continue
            entry = record[event] = {"alertName": alert.name, "alertEventId": event,
                                     "target": alert_target(alert), "status": PENDING,
                                     "payload": payload}
            owed.append((alert, payload, entry))
        if owed:
            _write_record(path, record)     # the intent: what this run is about to send
        failures = []
        for alert, payload, entry in owed:
            try:
                self.send(alert, payload)
            except Exception as err:  # noqa: BLE001 - any failure: pending, sent on retry
                entry["error"] = f"{type(err).__name__}: {err}"
                failures.append(f"alert {alert.name} to {entry['target']}: {entry['error']}")
                continue
            entry["status"] = SENT
            entry.pop("error", None)
            _write_record(path, record)
            missing = payload.get("alertType") == DATA_MISSING
            counts["data_missing_alerts_sent" if missing else "anomaly_alerts_sent"] += 1
        if failures:
            _write_record(path, record)
            raise AlertDeliveryError(
                f"{len(failures)} of {len(owed)} alert(s) not delivered, kept pending in "
                f"{path} for the next try: " + "; ".join(failures))
        return counts

    def send(self, alert: AlertSpec, payload: dict) -> str:
        """Send one payload to the alert's SNS topic or Lambda function; return its ARN.

        SNS messages carry the ``alertEventId`` as a message attribute; to a FIFO topic
        they also carry it as the deduplication id (:func:`~l4m.alerts.sns_fifo_ids`).
        """
        target = alert_target(alert)
        if alert.lambda_arn:
            self._target_hook("lambda", target).invoke_lambda(
                function_name=target, invocation_type="Event", payload=json.dumps(payload))
        else:
            subject, message = sns_message(alert, payload)
            self._target_hook("sns", target).publish_to_target(
                target_arn=target, message=message, subject=subject,
                message_attributes={"alertEventId": payload["alertEventId"]},
                **sns_fifo_ids(target, payload))
        self.log.info("Sent alert %s event %s to %s", alert.name, payload["alertEventId"], target)
        return target

    def _target_hook(self, service: str, arn: str):
        """The amazon provider's hook for ``service`` in the target's region (one per region)."""
        region = self.region_name or arn.split(":")[3]
        key = (service, region)
        if key not in self._target_hooks:
            if service == "sns":
                from airflow.providers.amazon.aws.hooks.sns import SnsHook as hook_class
            else:
                from airflow.providers.amazon.aws.hooks.lambda_function import (
                    LambdaHook as hook_class,
                )
            self._target_hooks[key] = hook_class(
                aws_conn_id=self.aws_conn_id, region_name=region,
                config=self.spec.pipeline.aws.connection.botocore_config)
        return self._target_hooks[key]


def _read_record(path: ObjectStoragePath) -> dict[str, dict]:
    """The record's entries by ``alertEventId``, in file order ({} when absent)."""
    if not path.exists():
        return {}
    entries = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {entry["alertEventId"]: entry for entry in entries}


def _write_record(path: ObjectStoragePath, record: dict[str, dict]) -> None:
    """Rewrite the whole record (atomic: a temporary file and a rename, or one PUT)."""
    write_text(path, "".join(json.dumps(entry) + "\n" for entry in record.values()))

