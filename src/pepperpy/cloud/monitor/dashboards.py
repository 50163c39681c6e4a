"""Seed 000's ``monitor.create_dashboard(name, widgets=[...])``: a Grafana JSON model and an offline HTML page.

Widgets are seed 000's dicts::

    {"type": "metric", "title": "CPU Usage", "metric": "cpu_usage", "resource": "my-app"}
    {"type": "log", "title": "Error Logs", "query": "resource.labels.deployment_name=my-app severity>=ERROR"}

Every widget is validated (pydantic, discriminated on ``type``) before anything is written, and
an error names the widget: ``widgets[2].type: 'gauge' is not a widget type; use metric or log``.

Log query language
------------------
A query is space-separated terms; a value with spaces goes in double quotes (``message="disk full"``).

- ``resource.labels.deployment_name=NAME`` (alias ``deployment=NAME``, also ``!=``) selects the deployment.
- ``severity>=LEVEL`` keeps entries at LEVEL or above, with DEBUG < INFO < WARNING < ERROR < CRITICAL.
  ``severity=LEVEL`` and ``severity!=LEVEL`` compare exactly. ``level`` is an alias of ``severity``.
  An entry's level is its ``level`` field (what ``examples/rag-app`` logs), else ``severity``, else
  ``levelname``; names match case-insensitively, WARN means WARNING and FATAL means CRITICAL,
  and an entry with no level counts as INFO.
- any other ``key=value`` / ``key!=value`` compares the JSON field ``key`` as text (``a.b`` looks into
  nested objects). A missing field never equals a value, so ``key!=value`` keeps it.

``LogQuery.loki()`` gives the same filter in LogQL for Grafana's Loki panels. It assumes the log
shipper labels each stream with ``deployment``; ``| json`` then turns the line's fields into labels
(nested keys joined by ``_``). LogQL cannot default a missing level to INFO, so an entry without
a level field is dropped by ``severity>=...`` there while kept by ``severity>=INFO`` here.

Grafana JSON
------------
The dashboard is a plain dict written here rather than through ``grafana-foundation-sdk``. The SDK
works offline, but its builders emit ``schemaVersion`` 36, ``"options": null`` on panels that were
given no options, an empty ``annotations`` object and placeholder variable ids that would all need
patching afterwards, and it would add a runtime dependency for ~80 lines of JSON. The tests instead
decode our JSON with the SDK's models (generated from Grafana's schema) and check that no key is lost,
so a misspelt or misplaced field fails the suite. Datasources are dashboard variables
(``DS_PROMETHEUS``, ``DS_LOKI``), so "Import dashboard" works as-is and asks for nothing.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import json
import os
import re
import shlex
import shutil
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.monitor.series import Series

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_LOG_ROWS = 200
SCHEMA_VERSION = 39
UID_MAX = 40
PANEL_W, PANEL_H = 12, 8

# --------------------------------------------------------------------------- log queries

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
DEPLOYMENT_KEYS = frozenset({"resource.labels.deployment_name", "deployment"})
LEVEL_KEYS = frozenset({"severity", "level"})
ENTRY_LEVEL_FIELDS = ("level", "severity", "levelname")
TIME_FIELDS = ("timestamp", "time", "ts")
_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)(!=|>=|=)(.*)$", re.S)


def normalize_level(value: object) -> str | None:
    """``"warn"`` -> ``"WARNING"``; None for names outside DEBUG..CRITICAL."""
    name = str(value).strip().upper()
    name = LEVEL_ALIASES.get(name, name)
    return name if name in LEVEL_RANK else None


def entry_level(entry: Mapping[str, Any]) -> str:
    """The entry's level as written (upper-cased, aliases resolved); INFO when it has none."""
    for key in ENTRY_LEVEL_FIELDS:
        if entry.get(key) not in (None, ""):
            raw = str(entry[key]).strip().upper()
            return LEVEL_ALIASES.get(raw, raw)
    return "INFO"


