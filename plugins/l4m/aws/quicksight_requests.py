"""The QuickSight requests of a definition: data source, two datasets, analysis, dashboard.

Pure functions: each returns the keyword arguments of one boto3 QuickSight call, derived
from the definition alone (ids, names, columns: nothing is written for one data set).
Compared with the seed (SEED-SYSTEM §6):

* the datasets read the two Athena views of :mod:`l4m.datasets` as relational tables,
  so the parsed ``event_time`` and the ``is<measure>anomaly`` flags come from the view:
  no calculated columns (the seed's failed when created through the API);
* the workshop analysis, built by hand in the seed, is defined here with the
  Definition API and published as a dashboard. One sheet: a drop-down per dimension
  and start/end date pickers filtering both datasets; per measure a combo chart over
  ``event_time`` by hour (by day for daily detectors); a table of the anomaly groups'
  dimension contributions.

How anomalies show: each chart's bars are the measure (SUM, or AVERAGE for an ``AVG``
measure); a second series, ``<measure>anomalymetricvalue`` (the value of the series
that were anomalous, empty elsewhere), is drawn as red markers without a line on the
same axis. With the dimensions filtered to one series the marker sits on the top of
each anomalous bar; unfiltered it shows how much of the interval's total the anomalous
series make. Red bars coloured by ``is<measure>anomaly`` would need the flag as a
colour dimension, and QuickSight turns BOOLEAN columns into integers; the marker series
needs only a DECIMAL column and no colour mapping by value.
"""
from __future__ import annotations

import re

from l4m import datasets
from l4m.spec import DetectorSpec, Metric
from l4m.spec_aws import QuickSightSpec

WHICH = ("live", "contributions")
LABELS = {"live": "live data", "contributions": "dimension contributions"}
CATALOG = "AwsDataCatalog"
PHYSICAL_TABLE_ID = "athena-view"
LOGICAL_TABLE_ID = "l4m-view"
SHEET_ID = "anomalies"
START, END = "StartDate", "EndDate"
DEFAULT_DAYS = 7  # the date pickers start on the last DEFAULT_DAYS days
ANOMALY_COLOR = "#D62728"
MAX_CREATE_PRINCIPALS = 64  # a Create* request's Permissions; the hook grants the others
CREATE_ONLY_FIELDS = ("Permissions", "Type", "Tags", "FolderArns")
_AGGREGATIONS = {"SUM": "SUM", "AVG": "AVERAGE"}

# Owner actions, as the QuickSight console grants them to a resource's owners.
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource", "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource", "quicksight:UpdateDataSourcePermissions")
DATA_SET_ACTIONS = (
    "quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet", "quicksight:DescribeIngestion", "quicksight:ListIngestions",
    "quicksight:UpdateDataSet", "quicksight:DeleteDataSet", "quicksight:CreateIngestion",
    "quicksight:CancelIngestion", "quicksight:UpdateDataSetPermissions")
ANALYSIS_ACTIONS = (
    "quicksight:RestoreAnalysis", "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis", "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis", "quicksight:DescribeAnalysis", "quicksight:UpdateAnalysis")
DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard", "quicksight:ListDashboardVersions",
    "quicksight:UpdateDashboardPermissions", "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard", "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions", "quicksight:UpdateDashboardPublishedVersion")


def permissions(actions: tuple[str, ...], principals: tuple[str, ...]) -> list[dict]:
    """ResourcePermission items granting ``actions`` to each of ``principals``."""
    return [{"Principal": principal, "Actions": list(actions)} for principal in principals]


def quicksight_spec(spec: DetectorSpec) -> QuickSightSpec:
    """The definition's ``Publish.QuickSight`` section; ValueError when it has none."""
    quicksight = spec.pipeline.aws.quicksight
    if quicksight is None:
        raise ValueError(f"detector {spec.name}: the definition has no Publish.QuickSight")
    return quicksight


