"""The detector hook on ``s3://`` roots (moto server, the amazon provider's s3fs
filesystem through ObjectStoragePath): same files as on ``file://``, byte for byte."""
from __future__ import annotations

import json

import boto3
import pandas as pd
import pytest
from fakes.moto_server import moto_endpoint
from l4m.hooks.detector import DetectorHook
from l4m.synth import write_dataset

START = pd.Timestamp("2021-01-15T00:00:00Z")
HOURS = 4


@pytest.fixture()
def s3():
    with moto_endpoint() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="l4m")
        yield client


def definition(data, tmp_path, name: str, root: str) -> str:
    doc = json.loads((data / "definition.json").read_text())
    source = doc["MetricSet"]["MetricSource"]["S3SourceConfig"]
    if root.startswith("s3://"):
        source["TemplatedPathList"] = ["s3://l4m/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"]
        source["HistoricalDataPathList"] = ["s3://l4m/ecommerce/backtest/"]
    doc["Storage"] = {"ResultsPath": f"{root}/results", "StatePath": f"{root}/state"}
    doc["Schedule"] = {"StartDate": START.strftime("%Y-%m-%dT%H:%M:%SZ")}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def run(definition_path: str) -> DetectorHook:
    hook = DetectorHook.from_file(definition_path)
    hook.create_detector()
    assert hook.activate_detector()["Status"] == "ACTIVE"
    for h in range(HOURS):
        hook.detect_interval(START + pd.Timedelta(hours=h))
    return hook


def test_s3_roots_give_the_same_files_as_local_ones(s3, tmp_path):
    write_dataset(tmp_path / "synth", seed=5, days=16)
    data = tmp_path / "synth" / "ecommerce"
    for path in data.rglob("*.csv"):
        rel = path.relative_to(data)
        if rel.parts[0] == "backtest" or (rel.parts[0] == "live" and rel.parts[1] == "20210115"):
            s3.upload_file(str(path), "l4m", f"ecommerce/{rel.as_posix()}")

    remote = run(definition(data, tmp_path, "remote", "s3://l4m"))
    run(definition(data, tmp_path, "local", f"file://{tmp_path}/local"))

    listed = s3.list_objects_v2(Bucket="l4m", Prefix="results/")["Contents"]
    keys = sorted(o["Key"].removeprefix("results/") for o in listed)
    local_root = tmp_path / "local" / "results"
    local = sorted(p.relative_to(local_root).as_posix() for p in local_root.rglob("*")
                   if p.is_file())
    assert keys == local
    assert any(k.startswith("anomalyResults/") for k in keys)
    for key in keys:
        body = s3.get_object(Bucket="l4m", Key=f"results/{key}")["Body"].read()
        if key.startswith("dataQuality/"):
            continue   # names the files read: s3:// URLs there, local paths here
        assert body == (local_root / key).read_bytes(), key
    assert remote.describe_detector()["Status"] == "ACTIVE"
    versions = {o["Key"].split("/")[2] for o in
                s3.list_objects_v2(Bucket="l4m", Prefix="state/versions/")["Contents"]}
    assert len(versions) == HOURS + 1


def test_quarantine_rows_of_s3_input_name_the_s3_object(s3, tmp_path):
    """Rows rejected from an ``s3://`` file are reported under its URL, not under the
    temporary local copy that was read."""
    write_dataset(tmp_path / "synth", seed=5, days=16)
    data = tmp_path / "synth" / "ecommerce"
    for path in (data / "backtest").rglob("*.csv"):
        s3.upload_file(str(path), "l4m", f"ecommerce/{path.relative_to(data).as_posix()}")
    [live] = (data / "live" / "20210115" / "0000").glob("*.csv")
    lines = live.read_text().splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("views")] = "lots"
    key = f"ecommerce/live/20210115/0000/{live.name}"
    s3.put_object(Bucket="l4m", Key=key, Body="\n".join([*lines, ",".join(bad)]) + "\n")

    hook = DetectorHook.from_file(definition(data, tmp_path, "remote", "s3://l4m"))
    hook.create_detector()
    hook.activate_detector()
    hook.detect_interval(START)

    listed = s3.list_objects_v2(Bucket="l4m", Prefix="results/quarantine/")["Contents"]
    assert len(listed) == 1
    body = s3.get_object(Bucket="l4m", Key=listed[0]["Key"])["Body"].read().decode()
    rows = pd.read_csv(pd.io.common.StringIO(body))
    assert rows[["file", "row", "field", "value"]].to_dict("records") == [
        {"file": f"s3://l4m/{key}", "row": len(lines) + 1, "field": "views", "value": "lots"}]


def test_s3_rewrite_keeps_a_long_prefix_inside_s3(s3, tmp_path, monkeypatch):
    """``anomalyGroups.jsonl`` on S3: past 5 MiB its unchanged prefix is copied inside S3
    (UploadPartCopy), only the tail is uploaded, and nothing is downloaded. A failed
    part aborts the upload and leaves the object as it was. The pipeline's IAM policy
    allows every request, the abort included."""
    import dataclasses

    from aws_iam import denied, needs, recording
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    from l4m.aws.iam import policy
    from l4m.io.storage import MIN_COPY_PART, open_path, write_keeping_prefix
    from l4m.locations import resolve
    from l4m.spec import parse_spec_json

    head = bytes(range(256)) * (MIN_COPY_PART // 256 + 1)
    s3.put_object(Bucket="l4m", Key="r/anomalyGroups.jsonl", Body=head + b"old tail")
    path = open_path("s3://l4m/r/anomalyGroups.jsonl", "aws_default")
    calls: list[dict] = []
    with recording(calls.append):
        write_keeping_prefix(path, len(head), b"new tail\n")
    assert s3.get_object(Bucket="l4m", Key="r/anomalyGroups.jsonl")["Body"].read() == \
        head + b"new tail\n"
    operations = [c["operation"] for c in calls]
    assert "UploadPartCopy" in operations and "GetObject" not in operations
    [upload] = [c["params"] for c in calls if c["operation"] == "UploadPart"]
    assert upload["PartNumber"] == 2

    with pytest.raises(OSError, match="anomalyGroups.jsonl has fewer than"):
        write_keeping_prefix(path, len(head) + 100, b"x")

    real_call = BaseClient._make_api_call

    def failing_part(client, operation, params):
        if operation == "UploadPart":
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}},
                              operation)
        return real_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing_part)
    with recording(calls.append), pytest.raises(OSError, match="r/anomalyGroups.jsonl.*injected"):
        write_keeping_prefix(path, len(head), b"other tail\n")
    monkeypatch.undo()
    assert s3.get_object(Bucket="l4m", Key="r/anomalyGroups.jsonl")["Body"].read() == \
        head + b"new tail\n"
    assert not s3.list_multipart_uploads(Bucket="l4m").get("Uploads")
    assert "AbortMultipartUpload" in [c["operation"] for c in calls]

    write_dataset(tmp_path / "synth", seed=5, days=1)
    spec = parse_spec_json(
        (tmp_path / "synth" / "ecommerce" / "definition.json").read_text(), source="d")
    locations = dataclasses.replace(resolve(spec), results="s3://l4m/r")
    granted = policy(spec, region="us-east-1", account="123456789012", locations=locations)
    assert denied(granted, needs(calls, "123456789012")) == []
