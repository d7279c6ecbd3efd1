"""Publish a detector's QuickSight data source, datasets, analysis and dashboard.

:class:`QuickSightPublishHook` is the amazon provider's :class:`QuickSightHook` (its
``conn`` client, ``create_ingestion`` and ``get_status``) plus an idempotent
:meth:`~QuickSightPublishHook.publish` of the requests of
:mod:`l4m.aws.quicksight_requests`. Every resource is described first: a missing one
(``ResourceNotFoundException``) is created; an existing one is updated only when a
field we set differs (:func:`l4m.aws.drift.drift`: what QuickSight adds is not drift)
or when its last creation or update failed; otherwise no write is sent. A creation
that loses a race with another run converges the same way.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.providers.amazon.aws.hooks.quicksight import QuickSightHook
from botocore.exceptions import ClientError

from l4m.aws.drift import drift
from l4m.aws.quicksight_requests import (
    ANALYSIS_ACTIONS,
    DASHBOARD_ACTIONS,
    DATA_SET_ACTIONS,
    DATA_SOURCE_ACTIONS,
    MAX_CREATE_PRINCIPALS,
    WHICH,
    all_requests,
    data_set_id,
    permissions,
    quicksight_spec,
    update_request,
)
from l4m.spec import DetectorSpec
from l4m.spec_aws import QuickSightSpec

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
# What CreateX answers when the resource exists: created by a concurrent run.
CREATED_MEANWHILE = ("ResourceExistsException", "ConflictException")
# Fields of each request compared with what QuickSight describes.
COMPARED = {
    "data source": ("Name", "DataSourceParameters"),
    "dataset": ("Name", "PhysicalTableMap", "LogicalTableMap", "ImportMode"),
    "analysis": ("Name", "Definition"),
    "dashboard": ("Name", "Definition", "DashboardPublishOptions"),
}


class QuickSightPublishError(RuntimeError):
    """A QuickSight resource or ingestion ended in a failed state."""


def missing_permissions(current: list[dict], wanted: list[dict]) -> list[dict]:
    """The part of ``wanted`` (ResourcePermission items) that ``current`` does not grant.

    Per wanted principal, the actions it lacks (in wanted order); principals with all
    their actions are left out. Other principals of ``current`` play no part.
    """
    held: dict[str, set[str]] = {}
    for item in current:
        held.setdefault(item["Principal"], set()).update(item.get("Actions", []))
    missing = []
    for item in wanted:
        actions = [a for a in item["Actions"] if a not in held.get(item["Principal"], set())]
        if actions:
            missing.append({"Principal": item["Principal"], "Actions": actions})
    return missing


class QuickSightPublishHook(QuickSightHook):
    """Create or update the QuickSight resources of a definition, and refresh SPICE.

    Takes the arguments of :class:`QuickSightHook` (``aws_conn_id``, ``region_name``, …)
    and, for the waits on asynchronous creations and updates, ``poll_interval`` and
    ``max_wait`` (seconds). The definition's ``Publish.QuickSight.Region``, when set,
    is the region of the calls; otherwise the hook's region.
    """

    def __init__(self, *args: Any, poll_interval: float = 5.0, max_wait: float = 1800.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self._quicksight_region: str | None = None

    @property
    def region_name(self) -> str | None:
        """The definition's QuickSight region once bound, else the hook's region."""
        return self._quicksight_region or super().region_name

    def publish(self, spec: DetectorSpec) -> dict[str, str]:
        """Ensure the data source, both datasets, the analysis and the dashboard.

        :return: ``{"data source" | "live dataset" | "contributions dataset" |
            "analysis" | "dashboard": "created" | "updated" | "unchanged"}``.

        An updated dashboard version is waited for, then published. Permissions: the
        definition's users and groups are granted every owner action they lack on each
        resource ("updated" when only that changed); permissions of other principals
        are never revoked. Datasets have no status in QuickSight (CreateDataSet and
        UpdateDataSet answer when done); the data source, analysis and dashboard are
        polled until ``*_SUCCESSFUL``. A ``*_FAILED`` status raises
        :class:`QuickSightPublishError` with QuickSight's errors, a wait longer than
        ``max_wait`` :class:`TimeoutError`; both name the resource id. A resource that
        another run creates between our describe and our create (QuickSight answers
        ``ResourceExistsException`` or ``ConflictException``) is described again and
        compared like any existing one. An AWS error left after botocore's retries
        raises :class:`QuickSightPublishError` naming the resource.
        """
        quicksight = self._bind(spec)
        requests = all_requests(spec, self.conn_region_name)
        ensure = {"data source": self._data_source, "live dataset": self._data_set,
                  "contributions dataset": self._data_set, "analysis": self._analysis,
                  "dashboard": self._dashboard}
        shares = {"data source": ("DataSource", "DataSourceId", DATA_SOURCE_ACTIONS),
                  "live dataset": ("DataSet", "DataSetId", DATA_SET_ACTIONS),
                  "contributions dataset": ("DataSet", "DataSetId", DATA_SET_ACTIONS),
                  "analysis": ("Analysis", "AnalysisId", ANALYSIS_ACTIONS),
                  "dashboard": ("Dashboard", "DashboardId", DASHBOARD_ACTIONS)}
        done = {}
        for name, (_, id_field, _) in shares.items():
            with _naming(name, requests[name][id_field]):
                done[name] = ensure[name](requests[name])
        for name, (noun, id_field, actions) in shares.items():
            with _naming(name, requests[name][id_field]):
                granted = self._share(noun, id_field, requests[name][id_field],
                                      permissions(actions, quicksight.principals), quicksight)
            if granted and done[name] == UNCHANGED:
                done[name] = UPDATED
        return done

    def ingest(self, spec: DetectorSpec, ingestion_id: str,
               ingestion_type: str = "FULL_REFRESH", check_interval: int = 30) -> dict[str, str]:
        """Refresh both SPICE datasets with :meth:`QuickSightHook.create_ingestion`.

        :param ingestion_id: letters, digits, ``-`` and ``_``; one id serves both datasets.
        :return: ``{"live dataset": status, "contributions dataset": status}``.
        :raises ValueError: the definition's ImportMode is not SPICE.
        :raises QuickSightPublishError: an ingestion failed (names the dataset id).
        """
        quicksight = self._bind(spec)
        if quicksight.import_mode != "SPICE":
            raise ValueError(f"detector {spec.name}: ImportMode {quicksight.import_mode} "
                             "datasets query Athena directly, there is nothing to ingest")
        done = {}
        for which in WHICH:
            dataset = data_set_id(spec, which)
            try:
                self.create_ingestion(data_set_id=dataset, ingestion_id=ingestion_id,
                                      ingestion_type=ingestion_type, wait_for_completion=True,
                                      check_interval=check_interval,
                                      aws_account_id=quicksight.account_id)
                status = self.get_status(quicksight.account_id, dataset, ingestion_id)
            except Exception as err:
                raise QuickSightPublishError(
                    f"SPICE ingestion {ingestion_id!r} of QuickSight dataset {dataset!r} "
                    f"failed: {err}") from err
            done[f"{which} dataset"] = status
        return done

    # ------------------------------------------------------------------------ resources

    def _data_source(self, want: dict) -> str:
        ids = _ids(want, "DataSourceId")

        def same_type(found: dict) -> dict:
            have = found["DataSource"]
            if have.get("Type") != want["Type"]:
                raise QuickSightPublishError(
                    f"QuickSight data source {want['DataSourceId']!r} exists with type "
                    f"{have.get('Type')}, not {want['Type']}: delete it or choose another "
                    "Publish.QuickSight.DataSourceId")
            return have

        def status() -> tuple[str, object]:
            source = self.conn.describe_data_source(**ids)["DataSource"]
            return source.get("Status", ""), source.get("ErrorInfo")

        state, _ = self._upsert("data source", want, ids, self.conn.describe_data_source,
                                self.conn.create_data_source, self.conn.update_data_source,
                                have=same_type, status_of=lambda have: have.get("Status"))
        if state != UNCHANGED:
            self._wait("data source", want["DataSourceId"], status)
        return state

    def _data_set(self, want: dict) -> str:
        # Datasets have no status: create and update answer when they are done.
        state, _ = self._upsert("dataset", want, _ids(want, "DataSetId"),
                                self.conn.describe_data_set, self.conn.create_data_set,
                                self.conn.update_data_set, have=lambda found: found["DataSet"],
                                status_of=lambda have: None)
        return state

    def _analysis(self, want: dict) -> str:
        ids = _ids(want, "AnalysisId")

        def status() -> tuple[str, object]:
            analysis = self.conn.describe_analysis(**ids)["Analysis"]
            return analysis.get("Status", ""), analysis.get("Errors")

        state, _ = self._upsert("analysis", want, ids, self.conn.describe_analysis_definition,
                                self.conn.create_analysis, self.conn.update_analysis)
        if state != UNCHANGED:
            self._wait("analysis", want["AnalysisId"], status)
        return state

    def _dashboard(self, want: dict) -> str:
        ids = _ids(want, "DashboardId")
        state, answer = self._upsert("dashboard", want, ids,
                                     self.conn.describe_dashboard_definition,  # published
                                     self.conn.create_dashboard, self.conn.update_dashboard)
        if state == UNCHANGED:
            return state
        version = int(answer["VersionArn"].rsplit("/", 1)[-1])

        def status() -> tuple[str, object]:
            described = self.conn.describe_dashboard(**ids, VersionNumber=version)
            current = described["Dashboard"].get("Version", {})
            return current.get("Status", ""), current.get("Errors")

        self._wait(f"dashboard version {version} of", want["DashboardId"], status)
        if state == UPDATED:
            self.conn.update_dashboard_published_version(**ids, VersionNumber=version)
            self.log.info("Published version %s of QuickSight dashboard %s",
                          version, want["DashboardId"])
        return state

    # ------------------------------------------------------------------------ helpers

    def _bind(self, spec: DetectorSpec) -> QuickSightSpec:
        """The QuickSight section; switch the client to its Region when that differs."""
        quicksight = quicksight_spec(spec)
        if quicksight.region and quicksight.region != self.region_name:
            self._quicksight_region = quicksight.region
            for cached in ("conn", "_client"):  # the provider's cached client properties
                self.__dict__.pop(cached, None)
        return quicksight

    def _upsert(self, kind: str, want: dict, ids: dict, describe: Callable[..., dict],
                create: Callable[..., dict], update: Callable[..., dict], *,
                have: Callable[[dict], dict] = lambda found: found,
                status_of: Callable[[dict], str | None] = lambda have: have.get(
                    "ResourceStatus")) -> tuple[str, dict | None]:
        """``(CREATED | UPDATED | UNCHANGED, create's or update's answer)``: create the
        resource, or update it when the described one (``have(found)``) differs from
        ``want`` or its last change failed (``status_of``)."""
        found = self._describe(describe, ids)
        if found is None:
            answer, found = self._create(create, want, describe, ids)
            if found is None:
                return CREATED, answer
        current = have(found)
        if not self._changed(kind, ids, want, current, status_of(current)):
            return UNCHANGED, None
        return UPDATED, update(**update_request(want))

    def _create(self, create: Callable[..., dict], want: dict,
                describe: Callable[..., dict], ids: dict) -> tuple[dict | None, dict | None]:
        """``(create's answer, None)``; ``(None, describe's answer)`` when the resource
        exists after all: another run created it since we described it."""
        try:
            return create(**want), None
        except ClientError as err:
            if _code(err) not in CREATED_MEANWHILE:
                raise
            self.log.info("QuickSight %s was created meanwhile (%s): comparing it instead",
                          _resource(ids), _code(err))
        return None, describe(**ids)

    @staticmethod
    def _describe(call: Callable[..., dict], ids: dict) -> dict | None:
        """``call(**ids)``, or None when QuickSight answers ResourceNotFoundException."""
        try:
            return call(**ids)
        except ClientError as err:
            if _code(err) == "ResourceNotFoundException":
                return None
            raise

    def _changed(self, kind: str, ids: dict, want: dict, have: dict,
                 status: str | None) -> bool:
        """Whether ``have`` lacks a compared field of ``want`` or its last change failed."""
        paths = drift({key: want[key] for key in COMPARED[kind] if key in want}, have)
        failed = bool(status) and status.endswith("_FAILED")
        resource = _resource(ids)
        if paths:
            self.log.info("QuickSight %s %s differs in %s: updating it", kind, resource,
                          ", ".join(paths[:10]))
        elif failed:
            self.log.info("QuickSight %s %s is %s: updating it again", kind, resource, status)
        return bool(paths) or failed

    def _wait(self, kind: str, resource: str, status: Callable[[], tuple[str, object]]) -> None:
        """Poll ``status()`` until ``*_SUCCESSFUL``; raise on ``*_FAILED`` or timeout."""
        deadline = time.monotonic() + self.max_wait
        while True:
            state, errors = status()
            if state.endswith("_SUCCESSFUL"):
                return
            if state.endswith("_FAILED") or state == "DELETED":
                raise QuickSightPublishError(
                    f"QuickSight {kind} {resource!r}: {state}: {_errors(errors)}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"QuickSight {kind} {resource!r} still {state or 'unknown'} "
                                   f"after {self.max_wait:g} s")
            self.log.info("QuickSight %s %s: %s", kind, resource, state)
            time.sleep(self.poll_interval)

    def _share(self, noun: str, id_field: str, resource: str, wanted: list[dict],
               quicksight: QuickSightSpec) -> bool:
        """Grant the permissions of ``wanted`` that the resource lacks; True if any."""
        snake = {"DataSource": "data_source", "DataSet": "data_set",
                 "Analysis": "analysis", "Dashboard": "dashboard"}[noun]
        ids = {"AwsAccountId": quicksight.account_id, id_field: resource}
        current = getattr(self.conn, f"describe_{snake}_permissions")(**ids)
        missing = missing_permissions(current.get("Permissions") or [], wanted)
        for start in range(0, len(missing), MAX_CREATE_PRINCIPALS):
            getattr(self.conn, f"update_{snake}_permissions")(
                **ids, GrantPermissions=missing[start:start + MAX_CREATE_PRINCIPALS])
        if missing:
            self.log.info("Granted %s to %s on QuickSight %s",
                          ", ".join(sorted({a for m in missing for a in m["Actions"]})),
                          ", ".join(m["Principal"] for m in missing), resource)
        return bool(missing)


def _ids(request: dict, id_field: str) -> dict:
    return {"AwsAccountId": request["AwsAccountId"], id_field: request[id_field]}


def _resource(ids: dict) -> str:
    """The resource id among a request's ids."""
    return next(v for k, v in ids.items() if k != "AwsAccountId")


def _code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


@contextmanager
def _naming(name: str, resource: str) -> Iterator[None]:
    """Turn an AWS error into a :class:`QuickSightPublishError` naming the resource."""
    try:
        yield
    except ClientError as err:
        raise QuickSightPublishError(f"QuickSight {name} {resource!r}: {err}") from err


def _errors(errors: object) -> str:
    """QuickSight's error list (or ErrorInfo) as text."""
    if not errors:
        return "no error reported"
    items = errors if isinstance(errors, list) else [errors]
    return "; ".join(f"{e.get('Type', 'ERROR')}: {e.get('Message', '')}" if isinstance(e, dict)
                     else str(e) for e in items)