@dataclass(frozen=True)
class Term:
    """One ``key op value`` condition; ``kind`` is deployment, level or field."""

    key: str
    op: str
    value: str
    kind: str

    def matches(self, entry: Mapping[str, Any], deployment: str) -> bool:
        if self.kind == "deployment":
            return (deployment == self.value) == (self.op == "=")
        if self.kind == "level":
            return self._level_matches(entry_level(entry))
        found = _lookup(entry, self.key)
        equal = found is not None and _as_text(found) == self.value
        return equal == (self.op == "=")

    def _level_matches(self, level: str) -> bool:
        if self.op == ">=":
            rank = LEVEL_RANK.get(level)
            return rank is not None and rank >= LEVEL_RANK[self.value]
        return (level == self.value) == (self.op == "=")


def _lookup(entry: Mapping[str, Any], key: str) -> Any:
    """``entry[key]``, else the nested path ``a.b.c``; None when absent."""
    if key in entry:
        return entry[key]
    node: Any = entry
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class LogQuery:
    """A parsed log query: filter entries locally (``matches``) or in Loki (``loki``)."""

    text: str
    terms: tuple[Term, ...] = ()

    @property
    def deployment(self) -> str | None:
        """The deployment named by a ``deployment=`` term, if any."""
        return next((t.value for t in self.terms if t.kind == "deployment" and t.op == "="), None)

    def matches(self, entry: Mapping[str, Any], deployment: str) -> bool:
        """True when ``entry``, logged by ``deployment``, satisfies every term."""
        return all(term.matches(entry, deployment) for term in self.terms)

    def loki(self) -> str:
        """The equivalent LogQL: stream selector on ``deployment``, ``| json``, then one filter per term."""
        stages = [_loki_stage(t) for t in self.terms if t.kind != "deployment"]
        return " | ".join([_loki_selector(self.terms), "json", *stages])


def _logql_string(value: str) -> str:
    return json.dumps(value)


def _loki_selector(terms: Iterable[Term]) -> str:
    matchers = [f"deployment{t.op}{_logql_string(t.value)}" for t in terms if t.kind == "deployment"]
    if not any(t.kind == "deployment" and t.op == "=" for t in terms):
        matchers.insert(0, 'deployment=~".+"')
    return "{" + ", ".join(matchers) + "}"


def _level_regex(levels: Iterable[str]) -> str:
    names: list[str] = []
    for level in levels:
        names.append(level)
        names.extend(alias for alias, target in LEVEL_ALIASES.items() if target == level)
    return "(?i)(" + "|".join(names) + ")"


def _loki_stage(term: Term) -> str:
    if term.kind == "field":
        label = re.sub(r"[^A-Za-z0-9_]", "_", term.key)
        return f"{label}{term.op}{_logql_string(term.value)}"
    if term.op == ">=":
        wanted = [name for name in LEVELS if LEVEL_RANK[name] >= LEVEL_RANK[term.value]]
    else:
        wanted = [term.value]
    pattern = _logql_string(_level_regex(wanted))
    if term.op == "!=":
        return f"level!~{pattern} and severity!~{pattern}"
    return f"level=~{pattern} or severity=~{pattern}"