def data_set_id(spec: DetectorSpec, which: str) -> str:
    """The QuickSight id of the dataset ``which`` ("live" or "contributions")."""
    quicksight = quicksight_spec(spec)
    ids = {"live": quicksight.live_data_set_id,
           "contributions": quicksight.contributions_data_set_id}
    if which not in ids:
        raise ValueError(f"unknown dataset {which!r} (use 'live' or 'contributions')")
    return ids[which]


def arn(spec: DetectorSpec, kind: str, resource_id: str, region: str | None = None) -> str:
    """ARN of a QuickSight ``kind`` (datasource, dataset, analysis, dashboard) resource.

    The region is the definition's QuickSight ``Region``, else ``region`` (the client's);
    the partition is that of the principals' ARNs.
    """
    quicksight = quicksight_spec(spec)
    where = quicksight.region or region
    if not where:
        raise ValueError(f"detector {spec.name}: no QuickSight region (set "
                         "Publish.QuickSight.Region or pass the client's region)")
    partition = quicksight.principals[0].split(":")[1]
    return f"arn:{partition}:quicksight:{where}:{quicksight.account_id}:{kind}/{resource_id}"


def data_source_request(spec: DetectorSpec) -> dict:
    """CreateDataSource: the Athena data source in the definition's work group."""
    quicksight = quicksight_spec(spec)
    work_group = spec.pipeline.aws.athena.work_group
    return {
        "AwsAccountId": quicksight.account_id,
        "DataSourceId": quicksight.data_source_id,
        "Name": f"L4M Athena ({work_group})",
        "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": work_group}},
        "Permissions": _owners(DATA_SOURCE_ACTIONS, quicksight),
    }


def data_set_request(spec: DetectorSpec, which: str, region: str | None = None) -> dict:
    """CreateDataSet: the Athena view of :func:`l4m.datasets.dataset` ``which``, every column."""
    quicksight = quicksight_spec(spec)
    database = spec.pipeline.aws.glue.database
    view = datasets.dataset(spec, which, database)
    descriptions = _descriptions(spec, view)
    transforms = [{"ProjectOperation": {"ProjectedColumns": [c.name for c in view.columns]}}]
    transforms += [{"TagColumnOperation": {"ColumnName": name,
                                           "Tags": [{"ColumnDescription": {"Text": text}}]}}
                   for name, text in descriptions.items()]
    return {
        "AwsAccountId": quicksight.account_id,
        "DataSetId": data_set_id(spec, which),
        "Name": f"L4M {spec.name} {LABELS[which]}",
        "PhysicalTableMap": {PHYSICAL_TABLE_ID: {"RelationalTable": {
            "DataSourceArn": arn(spec, "datasource", quicksight.data_source_id, region),
            "Catalog": CATALOG,
            "Schema": database,
            "Name": view.view,
            "InputColumns": [{"Name": c.name, "Type": c.type} for c in view.columns],
        }}},
        "LogicalTableMap": {LOGICAL_TABLE_ID: {
            "Alias": view.view,
            "Source": {"PhysicalTableId": PHYSICAL_TABLE_ID},
            "DataTransforms": transforms,
        }},
        "ImportMode": quicksight.import_mode,
        "Permissions": _owners(DATA_SET_ACTIONS, quicksight),
    }


def analysis_request(spec: DetectorSpec, region: str | None = None) -> dict:
    """CreateAnalysis with the :func:`definition` (editable by the principals)."""
    quicksight = quicksight_spec(spec)
    return {
        "AwsAccountId": quicksight.account_id,
        "AnalysisId": quicksight.analysis_id,
        "Name": f"L4M {spec.name} anomalies",
        "Definition": definition(spec, region),
        "Permissions": _owners(ANALYSIS_ACTIONS, quicksight),
    }


def dashboard_request(spec: DetectorSpec, region: str | None = None) -> dict:
    """CreateDashboard with the :func:`definition`: ad hoc filtering and CSV export on."""
    quicksight = quicksight_spec(spec)
    return {
        "AwsAccountId": quicksight.account_id,
        "DashboardId": quicksight.dashboard_id,
        "Name": f"L4M {spec.name} anomalies",
        "Definition": definition(spec, region),
        "DashboardPublishOptions": {
            "AdHocFilteringOption": {"AvailabilityStatus": "ENABLED"},
            "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
            "SheetControlsOption": {"VisibilityState": "EXPANDED"},
        },
        "Permissions": _owners(DASHBOARD_ACTIONS, quicksight),
    }


