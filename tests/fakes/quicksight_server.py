"""A test double of the Amazon QuickSight REST API, standing in where moto cannot act.

moto 5.2.5 implements only a few QuickSight calls (no analyses, no DescribeDataSet, no
permissions), so the QuickSight tests send their requests to this small HTTP server
instead. It is not QuickSight: it validates nothing (definitions, SQL, principals) and
runs no query. It routes each request to its operation with botocore's own QuickSight
model (method and requestUri template), keeps the data sources, datasets, analyses and
dashboards it is sent, and answers in that model's response shapes, so the real boto3
client, through the amazon provider's hook, sends and parses every call:

* Create*: stores the request, answers Arn, id, ``CREATION_SUCCESSFUL`` (a dashboard
  also ``VersionArn …/version/1``, published); 409 when the id exists.
* Describe*, Describe*Definition: the stored request plus a few fields QuickSight adds,
  with ``…_SUCCESSFUL`` statuses; unknown id: 404 ``ResourceNotFoundException``.
* Update*: stores the change (a dashboard gets a new, unpublished version);
  UpdateDashboardPublishedVersion publishes one.
* Describe*Permissions / Update*Permissions: applies GrantPermissions and
  RevokePermissions.
* CreateIngestion / DescribeIngestion: SPICE datasets only, ``COMPLETED``.

Every request is recorded in :attr:`QuickSightDouble.requests` as (operation name,
its parameters: URI, query and JSON body, as boto3 keyword arguments). For failure
tests, :meth:`~QuickSightDouble.fail_next` makes a resource's next creation or update
end ``…_FAILED`` and :attr:`~QuickSightDouble.in_progress_polls` makes each change
report ``…_IN_PROGRESS`` to that many describes first.

Use it through the fixture :func:`quicksight_server`, which also points the
``aws_default`` Airflow connection at it.
"""
from __future__ import annotations

import functools
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

import botocore.session
import pytest
from botocore.validate import ParamValidator

_RESOURCE_OPERATION = re.compile(
    r"(Create|Update|Describe)(DataSource|DataSet|Analysis|Dashboard)(Definition|Permissions)?")
_ARN_KINDS = {"DataSource": "datasource", "DataSet": "dataset", "Analysis": "analysis",
              "Dashboard": "dashboard"}
_NOT_STORED = ("AwsAccountId", "Permissions", "Tags", "FolderArns", "ValidationStrategy")
_ERROR_STATUS = {"ResourceNotFoundException": 404, "ResourceExistsException": 409,
                 "InvalidParameterValueException": 400, "UnsupportedOperationException": 400}