def parse_log_query(text: str, field: str = "query") -> LogQuery:
    """Parse the small query language above; anything else is an InputError naming ``field``."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError(field, f"cannot parse {text!r}: {exc}",
                         hint='close the quote, e.g. message="disk full"') from exc
    return LogQuery(text=text, terms=tuple(_parse_term(word, field) for word in words))


def _parse_term(word: str, field: str) -> Term:
    match = _TERM.match(word)
    if match is None or not match.group(3):
        raise InputError(field, f"{word!r} is not a term",
                         hint="use key=value, key!=value or severity>=LEVEL, separated by spaces")
    key, op, value = match.groups()
    if key in DEPLOYMENT_KEYS:
        if op == ">=":
            raise InputError(field, f"{word!r}: a deployment is matched with = or !=, not >=")
        return Term(key, op, value, "deployment")
    if key in LEVEL_KEYS:
        level = normalize_level(value)
        if level is None:
            raise InputError(field, f"{word!r}: {value!r} is not a level", hint="use one of " + ", ".join(LEVELS))
        return Term(key, op, level, "level")
    if op == ">=":
        raise InputError(field, f"{word!r}: only severity takes >=; other fields use = or !=")
    return Term(key, op, value, "field")


# --------------------------------------------------------------------------- widgets


class _WidgetBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""


class MetricWidget(_WidgetBase):
    """A time-series panel of one logical metric (see ``definitions.METRICS``) of one resource."""

    type: Literal["metric"]
    metric: str
    resource: str = Field(min_length=1)

    @property
    def heading(self) -> str:
        return self.title or f"{self.resource} — {self.metric}"

    @property
    def definition(self) -> definitions.MetricDef:
        return definitions.metric(self.metric)


class LogWidget(_WidgetBase):
    """A table of the newest log entries matching ``query``."""

    type: Literal["log"]
    query: str

    @property
    def heading(self) -> str:
        return self.title or f"Logs: {self.query}"

    @property
    def log_query(self) -> LogQuery:
        return parse_log_query(self.query)


Widget = Annotated[MetricWidget | LogWidget, Field(discriminator="type")]
_WIDGET = TypeAdapter(Widget)
_FIELDS = {"metric": "type, title, metric, resource", "log": "type, title, query"}


def validate_widgets(widgets: object) -> list[MetricWidget | LogWidget]:
    """Validate every widget (shape, metric name, log query); the first problem raises, naming ``widgets[i]``."""
    if isinstance(widgets, (str, bytes, Mapping)) or not isinstance(widgets, Sequence):
        raise InputError("widgets", f"expected a list of widgets, got {type(widgets).__name__}")
    if not widgets:
        raise InputError("widgets", "no widgets given", hint='e.g. [{"type": "metric", "metric": "cpu_usage", ...}]')
    return [_validate_widget(i, raw) for i, raw in enumerate(widgets)]


def _validate_widget(i: int, raw: object) -> MetricWidget | LogWidget:
    where = f"widgets[{i}]"
    try:
        widget: MetricWidget | LogWidget = _WIDGET.validate_python(raw)
    except ValidationError as exc:
        raise _widget_error(where, raw, exc) from None
    if isinstance(widget, MetricWidget):
        definitions.metric(widget.metric, field=f"{where}.metric")
    else:
        parse_log_query(widget.query, f"{where}.query")
    return widget


def _widget_error(where: str, raw: object, exc: ValidationError) -> InputError:
    """The first pydantic error as an InputError whose field is ``widgets[i].<key>``."""
    error = exc.errors()[0]
    kind, loc = error["type"], error["loc"]
    if kind == "union_tag_invalid":
        tag = raw.get("type") if isinstance(raw, Mapping) else None
        return InputError(f"{where}.type", f"{tag!r} is not a widget type; use metric or log")
    if kind == "union_tag_not_found":
        return InputError(f"{where}.type", "missing; use metric or log")
    if kind == "model_attributes_type" and not loc:
        return InputError(where, f"expected a mapping, got {type(raw).__name__}")
    widget_type, keys = str(loc[0]), [str(part) for part in loc[1:]]
    field = ".".join([where, *keys])
    if kind == "extra_forbidden":
        return InputError(field, f"unknown field; a {widget_type} widget has {_FIELDS.get(widget_type, '')}")
    if kind == "missing":
        return InputError(field, f"missing; a {widget_type} widget needs {_FIELDS.get(widget_type, '')}")
    return InputError(field, str(error["msg"]).lower())


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError("name", f"{name!r} is not a dashboard name",
                         hint="use 1-63 lowercase letters, digits or '-', starting with a letter or digit")
    return name


# --------------------------------------------------------------------------- Grafana


def dashboard_uid(name: str) -> str:
    """Stable across runs and machines, at most 40 characters (Grafana's limit)."""
    uid = f"pepperpy-{name}"
    if len(uid) <= UID_MAX:
        return uid
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{uid[:UID_MAX - 11]}-{digest}"


def _datasource_variable(name: str, label: str, plugin: str) -> dict[str, Any]:
    return {"type": "datasource", "name": name, "label": label, "query": plugin, "hide": 0,
            "refresh": 1, "regex": "", "multi": False, "includeAll": False, "skipUrlSync": False}


def _grid(index: int) -> dict[str, int]:
    return {"x": (index % 2) * PANEL_W, "y": (index // 2) * PANEL_H, "w": PANEL_W, "h": PANEL_H}


def _metric_panel(index: int, widget: MetricWidget) -> dict[str, Any]:
    source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    return {
        "id": index + 1, "type": "timeseries", "title": widget.heading, "gridPos": _grid(index),
        "description": widget.definition.description, "datasource": source,
        "targets": [{"expr": definitions.promql(widget.metric, widget.resource), "refId": "A",
                     "legendFormat": widget.resource, "datasource": source}],
        "fieldConfig": {"defaults": {"unit": widget.definition.grafana_unit,
                                     "custom": {"spanNulls": False, "lineWidth": 1, "fillOpacity": 10}},
                        "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "none"}},
    }


def _log_panel(index: int, widget: LogWidget) -> dict[str, Any]:
    source = {"type": "loki", "uid": "${DS_LOKI}"}
    return {
        "id": index + 1, "type": "logs", "title": widget.heading, "gridPos": _grid(index),
        "datasource": source,
        "targets": [{"expr": widget.log_query.loki(), "refId": "A", "queryType": "range", "datasource": source}],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True,
                    "dedupStrategy": "none", "prettifyLogMessage": False, "showLabels": False,
                    "showCommonLabels": False},
    }


def grafana_dashboard(name: str, widgets: Sequence[Mapping[str, Any] | MetricWidget | LogWidget]) -> dict[str, Any]:
    """A Grafana dashboard JSON model (schemaVersion 39) that "Import dashboard" accepts unchanged."""
    validate_name(name)
    models = validate_widgets(widgets)
    variables = [_datasource_variable("DS_PROMETHEUS", "Prometheus", "prometheus")]
    if any(isinstance(w, LogWidget) for w in models):
        variables.append(_datasource_variable("DS_LOKI", "Loki", "loki"))
    panels = [_metric_panel(i, w) if isinstance(w, MetricWidget) else _log_panel(i, w) for i, w in enumerate(models)]
    return {
        "uid": dashboard_uid(name), "title": name, "description": "Generated by pepperpy-cloud",
        "tags": ["pepperpy"], "timezone": "utc", "editable": True, "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "30s", "fiscalYearStartMonth": 0,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},  # Grafana adds its built-in "Annotations & Alerts" on load
        "links": [],
        "panels": panels,
    }


# --------------------------------------------------------------------------- offline HTML

_PAGE_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{padding:14px 20px;background:#1f2937;color:#fff}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;color:#cbd5e1}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px;padding:14px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:10px;min-width:0}
section h2{font-size:15px;margin:0 0 6px}.plot{height:300px}
.empty{height:300px;display:flex;align-items:center;justify-content:center;color:#666}
.logs{max-height:420px;overflow:auto}table{border-collapse:collapse;width:100%;font-size:12px}
td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
td.t{white-space:nowrap;font-family:monospace}td.m{font-family:monospace;white-space:pre-wrap;word-break:break-word}
tr.ERROR td.l,tr.CRITICAL td.l{color:#b91c1c;font-weight:600}tr.WARNING td.l{color:#b45309}
pre{margin:4px 0 0;font-size:11px;white-space:pre-wrap}
"""


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no ``</script>``, ``<!--`` or line separators can break out."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _utc(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S} UTC"


def _metric_section(index: int, widget: MetricWidget, series: Series | None) -> tuple[str, str]:
    """(HTML, script) of one metric widget; an absent or empty series says so instead of plotting."""
    from pepperpy.cloud.monitor.plots import axis_unit, insert_gaps

    title = f"<h2>{html.escape(widget.heading)}</h2>"
    if series is None or not len(series):
        return f'<section>{title}<div class="empty">no samples in range</div></section>', ""
    unit = axis_unit(series.unit, series.values)
    ts, vs = insert_gaps(series.timestamps, series.values)
    xs = [f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S.%f}" for t in ts.tolist()]
    ys = [float(v) * unit.scale if np.isfinite(v) else None for v in vs.tolist()]
    trace = {"x": xs, "y": ys, "type": "scatter", "mode": "lines", "connectgaps": False, "name": series.metric}
    layout = {"margin": {"l": 55, "r": 10, "t": 10, "b": 40}, "showlegend": False,
              "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
              "yaxis": {"title": {"text": unit.label}, "rangemode": "tozero"}}
    div_id = f"w{index}"
    script = (f"Plotly.newPlot({_script_json(div_id)},[{_script_json(trace)}],{_script_json(layout)},"
              '{"responsive":true,"displaylogo":false});')
    return f'<section>{title}<div class="plot" id="{div_id}"></div></section>', script


def _entry_time(entry: Mapping[str, Any]) -> str:
    raw = next((entry[k] for k in TIME_FIELDS if entry.get(k) not in (None, "")), None)
    parsed = _parse_time(raw)
    if parsed is not None:
        return f"{datetime.fromtimestamp(parsed, UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
    return "" if raw is None else str(raw)


def _log_row(entry: Mapping[str, Any]) -> str:
    level = entry_level(entry)
    message = entry.get("message", entry.get("msg"))
    if message is None:
        message = json.dumps(dict(entry), default=str, ensure_ascii=False)
    error = entry.get("error") or entry.get("exc_info")
    detail = f"<pre>{html.escape(str(error))}</pre>" if error else ""
    return (f'<tr class="{html.escape(level)}"><td class="t">{html.escape(_entry_time(entry))}</td>'
            f'<td class="l">{html.escape(level)}</td><td class="m">{html.escape(str(message))}{detail}</td></tr>')


def _log_section(widget: LogWidget, entries: Sequence[Mapping[str, Any]]) -> str:
    """The newest ``MAX_LOG_ROWS`` entries, newest first (``entries`` come oldest first)."""
    newest = list(entries)[-MAX_LOG_ROWS:][::-1]
    title = f"<h2>{html.escape(widget.heading)}</h2>"
    query = f'<p style="font-size:12px;color:#555;margin:0 0 6px"><code>{html.escape(widget.query)}</code></p>'
    if not newest:
        return f'<section>{title}{query}<div class="empty">no matching log entries</div></section>'
    rows = "".join(_log_row(e) for e in newest)
    head = "<thead><tr><th>time (UTC)</th><th>level</th><th>message</th></tr></thead>"
    table = f"<table>{head}<tbody>{rows}</tbody></table>"
    return f'<section>{title}{query}<div class="logs">{table}</div></section>'


def _plotly_js() -> str:
    try:
        offline = importlib.import_module("plotly.offline")
    except ImportError as exc:
        raise MissingDependencyError("plotly", "monitor") from exc
    return str(offline.get_plotlyjs())


def render_html(name: str, widgets: Sequence[Mapping[str, Any] | MetricWidget | LogWidget],
                series_for: Callable[[str, str], Series | None],
                logs_for: Callable[[LogQuery], list[dict[str, Any]]], generated_at: float) -> str:
    """One self-contained page: plotly.js inlined once, a plot per metric widget, a table per log widget."""
    models = validate_widgets(widgets)
    sections: list[str] = []
    scripts: list[str] = []
    for index, widget in enumerate(models):
        if isinstance(widget, MetricWidget):
            section, script = _metric_section(index, widget, series_for(widget.metric, widget.resource))
            sections.append(section)
            scripts.append(script)
        else:
            sections.append(_log_section(widget, logs_for(widget.log_query)))
    plots = [s for s in scripts if s]
    library = f'<script type="text/javascript">{_plotly_js()}</script>' if plots else ""
    boot = f"<script>{''.join(plots)}</script>" if plots else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(name)} — PepperPy Cloud dashboard</title><style>{_PAGE_CSS}</style>{library}</head>"
            f"<body><header><h1>{html.escape(name)}</h1><p>generated {html.escape(_utc(generated_at))}</p></header>"
            f"<main>{''.join(sections)}</main>{boot}</body></html>\n")


# --------------------------------------------------------------------------- create_dashboard


@dataclass(frozen=True)
class Dashboard:
    """A dashboard on disk: ``index.html`` (open it offline) and ``grafana.json`` (import it in Grafana)."""

    name: str
    path: Path
    html: Path
    grafana_json: Path
    widgets: tuple[MetricWidget | LogWidget, ...]

    @property
    def url(self) -> str:
        return self.html.resolve().as_uri()


def create_dashboard(name: str, widgets: Sequence[Mapping[str, Any] | MetricWidget | LogWidget], *,
                     series_for: Callable[[str, str], Series | None],
                     logs_for: Callable[[LogQuery], list[dict[str, Any]]],
                     out_dir: Path | None = None, generated_at: float | None = None) -> Dashboard:
    """Validate, render both files, then put the folder in place in one rename (no partial dashboard)."""
    validate_name(name)
    models = validate_widgets(widgets)
    grafana = json.dumps(grafana_dashboard(name, models), indent=2, ensure_ascii=False) + "\n"
    page = render_html(name, models, series_for, logs_for, time.time() if generated_at is None else generated_at)
    target = Path(out_dir) if out_dir is not None else _home_dashboards() / name
    _replace_dir(target, {"grafana.json": grafana, "index.html": page})
    return Dashboard(name=name, path=target, html=target / "index.html", grafana_json=target / "grafana.json",
                     widgets=tuple(models))


def _home_dashboards() -> Path:
    from pepperpy.cloud.catalog.store import home_dir

    return home_dir() / "dashboards"


def _replace_dir(target: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` into a temp sibling dir, then swap it in for ``target``; on error remove the temp dir."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old: Path | None = None
    try:
        for filename, text in files.items():
            (staging / filename).write_text(text, encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            os.replace(target, old)
        os.replace(staging, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
            old = None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- reading log files


def _parse_time(raw: Any) -> float | None:
    """Unix seconds from an epoch number or an ISO 8601 string (naive means UTC); None otherwise."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_log_line(line: str) -> dict[str, Any]:
    """A JSON object line as is; any other line becomes ``{"message": line, "level": ...}``.

    The level of a plain line is ERROR when it contains ``Traceback`` or ``ERROR`` (a crash
    printed to stderr), else INFO: a deliberately simple guess, since such lines carry no field.
    """
    text = line.rstrip("\r\n")
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    level = "ERROR" if ("Traceback" in text or "ERROR" in text) else "INFO"
    return {"message": text, "level": level}


def read_json_logs(paths: Sequence[Path], query: LogQuery, deployment: str,
                   limit: int = MAX_LOG_ROWS) -> list[dict[str, Any]]:
    """The newest ``limit`` entries of ``deployment``'s log files matching ``query``, oldest first.

    Files are merged by time; a line without a time (a traceback line, say) takes the time of
    the line before it in its file, so it stays next to the record it belongs to. Missing files
    are skipped: a replica that has not started yet has no log.
    """
    keyed: list[tuple[float, int, int, dict[str, Any]]] = []
    for file_index, path in enumerate(paths):
        for seq, (stamp, entry) in enumerate(_matching(path, query, deployment, limit)):
            keyed.append((stamp, file_index, seq, entry))
    keyed.sort(key=lambda item: item[:3])
    return [entry for *_, entry in keyed[-limit:]] if limit > 0 else []


def _matching(path: Path, query: LogQuery, deployment: str, limit: int) -> deque[tuple[float, dict[str, Any]]]:
    """The last ``limit`` matching entries of one file, each with its (possibly inherited) time."""
    kept: deque[tuple[float, dict[str, Any]]] = deque(maxlen=max(limit, 0))
    if not Path(path).is_file():
        return kept
    last = float("-inf")
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            entry = parse_log_line(line)
            stamp = _parse_time(next((entry[k] for k in TIME_FIELDS if k in entry), None))
            last = stamp if stamp is not None else last
            if query.matches(entry, deployment):
                kept.append((last, entry))
    return kept