def update_request(create: dict) -> dict:
    """The Update* request of a Create* request (Update* takes no Permissions, Type, …)."""
    return {key: value for key, value in create.items() if key not in CREATE_ONLY_FIELDS}


def all_requests(spec: DetectorSpec, region: str | None = None) -> dict[str, dict]:
    """Every Create* request, by resource name ("data source", "live dataset", …)."""
    return {
        "data source": data_source_request(spec),
        "live dataset": data_set_request(spec, "live", region),
        "contributions dataset": data_set_request(spec, "contributions", region),
        "analysis": analysis_request(spec, region),
        "dashboard": dashboard_request(spec, region),
    }


# ---------------------------------------------------------------------------- definition


def definition(spec: DetectorSpec, region: str | None = None) -> dict:
    """The analysis and dashboard Definition (see the module docstring)."""
    database = spec.pipeline.aws.glue.database
    views = {which: datasets.dataset(spec, which, database) for which in WHICH}
    event_time = next(c.name for c in views["live"].columns if c.type == datasets.DATETIME)
    granularity = "DAY" if spec.interval_seconds % 86_400 == 0 else "HOUR"
    params = parameter_names(spec.dimensions)
    picker_format = "YYYY-MM-DD" if granularity == "DAY" else "YYYY-MM-DD HH:mm"
    controls = [
        {"DateTimePicker": {"ParameterControlId": "start-date", "Title": "Start date",
                            "SourceParameterName": START,
                            "DisplayOptions": {"DateTimeFormat": picker_format}}},
        {"DateTimePicker": {"ParameterControlId": "end-date", "Title": "End date",
                            "SourceParameterName": END,
                            "DisplayOptions": {"DateTimeFormat": picker_format}}},
        *({"Dropdown": {"ParameterControlId": f"dimension-{i}", "Title": dimension,
                        "SourceParameterName": param, "Type": "MULTI_SELECT",
                        "SelectableValues": {"LinkToDataSetColumn":
                                             _column("live", dimension.lower())},
                        "DisplayOptions": {"SelectAllOptions": {"Visibility": "VISIBLE"}}}}
          for i, (dimension, param) in enumerate(zip(spec.dimensions, params), 1)),
    ]
    visuals = [_measure_chart(i, metric, spec, event_time, granularity)
               for i, metric in enumerate(spec.metrics, 1)]
    visuals.append(_contributions_table(spec))
    return {
        "DataSetIdentifierDeclarations": [
            {"Identifier": which, "DataSetArn": arn(spec, "dataset", data_set_id(spec, which),
                                                    region)} for which in WHICH],
        "ParameterDeclarations": _parameters(params, granularity),
        "FilterGroups": _filter_groups(spec, views, event_time, params, granularity),
        "Sheets": [{
            "SheetId": SHEET_ID,
            "Name": "Anomalies",
            "ParameterControls": controls,
            "Visuals": visuals,
            "Layouts": [{"Configuration": {"GridLayout": {"Elements": [
                {"ElementId": _visual_id(visual), "ElementType": "VISUAL",
                 "ColumnSpan": 36, "RowSpan": 12} for visual in visuals]}}}],
        }],
    }


def parameter_names(dimensions: tuple[str, ...]) -> list[str]:
    """One QuickSight parameter name per dimension: its letters and digits, CamelCased.

    Parameter names allow only ``[a-zA-Z0-9]``; a name already taken gets ``X`` appended.
    """
    taken = {START, END}
    names = []
    for i, dimension in enumerate(dimensions, 1):
        parts = [p for p in re.split(r"[^A-Za-z0-9]+", dimension) if p]
        name = "".join(p[:1].upper() + p[1:] for p in parts) or f"Dimension{i}"
        while name in taken:
            name += "X"
        taken.add(name)
        names.append(name)
    return names