class _Error(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class QuickSightDouble:
    """The QuickSight test double: a threaded HTTP server on 127.0.0.1 (see module doc)."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.model = _model()
        self.requests: list[tuple[str, dict]] = []
        self.resources: dict[tuple[str, str], dict] = {}  # (API noun, id) -> record
        self.ingestions: dict[tuple[str, str], dict] = {}  # (dataset id, ingestion id)
        self.in_progress_polls = 0
        self._failures: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        self._routes = self._build_routes()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def clear(self) -> None:
        """Forget the recorded requests (the resources stay)."""
        with self._lock:
            self.requests.clear()

    def operations(self) -> list[str]:
        """The recorded operation names, in order."""
        with self._lock:
            return [name for name, _ in self.requests]

    def fail_next(self, kind: str, resource_id: str, message: str = "failed on purpose") -> None:
        """Make the next creation or update of ``kind`` (DataSource, Analysis, Dashboard;
        Ingestion: by dataset id) ``resource_id`` end in a failed state with ``message``."""
        with self._lock:
            self._failures[(kind, resource_id)] = message

    # ------------------------------------------------------------------------ HTTP

    def handle(self, method: str, target: str, raw: bytes) -> tuple[int, dict, dict]:
        """(HTTP status, extra headers, JSON body) answering one request."""
        path, _, query = target.partition("?")
        try:
            operation, labels = self._route(method, path, parse_qs(query))
            params = self._params(operation, labels, parse_qs(query), raw)
            with self._lock:
                self.requests.append((operation.name, params))
                body = self._answer(operation.name, params)
            return 200, {}, _shaped(operation.output_shape, body)
        except _Error as err:
            return (_ERROR_STATUS.get(err.code, 400), {"x-amzn-ErrorType": err.code},
                    {"Message": str(err)})

    def _build_routes(self) -> list[tuple]:
        routes = []
        for name in self.model.operation_names:
            operation = self.model.operation_model(name)
            template, _, static = operation.http["requestUri"].partition("?")
            pattern, labels = "", []
            for piece in re.split(r"(\{[^}]+\})", template):
                if piece.startswith("{"):
                    labels.append(piece[1:-1].rstrip("+"))
                    pattern += f"(?P<g{len(labels)}>{'.+' if piece.endswith('+}') else '[^/]+'})"
                else:
                    pattern += re.escape(piece)
            routes.append((operation.http["method"], re.compile(pattern), labels,
                           set(parse_qs(static, keep_blank_values=True)), operation))
        return routes

    def _route(self, method: str, path: str, query: dict):
        found = []
        for verb, pattern, labels, static, operation in self._routes:
            match = pattern.fullmatch(path) if verb == method else None
            if match and static <= set(query):
                values = {label: unquote(match.group(f"g{i}"))
                          for i, label in enumerate(labels, 1)}
                found.append((len(labels), -len(pattern.pattern), operation, values))
        if not found:
            raise _Error("UnsupportedOperationException", f"no QuickSight operation {method} {path}")
        _, _, operation, values = min(found, key=lambda item: item[:2])
        return operation, values

    @staticmethod
    def _params(operation, labels: dict, query: dict, raw: bytes) -> dict:
        """The request as boto3 keyword arguments (URI labels, query and body members)."""
        body = json.loads(raw) if raw else {}
        params: dict = {}
        shape = operation.input_shape
        for name, member in (shape.members.items() if shape else ()):
            where = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if where == "uri" and wire in labels:
                params[name] = _scalar(member, labels[wire])
            elif where == "querystring" and wire in query:
                values = [_scalar(getattr(member, "member", member), v) for v in query[wire]]
                params[name] = values if member.type_name == "list" else values[0]
            elif where is None and wire in body:
                params[name] = body[wire]
        return params

    # ------------------------------------------------------------------------ operations

    def _answer(self, name: str, params: dict) -> dict:
        if name == "UpdateDashboardPublishedVersion":
            record = self._record("Dashboard", params["DashboardId"])
            self._version(record, params["VersionNumber"])
            record["published"] = params["VersionNumber"]
            return {"DashboardId": record["id"], "DashboardArn": record["arn"]}
        if name in ("CreateIngestion", "DescribeIngestion"):
            return self._ingestion(name, params)
        match = _RESOURCE_OPERATION.fullmatch(name)
        if not match:
            raise _Error("UnsupportedOperationException",
                         f"the QuickSight test double does not implement {name}")
        verb, kind, part = match.groups()
        resource_id = params[f"{kind}Id"]
        if verb == "Create" and not part:
            return self._create(kind, resource_id, params)
        record = self._record(kind, resource_id)
        if part == "Permissions":
            return self._permissions(record, params if verb == "Update" else {})
        if verb == "Update" and not part:
            return self._update(record, params)
        if verb == "Describe":
            return self._describe(record, part, params)
        raise _Error("UnsupportedOperationException", f"the test double has no {name}")

    def _record(self, kind: str, resource_id: str) -> dict:
        record = self.resources.get((kind, resource_id))
        if record is None:
            raise _Error("ResourceNotFoundException",
                         f"{kind} {resource_id} not found in the QuickSight test double")
        return record

    def _change(self, kind: str, resource_id: str, verb: str) -> dict:
        """A creation or update: its outcome and how many describes see it in progress."""
        failure = self._failures.pop((kind, resource_id), None)
        return {"verb": verb, "failure": failure, "pending": self.in_progress_polls}

    @staticmethod
    def _status(change: dict) -> tuple[str, list]:
        """The change's status now (each call is one describe) and its errors."""
        if change["pending"] > 0:
            change["pending"] -= 1
            return f"{change['verb']}_IN_PROGRESS", []
        if change["failure"]:
            return (f"{change['verb']}_FAILED",
                    [{"Type": "INTERNAL_FAILURE", "Message": change["failure"]}])
        return f"{change['verb']}_SUCCESSFUL", []

    def _create(self, kind: str, resource_id: str, params: dict) -> dict:
        if (kind, resource_id) in self.resources:
            raise _Error("ResourceExistsException", f"{kind} {resource_id} exists")
        account = params["AwsAccountId"]
        arn = f"arn:aws:quicksight:{self.region}:{account}:{_ARN_KINDS[kind]}/{resource_id}"
        body = {k: v for k, v in params.items() if k not in _NOT_STORED}
        change = self._change(kind, resource_id, "CREATION")
        record = {"kind": kind, "id": resource_id, "arn": arn, "body": body,
                  "permissions": [dict(p) for p in params.get("Permissions", [])],
                  "created": time.time(), "change": change}
        answer = {"Arn": arn, f"{kind}Id": resource_id, "CreationStatus": "CREATION_SUCCESSFUL"}
        if kind == "Dashboard":
            record["versions"] = {1: {"body": body, "change": change}}
            record["published"] = 1
            answer["VersionArn"] = f"{arn}/version/1"
        self.resources[(kind, resource_id)] = record
        return answer

    def _update(self, record: dict, params: dict) -> dict:
        kind = record["kind"]
        body = {**record["body"], **{k: v for k, v in params.items() if k not in _NOT_STORED}}
        answer = {"Arn": record["arn"], f"{kind}Id": record["id"]}
        if kind == "Dashboard":
            number = max(record["versions"]) + 1
            record["versions"][number] = {
                "body": body, "change": self._change(kind, record["id"], "CREATION")}
            answer.update(VersionArn=f"{record['arn']}/version/{number}",
                          CreationStatus="CREATION_SUCCESSFUL")
        else:
            record["body"] = body
            record["change"] = self._change(kind, record["id"], "UPDATE")
            answer["UpdateStatus"] = "UPDATE_SUCCESSFUL"
        return answer

    @staticmethod
    def _version(record: dict, number: int | None) -> tuple[int, dict]:
        number = number or record["published"]
        if number not in record["versions"]:
            raise _Error("ResourceNotFoundException",
                         f"dashboard {record['id']} has no version {number}")
        return number, record["versions"][number]

    def _describe(self, record: dict, part: str | None, params: dict) -> dict:
        kind, body, stamps = record["kind"], record["body"], {"CreatedTime": record["created"]}
        if kind == "DataSource":
            status, errors = self._status(record["change"])
            source = {**body, **stamps, "Arn": record["arn"], "DataSourceId": record["id"],
                      "Status": status}
            if errors:
                source["ErrorInfo"] = {"Type": "UNKNOWN", "Message": errors[0]["Message"]}
            return {"DataSource": source}
        if kind == "DataSet":
            columns = [c for table in body.get("PhysicalTableMap", {}).values()
                       for c in table.get("RelationalTable", {}).get("InputColumns", [])]
            return {"DataSet": {**body, **stamps, "Arn": record["arn"],
                                "DataSetId": record["id"], "ConsumedSpiceCapacityInBytes": 0,
                                "OutputColumns": [{"Name": c["Name"], "Type": c["Type"]}
                                                  for c in columns]}}
        if kind == "Dashboard":
            number, version = self._version(record, params.get("VersionNumber"))
            body, change = version["body"], version["change"]
        else:
            change = record["change"]
        status, errors = self._status(change)
        if part == "Definition":
            definition = {"Options": {"WeekStart": "SUNDAY"}, **body.get("Definition", {})}
            return {**body, f"{kind}Id": record["id"], "ResourceStatus": status,
                    "Errors": errors, "Definition": definition}
        if kind == "Analysis":
            return {"Analysis": {**stamps, "AnalysisId": record["id"], "Arn": record["arn"],
                                 "Name": body.get("Name"), "Status": status, "Errors": errors}}
        return {"Dashboard": {**stamps, "DashboardId": record["id"], "Arn": record["arn"],
                              "Name": body.get("Name"), "Version": {
                                  "VersionNumber": number, "Status": status, "Errors": errors,
                                  "Arn": f"{record['arn']}/version/{number}"}}}

    @staticmethod
    def _permissions(record: dict, params: dict) -> dict:
        held = {p["Principal"]: list(p["Actions"]) for p in record["permissions"]}
        for grant in params.get("GrantPermissions", []):
            actions = held.setdefault(grant["Principal"], [])
            actions += [a for a in grant["Actions"] if a not in actions]
        for revoke in params.get("RevokePermissions", []):
            kept = [a for a in held.get(revoke["Principal"], []) if a not in revoke["Actions"]]
            held[revoke["Principal"]] = kept
        record["permissions"] = [{"Principal": p, "Actions": a} for p, a in held.items() if a]
        kind = record["kind"]
        return {f"{kind}Arn": record["arn"], f"{kind}Id": record["id"],
                "Permissions": record["permissions"]}

    def _ingestion(self, name: str, params: dict) -> dict:
        data_set = self._record("DataSet", params["DataSetId"])
        key = (data_set["id"], params["IngestionId"])
        arn = f"{data_set['arn']}/ingestion/{params['IngestionId']}"
        if name == "CreateIngestion":
            if data_set["body"].get("ImportMode") != "SPICE":
                raise _Error("InvalidParameterValueException",
                             f"dataset {data_set['id']} is not imported into SPICE")
            if key in self.ingestions:
                raise _Error("ResourceExistsException", f"ingestion {key[1]} exists")
            failure = self._failures.pop(("Ingestion", data_set["id"]), None)
            self.ingestions[key] = {"failure": failure, "created": time.time(),
                                    "type": params.get("IngestionType", "FULL_REFRESH")}
            return {"Arn": arn, "IngestionId": key[1], "IngestionStatus": "INITIALIZED"}
        if key not in self.ingestions:
            raise _Error("ResourceNotFoundException", f"ingestion {key[1]} not found")
        ingestion = self.ingestions[key]
        answer = {"Arn": arn, "IngestionId": key[1], "CreatedTime": ingestion["created"],
                  "IngestionStatus": "FAILED" if ingestion["failure"] else "COMPLETED",
                  "RequestSource": "MANUAL", "RequestType": ingestion["type"]}
        if ingestion["failure"]:
            answer["ErrorInfo"] = {"Type": "CUSTOMER_ERROR", "Message": ingestion["failure"]}
        return {"Ingestion": answer}


@functools.lru_cache(maxsize=1)
def _model():
    """botocore's QuickSight service model (loaded once)."""
    return botocore.session.get_session().get_service_model("quicksight")


def request_errors(operation_name: str, params: dict) -> list[str]:
    """What is wrong with boto3 ``params`` of a QuickSight operation, per botocore's model.

    botocore's ParamValidator (required members, types, minimums) plus what it leaves
    out: enums, string patterns, maximum lengths and list sizes.
    """
    shape = _model().operation_model(operation_name).input_shape
    report = ParamValidator().validate(params, shape)
    errors = [report.generate_report()] if report.has_errors() else []
    return errors + _strict_errors(params, shape, operation_name)


def _strict_errors(value, shape, path: str) -> list[str]:
    meta, found = shape.metadata, []
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                found += _strict_errors(item, shape.members[key], f"{path}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            found += _strict_errors(item, shape.member, f"{path}[{i}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += _strict_errors(key, shape.key, f"{path}<key {key}>")
            found += _strict_errors(item, shape.value, f"{path}.{key}")
    elif shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} not in {shape.name}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{path}: longer than {meta['max']}")
        pattern = meta.get("pattern")
        if pattern and not _full_match(pattern, value):
            found.append(f"{path}: {value!r} does not match {pattern}")
    elif (shape.type_name in ("integer", "long") and isinstance(value, int)
          and not meta.get("min", value) <= value <= meta.get("max", value)):
        found.append(f"{path}: {value} out of range")
    return found


def _full_match(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None
    except re.error:  # a Java-only construct: not checked here
        return True


def _handler(double: QuickSightDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, body = double.handle(self.command, self.path,
                                                  self.rfile.read(length) if length else b"")
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {**headers, "Content-Type": "application/json",
                               "x-amzn-RequestId": str(uuid.uuid4()),
                               "Content-Length": str(len(data))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


def _scalar(shape, text: str):
    if shape.type_name in ("integer", "long"):
        return int(text)
    if shape.type_name == "boolean":
        return text == "true"
    return text


def _shaped(shape, value):
    """``value`` with only the members ``shape`` declares (body members, recursively)."""
    if shape is None:
        return {}
    if shape.type_name == "structure" and isinstance(value, dict):
        kept = {}
        for name, member in shape.members.items():
            if name in value and member.serialization.get("location") is None:
                kept[member.serialization.get("name", name)] = _shaped(member, value[name])
        return kept
    if shape.type_name == "list" and isinstance(value, list):
        return [_shaped(shape.member, item) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: _shaped(shape.value, item) for key, item in value.items()}
    return value


@pytest.fixture()
def quicksight_server(monkeypatch):
    """A running :class:`QuickSightDouble`; ``aws_default`` points its QuickSight at it."""
    server = QuickSightDouble()
    server.start()
    connection = {"conn_type": "aws", "extra": {
        "region_name": server.region,
        "service_config": {"quicksight": {"endpoint_url": server.url}}}}
    for key, value in {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    try:
        yield server
    finally:
        server.stop()
