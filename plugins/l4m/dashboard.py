"""The local dashboard: one self-contained HTML page in place of the QuickSight analysis.

Per measure a bar chart over time (the measure summed over the selected dimension
values, anomalous intervals in red, the expected band when per-point scores are given),
filters for the date range and each dimension that redraw everything in the browser, and
the anomaly groups with their dimension contributions. plotly.js and the data are inline,
so the page works offline. The data is sent as compact column-oriented JSON: one row per
interval and dimension combination, at most ``max_rows`` rows (the latest intervals).
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from l4m.io.atomic import write_text_atomic
from l4m.locations import local_path
from l4m.spec import DetectorSpec

MAX_ROWS = 200_000
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
_CONTRIB_KEYS = ["@t", "@m", "dimensionname", "dimensionvalue"]


def render_dashboard(spec: DetectorSpec, live: pd.DataFrame, contributions: pd.DataFrame,
                     groups: list[dict], *, title: str | None = None,
                     scores: pd.DataFrame | None = None, max_rows: int = MAX_ROWS) -> str:
    """The dashboard of ``spec`` as one HTML document.

    ``live`` and ``contributions`` are the catalog's two datasets (lower-case columns),
    ``groups`` the lines of ``anomalyGroups.jsonl``, ``scores`` the optional
    ``--scores-out`` frame that adds the expected band.
    """
    dims = [d.lower() for d in spec.dimensions]
    table, values = _series_table(spec, live, scores)
    note = ""
    if len(table) > max_rows:
        counts = table.groupby("@t").size().iloc[::-1].cumsum()
        table = table[table["@t"].isin(counts.index[counts <= max_rows])]
        note = (f"Data capped at {max_rows:,} rows: showing the latest {len(table):,} of "
                f"{int(counts.iloc[-1]):,} series-intervals; earlier intervals are omitted.")
    times = sorted(table["@t"].unique().tolist())
    measures = [m.lower() for m in spec.measure_names]
    band = scores is not None
    payload = {
        "measures": list(spec.measure_names),
        "interval_ms": spec.interval_seconds * 1000,
        "times": times,
        "t": pd.Categorical(table["@t"], categories=times).codes.tolist(),
        "d": [pd.Categorical(table[d], categories=values[i]).codes.tolist()
              for i, d in enumerate(dims)],
        "m": [_numbers(table[m]) for m in measures],
        "s": [_numbers(table[f"@s:{m}"]) for m in measures],
        "band": band,
        "lo": [_numbers(table[f"@lo:{m}"]) for m in measures] if band else [],
        "hi": [_numbers(table[f"@hi:{m}"]) for m in measures] if band else [],
        "contrib": _contribution_map(spec, contributions),
        "groups": _group_rows(spec, groups),
    }
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    data = data.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    plotly_js = re.sub(r"</(?=script)", r"<\\/", get_plotlyjs(), flags=re.IGNORECASE)
    first, last = (times[0][:10], times[-1][:10]) if times else ("", "")
    page_title = title or f"L4M dashboard: {spec.name}"
    facts = (f"{spec.frequency} intervals, times in {spec.timezone}"
             + (f", data {first} to {last}" if times else ", no data"))
    notes = [note] if note else []
    if not band:
        notes.append("No expected band: it needs the per-point scores (l4m --scores-out).")
    parts = {
        "__TITLE__": html.escape(page_title),
        "__FACTS__": html.escape(facts),
        "__NOTES__": "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes),
        "__FILTERS__": _filters(spec.dimensions, values, first, last),
        "__CHARTS__": "".join(
            f'<section class="card"><h2>{html.escape(m)} <span class="sub" id="sub-{i}">'
            f'</span></h2><div class="chart" id="chart-{i}"></div>'
            f'<div class="contrib" id="contrib-{i}"></div></section>'
            for i, m in enumerate(spec.measure_names)),
        "__TZ__": html.escape(spec.timezone),
        "__STYLE__": _STYLE,
        "__PLOTLY__": plotly_js,
        "__DATA__": data,
        "__SCRIPT__": _SCRIPT,
    }
    return re.sub("|".join(parts), lambda match: parts[match.group(0)], _PAGE)


def write_dashboard(path_url_or_path: str | Path, html_text: str) -> None:
    """Write the page atomically to a local path or ``file://`` URL."""
    write_text_atomic(Path(local_path(path_url_or_path)), html_text)


