"""Send a detector's alerts for one interval, in Lookout for Metrics' payload shape."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from l4m.compat import BaseOperator, Context
from l4m.hooks.alerts import L4MAlertsHook
from l4m.intervals import utc_epoch


class SendAlertsOperator(BaseOperator):
    """Send the alerts of the definition for the anomaly groups of one interval.

    Reads ``<results>/anomalyGroups/<stamp>_anomalyGroups.jsonl`` (no file: no
    anomalies), sends every alert's payloads to its SNS topic or Lambda function and
    records them in ``<results>/alerts/<stamp>_alerts.jsonl``: pending before the
    sends, sent after each. Events recorded as sent are not sent again, so a cleared or
    retried task does not repeat alerts; pending ones (a failed send) are. A failed
    send fails the task after the other sends, naming the alert, target and error.
    See ``docs/alerts.md``.

    :param definition: path or URL of the detector definition JSON. (templated)
    :param interval_start: start of the interval, a datetime or an ISO-8601 string;
        without a UTC offset, UTC. (templated)
    :param aws_conn_id: Airflow AWS connection for SNS, Lambda and ``s3://`` files.
    :param region_name: AWS region of the SNS and Lambda clients; default: each target
        ARN's region.
    :param send_missing_data_alerts: also send the data-missing payload to every alert
        when ``<results>/missingData/<stamp>_missingData.json`` exists.
    :return: (XCom) ``groups`` read and the counts ``anomaly_alerts_sent``,
        ``data_missing_alerts_sent``, ``already_sent``.
    """

    template_fields: Sequence[str] = ("definition", "interval_start")

    def __init__(
        self,
        *,
        definition: str,
        interval_start: str | dt.datetime = "{{ data_interval_start }}",
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        send_missing_data_alerts: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.definition = definition
        self.interval_start = interval_start
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.send_missing_data_alerts = send_missing_data_alerts

    def execute(self, context: Context) -> dict:
        hook = L4MAlertsHook(self.definition, aws_conn_id=self.aws_conn_id,
                             region_name=self.region_name)
        epoch = utc_epoch(self.interval_start)
        groups, batch = hook.anomaly_alerts(epoch)
        if self.send_missing_data_alerts:
            paths = hook.missing_paths(epoch)
            if paths is not None:
                batch += hook.missing_data_alerts(epoch, paths)
        counts = {"groups": groups, **hook.deliver(epoch, batch)}
        self.log.info("Alerts for %s: %s", self.interval_start, counts)
        return counts