def _owners(actions: tuple[str, ...], quicksight: QuickSightSpec) -> list[dict]:
    return permissions(actions, quicksight.principals[:MAX_CREATE_PRINCIPALS])


def _column(which: str, name: str) -> dict:
    return {"DataSetIdentifier": which, "ColumnName": name}


def _visual_id(visual: dict) -> str:
    return next(iter(visual.values()))["VisualId"]


def _anomaly_columns(spec: DetectorSpec) -> list[tuple[Metric, str, str]]:
    """(measure, its anomaly-value column, its group-score column), in definition order."""
    scores = [c.name for c in datasets.score_columns(spec)[2 + len(spec.dimensions):]]
    return list(zip(spec.metrics, scores[0::2], scores[1::2]))


def _descriptions(spec: DetectorSpec, view: datasets.Dataset) -> dict[str, str]:
    """Column descriptions (shown in QuickSight's field list) of the anomaly columns."""
    flags = [c.name for c in view.columns if c.type == datasets.BOOLEAN]
    event_time = next(c.name for c in view.columns if c.type == datasets.DATETIME)
    found = {event_time: "The row's time: the timestamp as a date-time"}
    if any(c.name == "valuecontribution" for c in view.columns):
        found["valuecontribution"] = ("Share (0-100) of the anomaly group's deviation "
                                      "that this dimension value accounts for")
    for (metric, value, score), flag in zip(_anomaly_columns(spec), flags):
        found[value] = f"{metric.name} of this series when anomalous, empty otherwise"
        found[score] = f"Severity (0-100) of the {metric.name} anomaly group, if any"
        found[flag] = f"Whether this series was anomalous in {metric.name}"
    return found


def _parameters(params: list[str], granularity: str) -> list[dict]:
    window = f"addDateTime(-{DEFAULT_DAYS}, 'DD', truncDate('DD', now()))"
    return [
        {"DateTimeParameterDeclaration": {
            "Name": START, "TimeGranularity": granularity,
            "DefaultValues": {"RollingDate": {"Expression": window}}}},
        {"DateTimeParameterDeclaration": {
            "Name": END, "TimeGranularity": granularity,
            "DefaultValues": {"RollingDate": {
                "Expression": "addDateTime(1, 'DD', truncDate('DD', now()))"}}}},
        *({"StringParameterDeclaration": {"ParameterValueType": "MULTI_VALUED", "Name": name}}
          for name in params),
    ]


def _filter_groups(spec: DetectorSpec, views: dict, event_time: str, params: list[str],
                   granularity: str) -> list[dict]:
    """Per dataset: the date range on ``event_time`` and one filter per dimension."""
    scope = {"SelectedSheets": {"SheetVisualScopingConfigurations": [
        {"SheetId": SHEET_ID, "Scope": "ALL_VISUALS"}]}}
    groups = []
    for which in WHICH:
        columns = {c.name for c in views[which].columns}
        filters = []
        if event_time in columns:
            filters.append({"TimeRangeFilter": {
                "FilterId": f"dates-{which}", "Column": _column(which, event_time),
                "IncludeMinimum": True, "IncludeMaximum": False,
                "RangeMinimumValue": {"Parameter": START},
                "RangeMaximumValue": {"Parameter": END},
                "NullOption": "NON_NULLS_ONLY", "TimeGranularity": granularity}})
        for i, (dimension, param) in enumerate(zip(spec.dimensions, params), 1):
            if dimension.lower() in columns:
                filters.append({"CategoryFilter": {
                    "FilterId": f"dimension-{i}-{which}",
                    "Column": _column(which, dimension.lower()),
                    "Configuration": {"CustomFilterConfiguration": {
                        "MatchOperator": "EQUALS", "ParameterName": param,
                        "SelectAllOptions": "FILTER_ALL_VALUES",
                        "NullOption": "NON_NULLS_ONLY"}}}})
        groups += [{"FilterGroupId": next(iter(f.values()))["FilterId"], "Filters": [f],
                    "ScopeConfiguration": scope, "Status": "ENABLED",
                    "CrossDataset": "SINGLE_DATASET"} for f in filters]
    return groups


