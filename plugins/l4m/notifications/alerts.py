"""A notifier that sends a detector's "data missing" alert for the task's interval."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from l4m.compat import BaseNotifier, Context
from l4m.hooks.alerts import L4MAlertsHook
from l4m.intervals import interval_paths, utc_epoch


class L4MAlertNotifier(BaseNotifier):
    """Send the data-missing payload to the definition's alerts (or one of them).

    Meant as the ``on_failure_callback`` of the sensor that waits for an interval's
    data: when it times out, every alert's target hears that the interval's data is
    missing. The paths listed are those of ``<results>/missingData/<stamp>_missingData.json``
    when it exists, else the definition's templated paths filled in for the interval.
    Events go into the same record as :class:`~l4m.operators.alerts.SendAlertsOperator`'s,
    so neither sends one twice.

    :param definition: path or URL of the detector definition JSON. (templated)
    :param alert_name: send only to this alert; default every alert. (templated)
    :param interval_start: start of the interval, a datetime or an ISO-8601 string;
        without a UTC offset, UTC. (templated)
    :param aws_conn_id: Airflow AWS connection for SNS, Lambda and ``s3://`` files.
    :param region_name: AWS region of the SNS and Lambda clients; default: each target
        ARN's region.
    """

    template_fields: Sequence[str] = ("definition", "alert_name", "interval_start")

    def __init__(
        self,
        *,
        definition: str,
        alert_name: str | None = None,
        interval_start: str | dt.datetime = "{{ data_interval_start }}",
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
    ):
        super().__init__()
        self.definition = definition
        self.alert_name = alert_name
        self.interval_start = interval_start
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def notify(self, context: Context) -> None:
        hook = L4MAlertsHook(self.definition, aws_conn_id=self.aws_conn_id,
                             region_name=self.region_name)
        epoch = utc_epoch(self.interval_start)
        paths = hook.missing_paths(epoch)
        if paths is None:
            paths = interval_paths(hook.spec, epoch)
        counts = hook.deliver(epoch, hook.missing_data_alerts(epoch, paths, self.alert_name))
        self.log.info("Data-missing alerts for %s: %s", self.interval_start, counts)
