"""QuickSightPublishHook against the QuickSight test double (moto has no analyses,
DescribeDataSet or permissions): describe first, create what is missing, update only
what drifted, publish dashboard versions, grant permissions, fail loudly."""
from __future__ import annotations

import pytest
from aws_definitions import ACCOUNT, ANALYST, aws_definition, odd_definition
from fakes.quicksight_server import quicksight_server, request_errors  # noqa: F401
from l4m.aws import quicksight_requests as qs
from l4m.hooks.quicksight import QuickSightPublishError, QuickSightPublishHook
from l4m.spec import parse_spec

RESOURCES = ("data source", "live dataset", "contributions dataset", "analysis", "dashboard")
BOSS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/boss"
CREATES = ["CreateDataSource", "CreateDataSet", "CreateDataSet", "CreateAnalysis",
           "CreateDashboard"]


@pytest.fixture()
def hook(quicksight_server):  # noqa: F811
    return QuickSightPublishHook(poll_interval=0.01, max_wait=10)


def writes(server) -> list[str]:
    """The recorded operations that change something (not Describe*)."""
    return [name for name in server.operations() if not name.startswith("Describe")]


def sent(server, operation: str) -> list[dict]:
    return [params for name, params in server.requests if name == operation]


def test_first_publish_describes_then_creates_all_five(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(aws_definition())
    assert hook.publish(spec) == dict.fromkeys(RESOURCES, "created")
    ops = quicksight_server.operations()
    assert writes(quicksight_server) == CREATES
    for describe, create in (("DescribeDataSource", "CreateDataSource"),
                             ("DescribeDataSet", "CreateDataSet"),
                             ("DescribeAnalysisDefinition", "CreateAnalysis"),
                             ("DescribeDashboardDefinition", "CreateDashboard")):
        assert ops.index(describe) < ops.index(create)
    requests = qs.all_requests(spec, "us-east-1")
    assert sent(quicksight_server, "CreateAnalysis") == [requests["analysis"]]
    assert sent(quicksight_server, "CreateDataSet") == [requests["live dataset"],
                                                        requests["contributions dataset"]]
    assert {name for name in ops if name.endswith("Permissions")} == {
        "DescribeDataSourcePermissions", "DescribeDataSetPermissions",
        "DescribeAnalysisPermissions", "DescribeDashboardPermissions"}


def test_the_same_definition_again_only_describes(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(odd_definition())
    hook.publish(spec)
    quicksight_server.clear()
    assert hook.publish(spec) == dict.fromkeys(RESOURCES, "unchanged")
    assert quicksight_server.operations() and writes(quicksight_server) == []


def test_a_changed_import_mode_updates_the_datasets_only(hook, quicksight_server):  # noqa: F811
    hook.publish(parse_spec(aws_definition()))
    quicksight_server.clear()
    result = hook.publish(parse_spec(aws_definition(quicksight={"ImportMode": "SPICE"})))
    assert result == {"data source": "unchanged", "live dataset": "updated",
                      "contributions dataset": "updated", "analysis": "unchanged",
                      "dashboard": "unchanged"}
    assert writes(quicksight_server) == ["UpdateDataSet", "UpdateDataSet"]
    assert {p["ImportMode"] for p in sent(quicksight_server, "UpdateDataSet")} == {"SPICE"}


def test_an_extra_user_is_granted_access_to_everything(hook, quicksight_server):  # noqa: F811
    hook.publish(parse_spec(aws_definition()))
    quicksight_server.clear()
    spec = parse_spec(aws_definition(quicksight={"Users": [ANALYST, BOSS]}))
    assert hook.publish(spec) == dict.fromkeys(RESOURCES, "updated")
    assert sorted(writes(quicksight_server)) == sorted([
        "UpdateDataSourcePermissions", "UpdateDataSetPermissions", "UpdateDataSetPermissions",
        "UpdateAnalysisPermissions", "UpdateDashboardPermissions"])
    grants = [p["GrantPermissions"] for name, p in quicksight_server.requests
              if name.startswith("Update") and name.endswith("Permissions")]
    assert all([g["Principal"] for g in grant] == [BOSS] for grant in grants)
    dashboard = quicksight_server.resources[("Dashboard", "l4m-ecommerce-dashboard")]
    assert {p["Principal"] for p in dashboard["permissions"]} == {ANALYST, BOSS}


def test_a_changed_dashboard_is_updated_then_its_new_version_published(
        hook, quicksight_server):  # noqa: F811
    hook.publish(parse_spec(aws_definition()))
    quicksight_server.clear()
    daily = parse_spec(aws_definition(AnomalyDetectorConfig={"AnomalyDetectorFrequency": "P1D"}))
    assert hook.publish(daily) == {
        "data source": "unchanged", "live dataset": "unchanged",
        "contributions dataset": "unchanged", "analysis": "updated", "dashboard": "updated"}
    assert writes(quicksight_server) == ["UpdateAnalysis", "UpdateDashboard",
                                         "UpdateDashboardPublishedVersion"]
    [published] = sent(quicksight_server, "UpdateDashboardPublishedVersion")
    assert published["VersionNumber"] == 2
    dashboard = quicksight_server.resources[("Dashboard", "l4m-ecommerce-dashboard")]
    assert dashboard["published"] == 2
    quicksight_server.clear()
    assert hook.publish(daily)["dashboard"] == "unchanged"
    assert writes(quicksight_server) == []


def test_missing_permissions_are_granted_and_others_kept(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(aws_definition())
    hook.publish(spec)
    data_set = qs.data_set_id(spec, "contributions")
    revoked = ["quicksight:UpdateDataSet", "quicksight:DeleteDataSet"]
    hook.conn.update_data_set_permissions(
        AwsAccountId=ACCOUNT, DataSetId=data_set,
        RevokePermissions=[{"Principal": ANALYST, "Actions": revoked}],
        GrantPermissions=[{"Principal": BOSS, "Actions": ["quicksight:DescribeDataSet"]}])
    quicksight_server.clear()
    result = hook.publish(spec)
    assert result["contributions dataset"] == "updated"
    assert [r for r, state in result.items() if state != "unchanged"] == [
        "contributions dataset"]
    [grant] = sent(quicksight_server, "UpdateDataSetPermissions")
    assert grant["DataSetId"] == data_set
    assert grant["GrantPermissions"] == [{"Principal": ANALYST, "Actions": revoked}]
    assert all("RevokePermissions" not in params for _, params in quicksight_server.requests)
    held = {p["Principal"]: p["Actions"]
            for p in quicksight_server.resources[("DataSet", data_set)]["permissions"]}
    assert held[BOSS] == ["quicksight:DescribeDataSet"]
    assert set(held[ANALYST]) == set(qs.DATA_SET_ACTIONS)


def test_principals_beyond_a_create_request_are_granted_afterwards(
        hook, quicksight_server):  # noqa: F811
    users = [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/u{i}" for i in range(64)]
    groups = [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/g{i}" for i in range(2)]
    hook.publish(parse_spec(aws_definition(quicksight={"Users": users, "Groups": groups})))
    grants = [p["GrantPermissions"] for name, p in quicksight_server.requests
              if name.startswith("Update") and name.endswith("Permissions")]
    assert len(grants) == 5
    assert all([g["Principal"] for g in grant] == groups for grant in grants)


def test_a_failed_creation_raises_with_the_resource_id(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(aws_definition())
    analysis = spec.pipeline.aws.quicksight.analysis_id
    quicksight_server.fail_next("Analysis", analysis, "DATA_SET_NOT_FOUND: no such view")
    with pytest.raises(QuickSightPublishError, match=f"{analysis}.*CREATION_FAILED.*no such view"):
        hook.publish(spec)
    quicksight_server.clear()
    assert hook.publish(spec)["analysis"] == "updated"  # a failed resource is updated again
    assert "UpdateAnalysis" in writes(quicksight_server)


def test_a_failed_dashboard_update_is_not_published(hook, quicksight_server):  # noqa: F811
    hook.publish(parse_spec(aws_definition()))
    dashboard = "l4m-ecommerce-dashboard"
    quicksight_server.fail_next("Dashboard", dashboard, "PARAMETER_NOT_FOUND")
    daily = parse_spec(aws_definition(AnomalyDetectorConfig={"AnomalyDetectorFrequency": "P1D"}))
    with pytest.raises(QuickSightPublishError, match=f"version 2 of {dashboard!r}"):
        hook.publish(daily)
    assert "UpdateDashboardPublishedVersion" not in quicksight_server.operations()
    assert quicksight_server.resources[("Dashboard", dashboard)]["published"] == 1


def test_changes_in_progress_are_polled_until_done(hook, quicksight_server):  # noqa: F811
    quicksight_server.in_progress_polls = 2
    assert hook.publish(parse_spec(aws_definition())) == dict.fromkeys(RESOURCES, "created")
    assert quicksight_server.operations().count("DescribeAnalysis") == 3
    assert quicksight_server.operations().count("DescribeDashboard") == 3


def test_a_change_that_never_ends_times_out_naming_the_resource(quicksight_server):  # noqa: F811
    quicksight_server.in_progress_polls = 10**6
    hook = QuickSightPublishHook(poll_interval=0.01, max_wait=0.05)
    with pytest.raises(TimeoutError, match="data source 'L4MQuickSightDataSourceId' still "
                                           "CREATION_IN_PROGRESS"):
        hook.publish(parse_spec(aws_definition()))


def test_spice_datasets_are_ingested(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(odd_definition(quicksight={"ImportMode": "SPICE"}))
    hook.publish(spec)
    quicksight_server.clear()
    assert hook.ingest(spec, "run-1", check_interval=0) == {
        "live dataset": "COMPLETED", "contributions dataset": "COMPLETED"}
    created = sent(quicksight_server, "CreateIngestion")
    assert [(p["DataSetId"], p["IngestionId"], p["IngestionType"]) for p in created] == [
        (qs.data_set_id(spec, which), "run-1", "FULL_REFRESH") for which in qs.WHICH]
    contributions = qs.data_set_id(spec, "contributions")
    quicksight_server.fail_next("Ingestion", contributions, "SQL_TABLE_NOT_FOUND")
    with pytest.raises(QuickSightPublishError, match=f"run-2.*{contributions}"):
        hook.ingest(spec, "run-2", check_interval=0)


def test_direct_query_datasets_are_not_ingested(hook, quicksight_server):  # noqa: F811
    with pytest.raises(ValueError, match="nothing to ingest"):
        hook.ingest(parse_spec(aws_definition()), "run-1")
    assert quicksight_server.operations() == []


def test_the_definition_region_is_the_client_region(hook, quicksight_server):  # noqa: F811
    spec = parse_spec(aws_definition(quicksight={"Region": "eu-west-1"}))
    hook.publish(spec)
    assert hook.conn.meta.region_name == "eu-west-1"
    [analysis] = sent(quicksight_server, "CreateAnalysis")
    arns = [d["DataSetArn"] for d in analysis["Definition"]["DataSetIdentifierDeclarations"]]
    assert all(arn.startswith("arn:aws:quicksight:eu-west-1:") for arn in arns)


SCENARIOS = {
    "ecommerce": aws_definition,
    "odd names": odd_definition,
    "spice": lambda **kw: aws_definition(**{"quicksight": {"ImportMode": "SPICE"}, **kw}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_request_the_hook_sends_is_valid_for_botocore(name, hook,
                                                             quicksight_server):  # noqa: F811
    make = SCENARIOS[name]
    first = parse_spec(make())
    mode = first.pipeline.aws.quicksight.import_mode
    changed = parse_spec(make(
        AnomalyDetectorConfig={"AnomalyDetectorFrequency": "P1D"}, athena={"WorkGroup": "bi"},
        quicksight={"Users": [ANALYST, BOSS],
                    "ImportMode": "DIRECT_QUERY" if mode == "SPICE" else "SPICE"}))
    for spec, ingestion in ((first, "first"), (changed, "second")):
        hook.publish(spec)
        if spec.pipeline.aws.quicksight.import_mode == "SPICE":
            hook.ingest(spec, ingestion, check_interval=0)
    expected = {f"{verb}{noun}" for verb in ("Create", "Update")
                for noun in ("DataSource", "DataSet", "Analysis", "Dashboard")}
    expected |= {f"Update{noun}Permissions"
                 for noun in ("DataSource", "DataSet", "Analysis", "Dashboard")}
    expected |= {"UpdateDashboardPublishedVersion", "CreateIngestion"}
    assert set(writes(quicksight_server)) == expected
    for operation, params in quicksight_server.requests:
        assert request_errors(operation, params) == [], operation