def _measure_field(field_id: str, column: str, aggregation: str) -> dict:
    return {"NumericalMeasureField": {
        "FieldId": field_id, "Column": _column("live", column),
        "AggregationFunction": {"SimpleNumericalAggregation": aggregation}}}


def _measure_chart(index: int, metric: Metric, spec: DetectorSpec, event_time: str,
                   granularity: str) -> dict:
    """Bars: the measure per interval; red markers: its anomalous series' values."""
    visual = f"measure-{index}"
    anomaly = {m.name: value for m, value, _ in _anomaly_columns(spec)}[metric.name]
    aggregation = _AGGREGATIONS[metric.aggregation]
    return {"ComboChartVisual": {
        "VisualId": visual,
        "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": (
            f"{metric.name}: {aggregation.lower()} per {granularity.lower()}, "
            "anomalous series in red")}},
        "ChartConfiguration": {
            "FieldWells": {"ComboChartAggregatedFieldWells": {
                "Category": [{"DateDimensionField": {
                    "FieldId": f"{visual}-time", "Column": _column("live", event_time),
                    "DateGranularity": granularity}}],
                "BarValues": [_measure_field(f"{visual}-value", metric.name.lower(),
                                             aggregation)],
                "LineValues": [_measure_field(f"{visual}-anomaly", anomaly, aggregation)],
            }},
            "SortConfiguration": {"CategorySort": [
                {"FieldSort": {"FieldId": f"{visual}-time", "Direction": "ASC"}}]},
            "BarsArrangement": "CLUSTERED",
            "SingleAxisOptions": {"YAxisOptions": {"YAxis": "PRIMARY_Y_AXIS"}},
            "Series": [{"FieldComboSeriesItem": {"FieldId": f"{visual}-anomaly", "Settings": {
                "LineStyleSettings": {"LineVisibility": "HIDDEN"},
                "MarkerStyleSettings": {"MarkerVisibility": "VISIBLE", "MarkerShape": "CIRCLE",
                                        "MarkerSize": "8px", "MarkerColor": ANOMALY_COLOR}}}}],
            "Legend": {"Visibility": "VISIBLE"},
        },
    }}


def _contributions_table(spec: DetectorSpec) -> dict:
    """Anomaly groups by time and measure, each dimension value's contribution and scores."""
    keys = ("timestamp", "metricname", "dimensionname", "dimensionvalue")
    labels = {"timestamp": "Time", "metricname": "Measure", "dimensionname": "Dimension",
              "dimensionvalue": "Value", "valuecontribution": "Contribution (%)"}
    scores = [(metric, score) for metric, _, score in _anomaly_columns(spec)]
    group_by = [{"CategoricalDimensionField": {"FieldId": f"table-{key}",
                                               "Column": _column("contributions", key)}}
                for key in keys]
    values = [{"NumericalMeasureField": {
        "FieldId": f"table-{name}", "Column": _column("contributions", name),
        "AggregationFunction": {"SimpleNumericalAggregation": "MAX"}}}
        for name in ("valuecontribution", *(score for _, score in scores))]
    labels.update({score: f"{metric.name} group score" for metric, score in scores})
    return {"TableVisual": {
        "VisualId": "contributions",
        "Title": {"Visibility": "VISIBLE", "FormatText": {
            "PlainText": "Anomaly groups: dimension contributions"}},
        "ChartConfiguration": {
            "FieldWells": {"TableAggregatedFieldWells": {"GroupBy": group_by,
                                                         "Values": values}},
            "SortConfiguration": {"RowSort": [
                {"FieldSort": {"FieldId": "table-timestamp", "Direction": "DESC"}},
                {"FieldSort": {"FieldId": "table-valuecontribution", "Direction": "DESC"}}]},
            "FieldOptions": {"SelectedFieldOptions": [
                {"FieldId": f"table-{name}", "CustomLabel": label}
                for name, label in labels.items()]},
        },
    }}
