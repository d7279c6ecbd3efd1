"""Alert payloads in Lookout for Metrics' shape (SEED-SYSTEM §3), built from anomaly groups.

:func:`alert_payloads` turns the anomaly groups of one interval (the lines of
``anomalyGroups/<stamp>_anomalyGroups.jsonl``) into the payloads one alert sends;
:func:`missing_data_payload` is the "data missing" extension; :func:`sns_message`
renders a payload in the alert's ``SnsFormat`` and :func:`sns_fifo_ids` gives the ids a
FIFO topic needs. Pure Python: no I/O, no Airflow, no
boto3. Delivery is :class:`l4m.hooks.alerts.L4MAlertsHook`; see ``docs/alerts.md``.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

from l4m.intervals import utc_epoch
from l4m.spec import AlertSpec, DetectorSpec

ALERT_NAMESPACE = uuid.UUID("8d7f3a52-1c4b-5e0f-9b2d-4a6c1e7f0b93")
DATA_MISSING = "DATA_MISSING"
SUBJECT_MAX = 100  # SNS Subject limit


def alert_target(alert: AlertSpec) -> str:
    """The ARN the alert sends to: its SNS topic or its Lambda function."""
    return alert.sns_topic_arn or alert.lambda_arn


def detector_arn(spec: DetectorSpec, alert: AlertSpec | None = None) -> str:
    """The L4M-style detector ARN, in the partition, region and account of ``alert``'s
    target (default: the first alert's; ``local``/``000000000000`` without alerts)."""
    alert = alert or (spec.alerts[0] if spec.alerts else None)
    partition, region, account = (_arn_parts(alert_target(alert)) if alert
                                  else ("aws", "local", "000000000000"))
    return f"arn:{partition}:lookoutmetrics:{region}:{account}:AnomalyDetector:{spec.name}"


def alert_arns(spec: DetectorSpec, alert: AlertSpec) -> tuple[str, str]:
    """(anomalyDetectorArn, alertArn), in the partition, region and account of the target."""
    detector = detector_arn(spec, alert)
    return detector, f"{detector.rsplit(':AnomalyDetector:', 1)[0]}:Alert:{alert.name}"


def alert_event_id(spec: DetectorSpec, alert: AlertSpec, key: str, interval_epoch: int) -> str:
    """``<alertArn>:event/<uuid>``; the uuid depends only on the detector, alert, key and interval."""
    name = f"{spec.name}/{alert.name}/{key}/{interval_epoch}"
    return f"{alert_arns(spec, alert)[1]}:event/{uuid.uuid5(ALERT_NAMESPACE, name)}"


def zoned_timestamp(epoch: int, timezone: str) -> str:
    """Java ``ZonedDateTime.toString()`` of an instant: ``2021-02-14T05:00+01:00[Europe/Paris]``."""
    local = dt.datetime.fromtimestamp(epoch, ZoneInfo(timezone))
    clock = local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")
    seconds = int(local.utcoffset().total_seconds())
    if seconds == 0:
        offset = "Z"
    else:
        sign, seconds = ("+" if seconds > 0 else "-"), abs(seconds)
        offset = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
        if seconds % 60:
            offset += f":{seconds % 60:02d}"
    return f"{clock}{offset}[{timezone}]"


def alert_payloads(
    spec: DetectorSpec, alert: AlertSpec, groups: list[dict], *, interval_epoch: int
) -> list[dict]:
    """The payloads ``alert`` sends for the anomaly groups of one interval, in group order.

    A group is sent when its ``AnomalyGroupScore`` reaches the threshold, its measure is
    in ``AlertFilters.MetricList`` (if given) and at least one of its series anomalous at
    this interval passes ``AlertFilters.DimensionFilterList`` (if given).
    ``relevantTimeSeries`` lists those series with their value at this interval;
    ``dimensionContribution`` is the whole group's, unfiltered.
    """
    payloads = []
    for group in groups:
        summary = group["AnomalyGroup"]
        measure = summary["PrimaryMetricName"]
        if summary["AnomalyGroupScore"] < alert.sensitivity_threshold:
            continue
        if alert.metric_filter is not None and measure not in alert.metric_filter:
            continue
        series = _relevant_series(group["AnomalyGroupTimeSeries"], interval_epoch, alert)
        if not series:
            continue
        impact = next(m for m in summary["MetricLevelImpactList"] if m["MetricName"] == measure)
        key = summary["AnomalyGroupId"]
        payloads.append({
            **_envelope(spec, alert, key, interval_epoch),
            "impactedMetric": {
                "metricName": measure,
                "dimensionContribution": [
                    {"dimensionName": d["DimensionName"], "dimensionValueContributions": [
                        {"dimensionValue": v["DimensionValue"],
                         "valueContribution": v["ContributionScore"]}
                        for v in d["DimensionValueContributionList"]]}
                    for d in impact["ContributionMatrix"]["DimensionContributionList"]],
                "relevantTimeSeries": series,
            },
            "timestamp": zoned_timestamp(interval_epoch, spec.timezone),
            "anomalyScore": summary["AnomalyGroupScore"],
        })
    return payloads


def missing_data_payload(
    spec: DetectorSpec, alert: AlertSpec, *, interval_epoch: int, paths: list[str]
) -> dict:
    """The "data missing" payload (an extension): the envelope, ``alertType``, ``missingPaths``."""
    envelope = _envelope(spec, alert, DATA_MISSING, interval_epoch)
    return {
        **envelope,
        "alertType": DATA_MISSING,
        "missingPaths": list(paths),
        "timestamp": zoned_timestamp(interval_epoch, spec.timezone),
    }


def sns_fifo_ids(topic_arn: str, payload: dict) -> dict:
    """``publish_to_target`` arguments for a FIFO topic (``….fifo``); none otherwise.

    The deduplication id is the uuid of the ``alertEventId``: SNS drops a second
    publish of the same event within its 5-minute deduplication interval. The message
    group is the alert, so one alert's messages keep their order.
    """
    if not topic_arn.endswith(".fifo"):
        return {}
    return {"message_group_id": payload["alertName"],
            "message_deduplication_id": payload["alertEventId"].rsplit("/", 1)[-1]}


def sns_message(alert: AlertSpec, payload: dict) -> tuple[str, str]:
    """(Subject, Message) of a payload in the alert's SnsFormat (JSON when unset)."""
    lines = _text_lines(payload)
    subject = lines[0][:SUBJECT_MAX]
    if alert.sns_format == "LONG_TEXT":
        return subject, "\n".join(lines) + "\n"
    if alert.sns_format == "SHORT_TEXT":
        return subject, _short_text(payload)
    return subject, json.dumps(payload)


# ---------------------------------------------------------------------------- helpers


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN."""
    _, partition, _, region, account, _ = arn.split(":", 5)
    return partition, region, account


def _envelope(spec: DetectorSpec, alert: AlertSpec, key: str, interval_epoch: int) -> dict:
    detector_arn, alert_arn = alert_arns(spec, alert)
    return {
        "alertName": alert.name,
        "alertEventId": alert_event_id(spec, alert, key, interval_epoch),
        "anomalyDetectorArn": detector_arn,
        "alertArn": alert_arn,
        "alertDescription": alert.description,
    }


def _relevant_series(time_series: dict, interval_epoch: int, alert: AlertSpec) -> list[dict]:
    """The group's series anomalous at the interval that pass the alert's dimension filter."""
    stamps = [utc_epoch(text) for text in time_series["TimestampList"]]
    if interval_epoch not in stamps:
        return []
    at = stamps.index(interval_epoch)
    relevant = []
    for series in time_series["TimeSeriesList"]:
        value = series["MetricValueList"][at]
        values = {d["DimensionName"]: d["DimensionValue"] for d in series["DimensionList"]}
        if value is None or any(
            values.get(name) not in allowed for name, allowed in alert.dimension_filter.items()
        ):
            continue
        relevant.append({
            "timeSeriesId": series["TimeSeriesId"],
            "dimensions": [{"dimensionName": d["DimensionName"],
                            "dimensionValue": d["DimensionValue"]}
                           for d in series["DimensionList"]],
            "metricValue": value,
        })
    return relevant


def _detector_name(payload: dict) -> str:
    return payload["anomalyDetectorArn"].rsplit(":AnomalyDetector:", 1)[-1]


def _combo(series: dict) -> str:
    return ", ".join(f"{d['dimensionName']}={d['dimensionValue']}" for d in series["dimensions"])


def _text_lines(payload: dict) -> list[str]:
    """LONG_TEXT lines; the first one is also the SNS Subject."""
    name = payload["alertName"]
    if payload.get("alertType") == DATA_MISSING:
        lines = [f"L4M alert {name}: data missing for {payload['timestamp']}",
                 f"Anomaly detector: {_detector_name(payload)}",
                 f"Interval: {payload['timestamp']}"]
        if payload["alertDescription"]:
            lines.append(f"Description: {payload['alertDescription']}")
        lines.append("No data was found at:")
        lines += [f"  {path}" for path in payload["missingPaths"]]
    else:
        metric = payload["impactedMetric"]
        series = metric["relevantTimeSeries"]
        lines = [f"L4M alert {name}: anomaly in {metric['metricName']} at {payload['timestamp']}",
                 f"Anomaly detector: {_detector_name(payload)}",
                 f"Interval: {payload['timestamp']}",
                 f"Severity score: {payload['anomalyScore']}"]
        if payload["alertDescription"]:
            lines.append(f"Description: {payload['alertDescription']}")
        lines.append("Dimension contributions (%):")
        lines += [f"  {d['dimensionName']}: " + ", ".join(
            f"{v['dimensionValue']} {v['valueContribution']}"
            for v in d["dimensionValueContributions"])
            for d in metric["dimensionContribution"]]
        lines.append(f"Impacted time series ({len(series)}):")
        lines += [f"  {_combo(s) or '(all)'}: {metric['metricName']} = {s['metricValue']}"
                  for s in series]
    lines.append(f"Alert event: {payload['alertEventId']}")
    return lines


def _short_text(payload: dict) -> str:
    """SHORT_TEXT: one line."""
    name = payload["alertName"]
    if payload.get("alertType") == DATA_MISSING:
        paths = payload["missingPaths"]
        return (f"L4M alert {name}: data missing for {payload['timestamp']}"
                + (f" at {paths[0]}" if paths else "")
                + (f" and {len(paths) - 1} more path(s)" if len(paths) > 1 else ""))
    metric = payload["impactedMetric"]
    top = ", ".join(
        f"{d['dimensionName']}={d['dimensionValueContributions'][0]['dimensionValue']} "
        f"({d['dimensionValueContributions'][0]['valueContribution']}%)"
        for d in metric["dimensionContribution"] if d["dimensionValueContributions"])
    return (f"L4M alert {name}: {metric['metricName']} anomaly at {payload['timestamp']}, "
            f"score {payload['anomalyScore']}, "
            f"{len(metric['relevantTimeSeries'])} time series"
            + (f", top: {top}" if top else ""))
