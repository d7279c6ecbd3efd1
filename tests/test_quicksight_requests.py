"""The QuickSight requests of a definition (pure builders of l4m.aws.quicksight_requests)."""
from __future__ import annotations

import copy
import json
import re

import pytest
from aws_definitions import ACCOUNT, aws_definition, odd_definition
from fakes.quicksight_server import request_errors
from l4m import datasets
from l4m.aws import quicksight_requests as qs
from l4m.aws.drift import drift
from l4m.hooks.quicksight import missing_permissions
from l4m.spec import parse_spec

REGION = "us-east-1"
SPECS = {
    "ecommerce": parse_spec(aws_definition()),
    "odd names": parse_spec(odd_definition()),
    "spice": parse_spec(aws_definition(quicksight={"ImportMode": "SPICE"})),
    "odd daily spice": parse_spec(odd_definition(
        AnomalyDetectorConfig={"AnomalyDetectorFrequency": "P1D"},
        quicksight={"ImportMode": "SPICE", "Region": "eu-west-1",
                    "Groups": [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/ops"]})),
}
CREATE = {"data source": "CreateDataSource", "live dataset": "CreateDataSet",
          "contributions dataset": "CreateDataSet", "analysis": "CreateAnalysis",
          "dashboard": "CreateDashboard"}
ECOMMERCE_WORDS = re.compile(r"ecommerce|views|revenue|platform|marketplace", re.IGNORECASE)


def views(spec) -> dict[str, datasets.Dataset]:
    database = spec.pipeline.aws.glue.database
    return {which: datasets.dataset(spec, which, database) for which in qs.WHICH}


def walk(value):
    """Every dict inside ``value`` (depth first)."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


@pytest.mark.parametrize("name", SPECS)
def test_every_create_and_update_request_is_valid_for_botocore(name):
    requests = qs.all_requests(SPECS[name], REGION)
    assert set(requests) == set(CREATE)
    for resource, request in requests.items():
        operation = CREATE[resource]
        assert request_errors(operation, request) == [], resource
        update = operation.replace("Create", "Update")
        assert request_errors(update, qs.update_request(request)) == [], resource


def test_the_validation_catches_what_quicksight_would_reject():
    request = qs.data_set_request(SPECS["ecommerce"], "live", REGION)
    assert request_errors("CreateDataSet", request) == []
    bad = copy.deepcopy(request)
    bad["ImportMode"] = "LIVE"
    bad["PhysicalTableMap"]["athena_view"] = bad["PhysicalTableMap"].pop(qs.PHYSICAL_TABLE_ID)
    errors = request_errors("CreateDataSet", bad)
    assert any("ImportMode" in e for e in errors) and any("athena_view" in e for e in errors)
    # Create-only fields are refused by Update*: update_request must drop them.
    assert request_errors("UpdateDataSet", request) != []


@pytest.mark.parametrize("name", SPECS)
def test_datasets_read_exactly_the_view_columns(name):
    spec = SPECS[name]
    for which, view in views(spec).items():
        request = qs.data_set_request(spec, which, REGION)
        assert request["DataSetId"] == qs.data_set_id(spec, which)
        [physical] = request["PhysicalTableMap"].values()
        table = physical["RelationalTable"]
        assert (table["Catalog"], table["Schema"], table["Name"]) == (
            "AwsDataCatalog", spec.pipeline.aws.glue.database, view.view)
        assert table["DataSourceArn"].endswith(
            f":{ACCOUNT}:datasource/{spec.pipeline.aws.quicksight.data_source_id}")
        assert [(c["Name"], c["Type"]) for c in table["InputColumns"]] == [
            (c.name, c.type) for c in view.columns]
        names = {c.name for c in view.columns}
        [logical] = request["LogicalTableMap"].values()
        assert logical["Source"] == {"PhysicalTableId": qs.PHYSICAL_TABLE_ID}
        referenced = []
        for transform in logical["DataTransforms"]:
            (kind, body), = transform.items()
            if kind == "ProjectOperation":
                assert body["ProjectedColumns"] == [c.name for c in view.columns]
            referenced += [body["ColumnName"]] if "ColumnName" in body else []
            for column in body.get("Columns", []):  # CreateColumnsOperation, if any
                referenced += re.findall(r"\{([^}]+)\}", column["Expression"])
        assert referenced and set(referenced) <= names
        assert request["ImportMode"] == spec.pipeline.aws.quicksight.import_mode


@pytest.mark.parametrize("name", SPECS)
def test_every_column_the_definition_uses_exists_in_its_dataset(name):
    spec = SPECS[name]
    columns = {which: {c.name for c in view.columns} for which, view in views(spec).items()}
    for request in (qs.analysis_request(spec, REGION), qs.dashboard_request(spec, REGION)):
        definition = request["Definition"]
        declared = {d["Identifier"]: d["DataSetArn"]
                    for d in definition["DataSetIdentifierDeclarations"]}
        for which in qs.WHICH:
            assert declared[which].endswith(f":dataset/{qs.data_set_id(spec, which)}")
        used = [(d["DataSetIdentifier"], d["ColumnName"])
                for d in walk(definition) if "ColumnName" in d]
        assert {which for which, _ in used} == set(qs.WHICH)
        missing = [(which, column) for which, column in used if column not in columns[which]]
        assert missing == []


@pytest.mark.parametrize("name", SPECS)
def test_the_definition_references_only_what_it_declares(name):
    definition = qs.definition(SPECS[name], REGION)
    parameters = {next(iter(p.values()))["Name"] for p in definition["ParameterDeclarations"]}
    assert all(re.fullmatch(r"[a-zA-Z0-9]+", p) for p in parameters)
    used = {d[key] for d in walk(definition)
            for key in ("Parameter", "ParameterName", "SourceParameterName") if key in d}
    assert used == parameters
    [sheet] = definition["Sheets"]
    visual_ids = [next(iter(v.values()))["VisualId"] for v in sheet["Visuals"]]
    [layout] = sheet["Layouts"]
    assert [e["ElementId"] for e in layout["Configuration"]["GridLayout"]["Elements"]] \
        == visual_ids
    for visual in sheet["Visuals"]:
        (_, body), = visual.items()
        wells = body["ChartConfiguration"]["FieldWells"]
        fields = {d["FieldId"] for d in walk(wells) if "Column" in d}
        referenced = {d["FieldId"] for d in walk(body["ChartConfiguration"])
                      if "FieldId" in d and "Column" not in d}
        assert referenced and referenced <= fields
    scoped = {c["SheetId"] for g in definition["FilterGroups"]
              for c in g["ScopeConfiguration"]["SelectedSheets"]
              ["SheetVisualScopingConfigurations"]}
    assert scoped == {sheet["SheetId"]}


@pytest.mark.parametrize("name", SPECS)
def test_one_chart_per_measure_highlights_its_anomalies(name):
    spec = SPECS[name]
    [sheet] = qs.definition(spec, REGION)["Sheets"]
    charts = [v["ComboChartVisual"] for v in sheet["Visuals"] if "ComboChartVisual" in v]
    assert len(charts) == len(spec.metrics)
    event_time = next(c.name for c in views(spec)["live"].columns if c.type == "DATETIME")
    daily = spec.interval_seconds % 86_400 == 0
    for chart, metric in zip(charts, spec.metrics):
        config = chart["ChartConfiguration"]
        wells = config["FieldWells"]["ComboChartAggregatedFieldWells"]
        [time_field] = wells["Category"]
        assert time_field["DateDimensionField"]["Column"]["ColumnName"] == event_time
        assert time_field["DateDimensionField"]["DateGranularity"] == ("DAY" if daily else "HOUR")
        [bars] = wells["BarValues"]
        [marks] = wells["LineValues"]
        assert bars["NumericalMeasureField"]["Column"]["ColumnName"] == metric.name.lower()
        assert marks["NumericalMeasureField"]["Column"]["ColumnName"] == \
            f"{metric.name.lower()}anomalymetricvalue"
        aggregation = {"SUM": "SUM", "AVG": "AVERAGE"}[metric.aggregation]
        for field in (bars, marks):
            assert field["NumericalMeasureField"]["AggregationFunction"] == {
                "SimpleNumericalAggregation": aggregation}
        [series] = config["Series"]
        settings = series["FieldComboSeriesItem"]
        assert settings["FieldId"] == marks["NumericalMeasureField"]["FieldId"]
        assert settings["Settings"]["LineStyleSettings"]["LineVisibility"] == "HIDDEN"
        assert settings["Settings"]["MarkerStyleSettings"]["MarkerColor"] == qs.ANOMALY_COLOR
        assert config["SingleAxisOptions"]["YAxisOptions"]["YAxis"] == "PRIMARY_Y_AXIS"


@pytest.mark.parametrize("name", SPECS)
def test_controls_filter_both_datasets_by_date_and_dimension(name):
    spec = SPECS[name]
    definition = qs.definition(spec, REGION)
    params = qs.parameter_names(spec.dimensions)
    controls = definition["Sheets"][0]["ParameterControls"]
    assert [c["DateTimePicker"]["SourceParameterName"] for c in controls[:2]] == [
        qs.START, qs.END]
    assert [c["Dropdown"]["SourceParameterName"] for c in controls[2:]] == params
    assert [c["Dropdown"]["Title"] for c in controls[2:]] == list(spec.dimensions)
    filters = {}
    for group in definition["FilterGroups"]:
        [flt] = group["Filters"]
        (kind, body), = flt.items()
        filters[(kind, body["Column"]["DataSetIdentifier"], body["Column"]["ColumnName"])] = body
    event_time = next(c.name for c in views(spec)["live"].columns if c.type == "DATETIME")
    for which in qs.WHICH:
        dates = filters[("TimeRangeFilter", which, event_time)]
        assert (dates["RangeMinimumValue"], dates["RangeMaximumValue"]) == (
            {"Parameter": qs.START}, {"Parameter": qs.END})
        for dimension, param in zip(spec.dimensions, params):
            custom = filters[("CategoryFilter", which, dimension.lower())]["Configuration"]
            assert custom["CustomFilterConfiguration"]["ParameterName"] == param
    assert len(filters) == 2 * (1 + len(spec.dimensions))


@pytest.mark.parametrize("name", SPECS)
def test_contributions_table_lists_groups_with_scores(name):
    spec = SPECS[name]
    [table] = [v["TableVisual"] for v in qs.definition(spec, REGION)["Sheets"][0]["Visuals"]
               if "TableVisual" in v]
    wells = table["ChartConfiguration"]["FieldWells"]["TableAggregatedFieldWells"]
    columns = [next(iter(f.values()))["Column"] for f in wells["GroupBy"] + wells["Values"]]
    assert {c["DataSetIdentifier"] for c in columns} == {"contributions"}
    assert [c["ColumnName"] for c in columns] == [
        "timestamp", "metricname", "dimensionname", "dimensionvalue", "valuecontribution",
        *(f"{m.lower()}groupscore" for m in spec.measure_names)]


def test_nothing_is_written_for_the_ecommerce_data():
    spec = SPECS["odd names"]
    text = json.dumps(qs.all_requests(spec, REGION))
    assert ECOMMERCE_WORDS.findall(text) == []
    assert ECOMMERCE_WORDS.findall(json.dumps(qs.all_requests(SPECS["ecommerce"], REGION)))
    # the parsed time column took another name: a measure is called event_time
    assert "event_time_" in text


def test_names_and_ids_come_from_the_definition():
    spec = parse_spec(aws_definition(AnomalyDetectorName="shop-eu", athena={"WorkGroup": "bi"},
                                     quicksight={"DataSourceId": "src-1", "AnalysisId": "a-1",
                                                 "DashboardId": "d-1", "LiveDataSetId": "l-1",
                                                 "ContributionsDataSetId": "c-1"}))
    requests = qs.all_requests(spec, REGION)
    assert requests["data source"]["DataSourceParameters"] == {
        "AthenaParameters": {"WorkGroup": "bi"}}
    assert [requests[k][f] for k, f in (("data source", "DataSourceId"),
                                        ("live dataset", "DataSetId"),
                                        ("contributions dataset", "DataSetId"),
                                        ("analysis", "AnalysisId"),
                                        ("dashboard", "DashboardId"))] == [
        "src-1", "l-1", "c-1", "a-1", "d-1"]
    assert "shop-eu" in requests["dashboard"]["Name"]
    assert requests["dashboard"]["DashboardPublishOptions"]["AdHocFilteringOption"] == {
        "AvailabilityStatus": "ENABLED"}


def test_arns_use_the_quicksight_region_and_the_principals_partition():
    spec = SPECS["odd daily spice"]
    for declaration in qs.definition(spec, "us-east-1")["DataSetIdentifierDeclarations"]:
        assert declaration["DataSetArn"].startswith(f"arn:aws:quicksight:eu-west-1:{ACCOUNT}:")
    china = parse_spec(aws_definition(quicksight={
        "Users": [f"arn:aws-cn:quicksight:cn-north-1:{ACCOUNT}:user/default/li"]}))
    assert qs.arn(china, "dataset", "x", "cn-north-1") == \
        f"arn:aws-cn:quicksight:cn-north-1:{ACCOUNT}:dataset/x"
    with pytest.raises(ValueError, match="no QuickSight region"):
        qs.analysis_request(SPECS["ecommerce"])


def test_every_principal_gets_the_owner_actions():
    spec = SPECS["odd daily spice"]
    principals = spec.pipeline.aws.quicksight.principals
    assert len(principals) == 2
    for resource, actions in (("data source", qs.DATA_SOURCE_ACTIONS),
                              ("live dataset", qs.DATA_SET_ACTIONS),
                              ("analysis", qs.ANALYSIS_ACTIONS),
                              ("dashboard", qs.DASHBOARD_ACTIONS)):
        granted = qs.all_requests(spec, REGION)[resource]["Permissions"]
        assert granted == [{"Principal": p, "Actions": list(actions)} for p in principals]
    many = parse_spec(aws_definition(quicksight={"Users": [
        f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/u{i}" for i in range(64)],
        "Groups": [f"arn:aws:quicksight:us-east-1:{ACCOUNT}:group/default/g{i}"
                   for i in range(3)]}))
    request = qs.analysis_request(many, REGION)
    assert len(request["Permissions"]) == qs.MAX_CREATE_PRINCIPALS
    assert request_errors("CreateAnalysis", request) == []


def test_update_request_drops_what_only_create_takes():
    request = qs.data_source_request(SPECS["ecommerce"])
    update = qs.update_request(request)
    assert "Permissions" not in update and "Type" not in update
    assert update["DataSourceParameters"] == request["DataSourceParameters"]


def test_parameter_names_are_alphanumeric_and_unique():
    assert qs.parameter_names(("platform", "store-id", "store_id", "StartDate", "--")) == [
        "Platform", "StoreId", "StoreIdX", "StartDateX", "Dimension5"]


def test_extra_fields_quicksight_adds_are_not_drift_but_changed_values_are():
    want = qs.data_set_request(SPECS["ecommerce"], "live", REGION)
    compared = {k: want[k] for k in ("Name", "PhysicalTableMap", "LogicalTableMap",
                                     "ImportMode")}
    described = copy.deepcopy(compared)
    described.update(Arn="arn:…", CreatedTime=0, OutputColumns=[], DataSetId="x")
    for column in described["PhysicalTableMap"][qs.PHYSICAL_TABLE_ID]["RelationalTable"][
            "InputColumns"]:
        column["SubType"] = "FLOAT"
    assert drift(compared, described) == []
    described["ImportMode"] = "SPICE"
    described["LogicalTableMap"][qs.LOGICAL_TABLE_ID]["DataTransforms"].pop()
    assert drift(compared, described) == [
        f"LogicalTableMap.{qs.LOGICAL_TABLE_ID}.DataTransforms", "ImportMode"]


def test_missing_permissions_are_what_our_principals_lack():
    wanted = qs.permissions(("a", "b"), ("user/x", "user/y"))
    current = [{"Principal": "user/x", "Actions": ["b", "a"]},
               {"Principal": "user/y", "Actions": ["a"]},
               {"Principal": "user/admin", "Actions": ["z"]}]
    assert missing_permissions(current, wanted) == [{"Principal": "user/y", "Actions": ["b"]}]
    assert missing_permissions([], wanted) == wanted
