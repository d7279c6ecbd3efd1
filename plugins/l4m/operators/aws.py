"""Operators that publish a detector's results on AWS: Glue crawl, Athena views, QuickSight.

Each takes the detector definition file and the amazon provider's usual AWS arguments
(``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``); the requests come
from the definition (:mod:`l4m.aws`). With ``skip_if_published`` an operator whose
requests are unchanged since its last success (a fingerprint kept in the detector
state) skips without calling AWS: the scheduled DAG republishes only when the
definition changed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from botocore.exceptions import ClientError, WaiterError

from l4m.compat import AirflowException, AirflowSkipException, Context, default_deferrable
from l4m.hooks.glue import L4MGlueCrawlerHook
from l4m.hooks.quicksight import QuickSightPublishHook


def fingerprint(requests: object) -> str:
    """SHA-256 of the requests' canonical JSON."""
    text = json.dumps(requests, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _DefinitionMixin:
    """The definition file, the detector hook over its storage, publish-once bookkeeping."""

    definition: str
    aws_conn_id: str | None
    skip_if_published: bool = False

    def load_spec(self):
        from l4m.io.storage import read_definition

        return read_definition(self.definition, self.aws_conn_id)

    def detector(self, spec):
        from l4m.hooks.detector import DetectorHook

        return DetectorHook(spec, aws_conn_id=self.aws_conn_id)

    def interval_is_new(self, spec, interval_start: Any) -> bool:
        """Whether the detected interval brought data (a new ``live`` partition) or anomalies."""
        marker = self.detector(spec).interval_marker(interval_start)
        if marker is None:
            raise AirflowException(f"interval {interval_start} has not been detected yet")
        return bool(marker["MetricsScored"] or sum(marker["Anomalies"].values()))

    def published_already(self, spec, target: str, done: str) -> bool:
        """With ``skip_if_published``: whether ``target`` was last published with the
        requests whose fingerprint is ``done``."""
        return self.skip_if_published and self.detector(spec).published_fingerprint(target) == done


class GlueCrawlOperator(_DefinitionMixin, AwsBaseOperator[L4MGlueCrawlerHook]):
    """Ensure the Glue database and crawler of a definition, run the crawler, wait for it.

    The crawler is created, or updated when it differs from the definition; a crawl
    already running is waited for rather than an error; the wait defers to the amazon
    provider's ``GlueCrawlerCompleteTrigger`` when deferrable. A crawl that ends other
    than SUCCEEDED fails the task (:class:`~l4m.hooks.glue.CrawlFailed`) with the
    crawler's name and Glue's error message.

    :param definition: path or URL of the detector definition JSON (templated).
    :param interval_start: when set (templated), crawl only if that interval's results
        show new data (a new ``live`` partition) or anomalies; skip otherwise.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between crawler status checks.
    :param max_attempts: status checks before giving up.
    :return: ``{"Database": …, "Crawler": …, "CrawlStatus": …}``
    """

    aws_hook_class = L4MGlueCrawlerHook
    template_fields: Sequence[str] = aws_template_fields("definition", "interval_start")
    ui_color = "#ffe4c4"

    def __init__(self, *, definition: str, interval_start: Any = None,
                 deferrable: bool | None = None, poll_interval: int = 15,
                 max_attempts: int = 480, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.interval_start = interval_start
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts

    def execute(self, context: Context) -> dict:
        from l4m.aws.glue_requests import crawler_request, database_request
        from l4m.locations import resolve

        spec = self.load_spec()
        if self.interval_start and not self.interval_is_new(spec, self.interval_start):
            raise AirflowSkipException(f"interval {self.interval_start}: no new data and no "
                                       "anomalies to crawl")
        request = crawler_request(spec, resolve(spec))
        summary = {"Database": self.hook.ensure_database(database_request(spec)),
                   "Crawler": self.hook.ensure_crawler(request)}
        name = request["Name"]
        summary["Crawl"] = self.hook.start_or_join(name)
        self.log.info("Glue %s", summary)
        if self.deferrable:
            from airflow.providers.amazon.aws.triggers.glue_crawler import (
                GlueCrawlerCompleteTrigger,
            )

            self.defer(trigger=GlueCrawlerCompleteTrigger(
                crawler_name=name, waiter_delay=self.poll_interval,
                waiter_max_attempts=self.max_attempts, aws_conn_id=self.aws_conn_id,
                region_name=self.region_name, verify=self.verify,
                botocore_config=self.botocore_config),
                method_name="execute_complete", kwargs={"summary": summary, "name": name})
        try:
            self.hook.get_waiter("crawler_ready").wait(
                Name=name, WaiterConfig={"Delay": self.poll_interval,
                                         "MaxAttempts": self.max_attempts})
        except WaiterError as err:
            # A crawl that ended FAILED or CANCELLED stops the waiter too: _finish names
            # it with Glue's message; anything else (time-out, AWS error) is raised here.
            if (err.last_response or {}).get("Crawler", {}).get("State") != "READY":
                raise AirflowException(f"waiting for Glue crawler {name} failed: {err}") from err
        return self._finish(summary, name)

    def execute_complete(self, context: Context, event: dict | None = None, *,
                         summary: dict, name: str) -> dict:
        if not event or event.get("status") != "success":
            self.hook.last_crawl(name)     # a failed crawl: raise with Glue's message
            raise AirflowException(f"waiting for Glue crawler {name} failed: {event}")
        return self._finish(summary, name)

    def _finish(self, summary: dict, name: str) -> dict:
        crawl = self.hook.last_crawl(name)
        return {**summary, "CrawlerName": name, "CrawlStatus": crawl["Status"]}


class AthenaViewsOperator(_DefinitionMixin, AwsBaseOperator[AthenaHook]):
    """Create or replace the two dataset views in Athena, then check each with a query
    that plans the view and scans no data.

    The SQL is :mod:`l4m.datasets`' (the local catalog runs the same text). A query that
    Athena rejects or that does not succeed fails the task with the statement (which
    view) and Athena's reason; the views count as published only when all succeeded.

    :param definition: path or URL of the detector definition JSON (templated).
    :param skip_if_published: skip when the views were created from the same SQL before.
    :param sleep_time: seconds between query status checks.
    :param max_polling_attempts: status checks per query before giving up.
    :return: ``{"Views": [...], "QueryExecutionIds": [...]}``
    """

    aws_hook_class = AthenaHook
    template_fields: Sequence[str] = aws_template_fields("definition")
    ui_color = "#e0ecff"
    TARGET = "athena-views"

    def __init__(self, *, definition: str, skip_if_published: bool = False,
                 sleep_time: int = 2, max_polling_attempts: int = 150, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.skip_if_published = skip_if_published
        self.sleep_time = sleep_time
        self.max_polling_attempts = max_polling_attempts

    def execute(self, context: Context) -> dict:
        from l4m.aws.athena_sql import statements
        from l4m.datasets import DATASET_KINDS, dataset

        spec = self.load_spec()
        athena = spec.pipeline.aws.athena
        todo = statements(spec)
        done = fingerprint([sql for _, sql in todo])
        if self.published_already(spec, self.TARGET, done):
            raise AirflowSkipException("the views were created from this SQL already")
        output = {"OutputLocation": athena.output_location} if athena.output_location else {}
        ids = []
        for what, sql in todo:
            try:
                query_id = self.hook.run_query(sql, {"Database": spec.pipeline.aws.glue.database},
                                               output, workgroup=athena.work_group)
            except ClientError as err:    # rejected before it ran (e.g. InvalidRequestException)
                raise AirflowException(f"Athena {what}: {err}") from err
            state = self.hook.poll_query_status(query_id, self.max_polling_attempts,
                                                self.sleep_time)
            if state != "SUCCEEDED":
                reason = self.hook.get_state_change_reason(query_id)
                raise AirflowException(f"Athena {what}: query {query_id} {state}: {reason}")
            self.log.info("Athena %s: %s", what, state)
            ids.append(query_id)
        self.detector(spec).record_published(self.TARGET, done)
        return {"Views": [dataset(spec, which).view for which in DATASET_KINDS],
                "QueryExecutionIds": ids}


class QuickSightPublishOperator(_DefinitionMixin, AwsBaseOperator[QuickSightPublishHook]):
    """Create or update the QuickSight data source, both datasets, analysis and dashboard.

    Everything is described first: existing resources that match the definition are
    left alone, drifted ones updated, missing ones created; permissions are granted to
    the definition's users and groups. With ``ImportMode: SPICE`` both datasets are
    then ingested.

    :param definition: path or URL of the detector definition JSON (templated).
    :param skip_if_published: skip the resources when published from the same requests
        before (a SPICE ingestion still runs when ``ingest`` is true).
    :param ingest: refresh SPICE datasets after publishing (no effect in DIRECT_QUERY).
    :param interval_start: when set (templated), ingest only if that interval's results
        show new data or anomalies.
    :return: ``{resource: "created" | "updated" | "unchanged", ...}``
    """

    aws_hook_class = QuickSightPublishHook
    template_fields: Sequence[str] = aws_template_fields("definition", "interval_start")
    ui_color = "#d4f0e8"
    TARGET = "quicksight"

    def __init__(self, *, definition: str, skip_if_published: bool = False,
                 ingest: bool = True, interval_start: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.skip_if_published = skip_if_published
        self.ingest = ingest
        self.interval_start = interval_start

    def execute(self, context: Context) -> dict:
        from l4m.aws.quicksight_requests import all_requests

        spec = self.load_spec()
        done = fingerprint(all_requests(spec, self.hook.conn_region_name))
        publish = not self.published_already(spec, self.TARGET, done)
        ingest = self._spice(spec)
        if not publish and not ingest:
            raise AirflowSkipException("the QuickSight resources match this definition already")
        outcome: dict[str, Any] = {}
        if publish:
            outcome = self.hook.publish(spec)
            self.detector(spec).record_published(self.TARGET, done)
        if ingest:
            outcome["Ingestions"] = self.hook.ingest(spec, _ingestion_id(context))
        return outcome

    def _spice(self, spec) -> bool:
        if not self.ingest or spec.pipeline.aws.quicksight.import_mode != "SPICE":
            return False
        return not self.interval_start or self.interval_is_new(spec, self.interval_start)


def _ingestion_id(context: Context) -> str:
    """A QuickSight ingestion id (letters, digits, ``_``/``-``) unique per task try."""
    ti = context.get("ti")
    run = f"{context.get('run_id', 'manual')}-{getattr(ti, 'try_number', 1)}"
    return "l4m-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in run)[-120:]