def read_groups(results: str | Path) -> list[dict]:
    """The groups of ``<results>/anomalyGroups.jsonl`` (none when the file is missing)."""
    path = Path(local_path(results)) / "anomalyGroups.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _interval(times: pd.Series, spec: DetectorSpec) -> pd.Series:
    """Interval start of each time, formatted as the charts' x values."""
    floored = pd.to_datetime(times).dt.floor(f"{spec.interval_seconds}s")
    return floored.dt.strftime(TS_FORMAT)


def _numbers(column: pd.Series) -> list:
    """JSON numbers with 10 significant digits, ``None`` for missing values."""
    return [None if math.isnan(v) else float(f"{v:.10g}") for v in column.astype(float).tolist()]


def _series_table(spec: DetectorSpec, live: pd.DataFrame, scores: pd.DataFrame | None):
    """One row per interval and combination: measure sums, max anomaly score, band."""
    dims = [d.lower() for d in spec.dimensions]
    measures = [m.lower() for m in spec.measure_names]
    frame = pd.DataFrame({"@t": _interval(live["event_time"], spec)}, index=live.index)
    for d in dims:
        frame[d] = live[d].fillna("").astype(str)
    for m in measures:
        frame[m] = pd.to_numeric(live[m], errors="coerce")
        anomalous = live[f"is{m}anomaly"].fillna(False).astype(bool)
        frame[f"@s:{m}"] = pd.to_numeric(live[f"{m}groupscore"], errors="coerce").where(anomalous)
    frame = frame.dropna(subset=["@t"])
    keys = ["@t", *dims]
    grouped = frame.groupby(keys, sort=True)
    table = grouped[measures].sum(min_count=1).join(grouped[[f"@s:{m}" for m in measures]].max())
    if scores is not None:
        sc = scores.rename(columns=str.lower)
        sc = sc.assign(**{"@t": _interval(pd.to_datetime(sc["timestamp"], format=TS_FORMAT),
                                          spec),
                          "@m": sc["metric"].astype(str).str.lower(),
                          **{d: sc[d].fillna("").astype(str) for d in dims}})
        band = sc.groupby([*keys, "@m"])[["lower", "upper"]].sum(min_count=1).unstack("@m")
        band.columns = [f"@{'lo' if b == 'lower' else 'hi'}:{m}" for b, m in band.columns]
        table = table.join(band, how="left")
        for m in measures:
            for b in ("lo", "hi"):
                if f"@{b}:{m}" not in table:
                    table[f"@{b}:{m}"] = float("nan")
    values = [sorted(frame[d].unique().tolist()) for d in dims]
    return table.reset_index(), values


def _contribution_map(spec: DetectorSpec, frame: pd.DataFrame) -> list[dict]:
    """Per measure: {interval: [[dimension, [[value, share %], …]], …]}, largest first."""
    dims = [d.lower() for d in spec.dimensions]
    measures = [m.lower() for m in spec.measure_names]
    c = frame.dropna(subset=["metricname", "dimensionname", "valuecontribution"])
    c = c.assign(**{"@t": _interval(c["event_time"], spec),
                    "@m": c["metricname"].astype(str).str.lower()})
    c = c.drop_duplicates(_CONTRIB_KEYS).sort_values("valuecontribution", ascending=False,
                                                     kind="stable")
    out: list[dict] = [{} for _ in measures]
    for (t, m, d), part in c.groupby(_CONTRIB_KEYS[:3], sort=False):
        if m in measures:
            out[measures.index(m)].setdefault(t, []).append([str(d), [
                [str(v), float(p)] for v, p in zip(part["dimensionvalue"],
                                                   part["valuecontribution"])]])
    order = {d: i for i, d in enumerate(dims)}
    for per_time in out:
        for entries in per_time.values():
            entries.sort(key=lambda e: order.get(e[0].lower(), len(dims)))
    return out


