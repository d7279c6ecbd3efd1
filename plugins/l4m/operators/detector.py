"""Operators for the detector lifecycle: create, activate, back-test, detect.

Each takes the path of a detector definition file and calls one verb of
:class:`l4m.hooks.detector.DetectorHook`; the hook is created in ``execute``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from l4m.compat import AirflowFailException, AirflowSkipException, BaseOperator, Context

TRUE_WORDS = ("1", "true", "yes", "on")


class _DetectorOperator(BaseOperator):
    """Common arguments: the definition file and the connection for ``s3://`` roots."""

    template_fields: Sequence[str] = ("definition",)
    ui_color = "#f3e6ff"

    def __init__(self, *, definition: str, aws_conn_id: str | None = "aws_default",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.aws_conn_id = aws_conn_id

    def hook(self, context: Context | None = None):
        """The hook; with ``context``, the detector lock names this task try as its owner."""
        from l4m.hooks.detector import DetectorHook

        owner = None
        if context is not None:
            ti = context["ti"]
            owner = f"{ti.dag_id}/{ti.run_id}/{ti.task_id} try {ti.try_number}"
        return DetectorHook.from_file(self.definition, aws_conn_id=self.aws_conn_id,
                                      lock_owner=owner)


class CreateDetectorOperator(_DetectorOperator):
    """CreateAnomalyDetector (+ metric set and alerts) from a definition file; idempotent.

    A second run with the same definition changes nothing; a changed definition updates
    the detector (changing measures, dimensions, interval or timezone after it learned
    is refused).

    :param definition: path or URL of the detector definition JSON (templated).
    :param aws_conn_id: Airflow connection for ``s3://`` storage roots.
    :return: ``{"AnomalyDetectorArn": ...}``
    """

    def execute(self, context: Context) -> dict:
        return self.hook(context).create_detector()


class ActivateDetectorOperator(_DetectorOperator):
    """ActivateAnomalyDetector: learn from HistoricalDataPathList, or start cold.

    Does nothing when the detector is already active (ACTIVE or LEARNING).

    :param definition: path or URL of the detector definition JSON (templated).
    :param create_if_missing: create the detector first when it does not exist
        (the scheduled DAG's "ensure the detector exists and is active").
    :param aws_conn_id: Airflow connection for ``s3://`` storage roots.
    :return: DescribeAnomalyDetector after activation.
    """

    def __init__(self, *, create_if_missing: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.create_if_missing = create_if_missing

    def execute(self, context: Context) -> dict:
        hook = self.hook(context)
        if self.create_if_missing:
            hook.create_detector()
        described = hook.activate_detector()
        self.log.info("Detector %s is %s", hook.spec.name, described["Status"])
        return described


class BackTestDetectorOperator(_DetectorOperator):
    """BackTestAnomalyDetector: learn on the oldest 70 % of the history, detect in the
    newest 30 %; results in the seed layout under ``<results>/backtest/``.

    :param definition: path or URL of the detector definition JSON (templated).
    :param enabled: run the backtest; a falsy value ("false", "0", "") skips the task
        (templated, e.g. ``"{{ params.backtest }}"``).
    :param aws_conn_id: Airflow connection for ``s3://`` storage roots.
    :return: the backtest summary (intervals, anomalies per measure, groups, out_dir).
    """

    template_fields: Sequence[str] = ("definition", "enabled")

    def __init__(self, *, enabled: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enabled = enabled

    def execute(self, context: Context) -> dict:
        if str(self.enabled).strip().lower() not in TRUE_WORDS:
            raise AirflowSkipException("backtest not requested")
        return self.hook(context).back_test_detector()


class DetectAnomaliesOperator(_DetectorOperator):
    """Detect anomalies in one interval: the scheduled run's job.

    Loads the detector state from before the interval, reads the interval's files at
    the definition's templated paths, writes the results in the seed layout and saves
    the state after the interval as a new version. An interval without data is
    processed as a gap (no anomalies). Rerunning a detected interval writes nothing and
    returns its marker; input that changed since is reported in
    ``<results>/dataChanges/`` (see ``docs/detector.md``).

    :param definition: path or URL of the detector definition JSON (templated).
    :param interval_start: start of the interval to detect (templated; default the
        run's ``data_interval_start``).
    :param sensitivity: write anomalies with severity at or above this (0–100).
    :param aws_conn_id: Airflow connection for ``s3://`` storage roots.
    :return: the interval marker (anomalies per measure, groups, metrics scored).
    """

    template_fields: Sequence[str] = ("definition", "interval_start")

    def __init__(self, *, interval_start: Any = "{{ data_interval_start }}",
                 sensitivity: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.interval_start = interval_start
        self.sensitivity = sensitivity

    def execute(self, context: Context) -> dict:
        from l4m.hooks.detector import IntervalNotDetectable

        try:
            marker = self.hook(context).detect_interval(self.interval_start,
                                                        sensitivity=self.sensitivity)
        except IntervalNotDetectable as exc:       # retrying cannot help: fail at once
            raise AirflowFailException(str(exc)) from exc
        self.log.info("Interval %s: %s anomalies, %s groups", marker["IntervalStart"],
                      marker["Anomalies"], marker["AnomalyGroups"])
        return marker