def _group_rows(spec: DetectorSpec, groups: list[dict]) -> list[dict]:
    """The table rows of the anomaly groups, most recent first, times local to the detector."""
    rows = []
    for line in groups:
        group = line["AnomalyGroup"]
        impact = (group.get("MetricLevelImpactList") or [{}])[0]
        matrix = impact.get("ContributionMatrix", {}).get("DimensionContributionList", [])
        rows.append({
            "id": group["AnomalyGroupId"],
            "start": _local(group["StartTime"], spec.timezone),
            "end": _local(group["EndTime"], spec.timezone),
            "measure": group["PrimaryMetricName"],
            "score": group["AnomalyGroupScore"],
            "series": impact.get("NumTimeSeries"),
            "contrib": [[c["DimensionName"], [[v["DimensionValue"], v["ContributionScore"]]
                                              for v in c["DimensionValueContributionList"]]]
                        for c in matrix],
        })
    return sorted(rows, key=lambda r: (r["start"], r["measure"]), reverse=True)


def _local(utc_text: str, timezone: str) -> str:
    return pd.Timestamp(utc_text).tz_convert(timezone).strftime(TS_FORMAT)


def _filters(dimensions, values: list[list[str]], first: str, last: str) -> str:
    """The filter controls: start and end date, one multi-select per dimension."""
    out = [f'<label>{label} <input type="date" id="{key}" value="{value}" min="{first}" '
           f'max="{last}"></label>'
           for label, key, value in (("Start date", "from", first), ("End date", "to", last))]
    for i, (name, vals) in enumerate(zip(dimensions, values)):
        options = "".join(f'<option value="{j}" selected>{html.escape(v)}</option>'
                          for j, v in enumerate(vals))
        out.append(f'<label>{html.escape(name)} <select multiple data-dim="{i}" '
                   f'size="{max(2, min(6, len(vals)))}">{options}</select></label>')
    return "".join(out)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<script>
(function () {
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.documentElement.setAttribute("data-errors", errors.join(" | "));
  }
  window.addEventListener("error", function (e) { record(e.message || e); });
  window.addEventListener("unhandledrejection", function (e) { record(e.reason); });
  var consoleError = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
})();
</script>
<style>__STYLE__</style>
<script>__PLOTLY__</script>
</head><body>
<header><h1>__TITLE__</h1><p class="facts">__FACTS__</p>__NOTES__</header>
<form class="card filters" id="filters">__FILTERS__
<button type="button" id="reset">Reset filters</button>
<p class="hint">Ctrl/Cmd-click selects several values; selecting none means all.
Click a bar for that interval's dimension contributions.</p></form>
__CHARTS__
<section class="card"><h2>Anomaly groups <span class="sub" id="groups-count"></span></h2>
<table><thead><tr><th>Start (__TZ__)</th><th>End</th><th>Measure</th><th>Score</th>
<th>Series</th><th>Dimension contributions (top value per dimension; open for all)</th>
</tr></thead><tbody id="groups-body"></tbody></table></section>
<script type="application/json" id="l4m-data">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 12px 20px; background: #f4f5f7; color: #222; }
h1 { font-size: 22px; margin: 4px 0; } h2 { font-size: 16px; margin: 0 0 6px; }
.facts, .sub, .hint { color: #666; font-weight: normal; font-size: 13px; }
.note { background: #fff4ce; padding: 6px 10px; border-radius: 4px; margin: 4px 0; }
.card { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px #0002;
        padding: 12px 16px; margin: 12px 0; }
.filters { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.filters label { display: flex; flex-direction: column; gap: 4px; font-weight: 600; }
.filters select { min-width: 160px; } .filters .hint { flex-basis: 100%; margin: 0; }
.chart { height: 320px; }
.contrib:empty { display: none; }
.contrib h3 { font-size: 14px; margin: 4px 0; }
.contrib { border-top: 1px solid #eee; padding-top: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.num { text-align: right; }
.dims { display: flex; flex-wrap: wrap; gap: 4px 24px; margin-top: 4px; }
.share { display: grid; grid-template-columns: 12em 120px 5em; gap: 6px; align-items: center; }
.share span:last-child { white-space: nowrap; text-align: right; }
.share span { overflow-wrap: anywhere; }
.bar { background: #d62728; height: 8px; border-radius: 2px; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("l4m-data").textContent);
  var from = document.getElementById("from"), to = document.getElementById("to");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-dim]"));
  var T = D.times.length, N = D.t.length;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function esc(text) {  // for Plotly labels, which accept a few HTML tags
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function contributions(parent, list) {
    var box = el("div", undefined, "dims");
    list.forEach(function (dim) {
      var col = el("div");
      col.appendChild(el("strong", dim[0]));
      dim[1].forEach(function (v) {
        var row = el("div", undefined, "share"), track = el("div"), bar = el("div", "", "bar");
        bar.style.width = Math.max(0, Math.min(100, v[1])) + "%";
        track.appendChild(bar);
        row.appendChild(el("span", v[0])); row.appendChild(track);
        row.appendChild(el("span", v[1].toFixed(2) + " %"));
        col.appendChild(row);
      });
      box.appendChild(col);
    });
    parent.appendChild(box);
  }
  function topValues(list) {
    return list.map(function (dim) {
      var top = dim[1][0];
      return dim[0] + ": " + (top ? top[0] + " (" + top[1].toFixed(1) + " %)" : "-");
    }).join(" · ") || "-";
  }

  function rowMask(timeOk) {
    var chosen = selects.map(function (s) {
      var set = {}, any = false;
      Array.prototype.forEach.call(s.selectedOptions, function (o) { set[o.value] = any = true; });
      return any ? set : null;
    });
    var mask = new Uint8Array(N);
    for (var i = 0; i < N; i++) {
      var ok = timeOk[D.t[i]];
      for (var k = 0; ok && k < chosen.length; k++) ok = !chosen[k] || chosen[k][D.d[k][i]];
      mask[i] = ok ? 1 : 0;
    }
    return mask;
  }

  function aggregate(k, mask) {
    var a = {sum: new Float64Array(T), seen: new Int32Array(T), score: new Array(T).fill(null),
             lo: new Float64Array(T), hi: new Float64Array(T), banded: new Int32Array(T)};
    var m = D.m[k], s = D.s[k];
    for (var i = 0; i < N; i++) {
      if (!mask[i]) continue;
      var t = D.t[i];
      if (s[i] !== null && (a.score[t] === null || s[i] > a.score[t])) a.score[t] = s[i];
      if (m[i] === null) continue;
      a.sum[t] += m[i]; a.seen[t]++;
      if (D.band && D.lo[k][i] !== null && D.hi[k][i] !== null) {
        a.lo[t] += D.lo[k][i]; a.hi[t] += D.hi[k][i]; a.banded[t]++;
      }
    }
    return a;
  }

  function drawChart(k, timeOk, mask) {
    var a = aggregate(k, mask), name = esc(D.measures[k]);
    var x = [], y = [], ax = [], ay = [], sev = [], bx = [], blo = [], bhi = [];
    for (var t = 0; t < T; t++) {
      if (!timeOk[t] || !a.seen[t]) continue;
      if (a.score[t] !== null) { ax.push(D.times[t]); ay.push(a.sum[t]); sev.push(a.score[t]); }
      else { x.push(D.times[t]); y.push(a.sum[t]); }
      if (D.band) {
        var full = a.banded[t] === a.seen[t];
        bx.push(D.times[t]); blo.push(full ? a.lo[t] : null); bhi.push(full ? a.hi[t] : null);
      }
    }
    var width = 0.85 * D.interval_ms;
    var traces = [
      {type: "bar", x: x, y: y, width: width, name: name, marker: {color: "#1f77b4"},
       hovertemplate: "%{x}<br>" + name + " %{y:,.4~g}<extra></extra>"},
      {type: "bar", x: ax, y: ay, width: width, customdata: sev, name: "anomalous interval",
       marker: {color: "#d62728"},
       hovertemplate: "%{x}<br>" + name + " %{y:,.4~g}<br>max severity %{customdata:.1f}" +
                      "<br>click for contributions<extra></extra>"}];
    if (D.band) {
      traces.push(
        {type: "scatter", mode: "lines", x: bx, y: blo, line: {width: 0}, hoverinfo: "skip",
         showlegend: false},
        {type: "scatter", mode: "lines", x: bx, y: bhi, customdata: blo, fill: "tonexty",
         fillcolor: "rgba(44,160,44,0.2)", line: {width: 1, color: "rgba(44,160,44,0.6)"},
         name: "expected band (approx.: sum of the selected series' bands)",
         hovertemplate: "expected %{customdata:,.4~g} to %{y:,.4~g} (approx.)<extra></extra>"});
    }
    var layout = {barmode: "overlay", margin: {l: 60, r: 20, t: 10, b: 40},
                  xaxis: {type: "date"}, yaxis: {title: {text: name + " (sum)"}, rangemode: "tozero"},
                  legend: {orientation: "h", y: 1.12}, hovermode: "closest"};
    var total = 0;
    y.concat(ay).forEach(function (v) { total += v; });
    document.getElementById("sub-" + k).textContent = "sum over the selected series · " +
      (x.length + ax.length) + " intervals · " + ax.length + " anomalous · total " +
      total.toLocaleString(undefined, {maximumSignificantDigits: 6});
    return Plotly.react("chart-" + k, traces, layout, {responsive: true, displaylogo: false});
  }

  function showContributions(k, time) {
    var box = document.getElementById("contrib-" + k), list = D.contrib[k][time];
    box.textContent = "";
    box.appendChild(el("h3", D.measures[k] + " at " + time + ": " + (list
      ? "dimension contributions to the anomaly" : "no anomaly in this interval")));
    if (list) contributions(box, list);
  }

  function drawGroups(first, last) {
    var body = document.getElementById("groups-body"), shown = 0;
    body.textContent = "";
    D.groups.forEach(function (g) {
      if (g.start.slice(0, 10) > last || g.end.slice(0, 10) < first) return;
      shown++;
      var tr = el("tr");
      tr.title = "AnomalyGroupId " + g.id;
      tr.appendChild(el("td", g.start)); tr.appendChild(el("td", g.end));
      tr.appendChild(el("td", g.measure));
      tr.appendChild(el("td", Number(g.score).toFixed(1), "num"));
      tr.appendChild(el("td", String(g.series), "num"));
      var td = el("td"), details = el("details");
      details.appendChild(el("summary", topValues(g.contrib)));
      contributions(details, g.contrib);
      td.appendChild(details); tr.appendChild(td);
      body.appendChild(tr);
    });
    if (!shown) {
      var empty = el("td", "No anomaly group in the date range.");
      empty.colSpan = 6;
      body.appendChild(el("tr")).appendChild(empty);
    }
    document.getElementById("groups-count").textContent =
      shown + " of " + D.groups.length + " groups in the date range";
  }

  function redraw() {
    var first = from.value || "", last = to.value || "9999";
    var timeOk = D.times.map(function (t) {
      var day = t.slice(0, 10);
      return day >= first && day <= last;
    });
    var mask = rowMask(timeOk);
    drawGroups(first, last);
    return Promise.all(D.measures.map(function (_, k) { return drawChart(k, timeOk, mask); }));
  }

  from.addEventListener("change", redraw);
  to.addEventListener("change", redraw);
  selects.forEach(function (s) { s.addEventListener("change", redraw); });
  document.getElementById("reset").addEventListener("click", function () {
    from.value = from.min; to.value = to.max;
    selects.forEach(function (s) {
      Array.prototype.forEach.call(s.options, function (o) { o.selected = true; });
    });
    redraw();
  });
  redraw().then(function () {
    D.measures.forEach(function (_, k) {
      document.getElementById("chart-" + k).on("plotly_click", function (ev) {
        var p = ev.points[0];
        showContributions(k, p.data.x[p.pointIndex]);
      });
    });
    document.body.setAttribute("data-plots",
                               String(document.querySelectorAll(".js-plotly-plot").length));
    document.body.setAttribute("data-rendered", "true");
  });
})();
"""
