"""Seed 000's ``monitor.plot_metrics(metrics)``: a PNG for reports and an interactive HTML page.

Both files show one panel per metric, stacked on a shared UTC time axis, titled
``<resource> — <metric> (<unit>)``. Only measured points are drawn: where two consecutive
samples are more than ``GAP_FACTOR`` times the median sampling step apart, the line breaks
(a NaN is inserted between them) instead of drawing a straight line over missing scrapes.
A series without samples gets an empty panel saying so, never a fake line.

matplotlib and plotly are optional (the ``monitor`` extra) and imported inside the functions,
so importing this module costs nothing at CLI start-up. The PNG is drawn on a bare ``Figure``
with the Agg canvas rather than through ``pyplot``: no global backend switch, no GUI, and
thread-safe, so calling this from a notebook leaves the notebook's backend alone.
"""

from __future__ import annotations

import importlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pepperpy.cloud.errors import InputError, MissingDependencyError
from pepperpy.cloud.monitor.series import MetricsResult, Series

GAP_FACTOR = 3.0
"""A step longer than this many median steps is a gap (a missed scrape), not a line."""

DPI = 100
FIG_WIDTH_IN = 10.0
ROW_HEIGHT_IN = 2.6
MARGIN_IN = 0.4
NO_SAMPLES = "no samples in range"
MIB = float(2**20)


@dataclass(frozen=True)
class PlotFiles:
    """Where ``plot_metrics`` wrote the static (PNG) and interactive (HTML) plots."""

    png: Path
    html: Path


@dataclass(frozen=True)
class AxisUnit:
    """How a unit is shown: the axis label and the factor applied to raw values."""

    label: str
    scale: float = 1.0


def axis_unit(unit: str, values: np.ndarray) -> AxisUnit:
    """Readable axis units: bytes as MiB, percent as %, sub-second latencies as ms."""
    if unit == "bytes":
        return AxisUnit("MiB", 1.0 / MIB)
    if unit == "percent":
        return AxisUnit("%")
    if unit == "seconds":
        finite = values[np.isfinite(values)] if values.size else values
        if finite.size and float(np.max(finite)) < 1.0:
            return AxisUnit("ms", 1000.0)
        return AxisUnit("s")
    return AxisUnit(unit)


def insert_gaps(timestamps: np.ndarray, values: np.ndarray,
                factor: float = GAP_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time and put a NaN midway across every step longer than ``factor`` x the median step.

    Plotting libraries break a line at NaN, so a missed scrape shows as a hole rather than
    as a straight line that suggests values nobody measured.
    """
    ts = np.asarray(timestamps, dtype=float)
    vs = np.asarray(values, dtype=float)
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    if ts.size < 3:
        return ts, vs
    steps = np.diff(ts)
    median = float(np.median(steps))
    if median <= 0:
        return ts, vs
    gaps = np.flatnonzero(steps > factor * median)
    if not gaps.size:
        return ts, vs
    mids = (ts[gaps] + ts[gaps + 1]) / 2.0
    return np.insert(ts, gaps + 1, mids), np.insert(vs, gaps + 1, np.nan)


def panel_title(series: Series, unit: AxisUnit) -> str:
    return f"{series.resource} — {series.metric} ({unit.label})"


def plot_metrics(result: MetricsResult, out: str | Path | None = None) -> PlotFiles:
    """Write ``result`` as a PNG (matplotlib) and a self-contained HTML page (plotly); return both paths.

    ``out`` is a ``.png`` or ``.html`` path (the other file goes next to it), a directory, or
    None for ``<home>/plots/<resource>-<UTC timestamp>``. Files are written atomically.
    """
    if not result.series:
        raise InputError("metrics", "there is no series to plot",
                         hint="ask get_metrics for at least one metric, e.g. metrics=['cpu_usage']")
    _require("matplotlib")
    _require("plotly")
    files = output_paths(result.resource, out)
    png = render_png(result)
    page = render_plotly_html(result)
    atomic_write(files.png, png)
    atomic_write(files.html, page.encode("utf-8"))
    return files


def _require(package: str) -> None:
    """Fail before writing anything when an optional plotting library is missing."""
    try:
        __import__(package)
    except ImportError as exc:
        raise MissingDependencyError(package, "monitor") from exc


def output_paths(resource: str, out: str | Path | None) -> PlotFiles:
    """Resolve ``out`` (file with .png/.html, directory, or None) into the two file paths."""
    if out is None:
        return _stem_paths(_home_plots() / _default_stem(resource))
    path = Path(out).expanduser()
    if path.is_dir() or str(out).endswith(("/", os.sep)):
        return _stem_paths(path / _default_stem(resource))
    suffix = path.suffix.lower()
    if suffix in (".png", ".html"):
        return PlotFiles(png=path.with_suffix(".png"), html=path.with_suffix(".html"))
    if not suffix:
        return _stem_paths(path / _default_stem(resource))
    raise InputError("out", f"{str(out)!r} is neither a .png or .html file nor a directory",
                     hint="e.g. out='cpu.png', out='report.html' or out='plots/'")


def _home_plots() -> Path:
    from pepperpy.cloud.catalog.store import home_dir

    return home_dir() / "plots"


def _default_stem(resource: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", resource).strip("._") or "metrics"
    return f"{safe}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def _stem_paths(stem: Path) -> PlotFiles:
    return PlotFiles(png=stem.parent / f"{stem.name}.png", html=stem.parent / f"{stem.name}.html")


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and ``os.replace``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _datetimes(ts: np.ndarray) -> np.ndarray:
    """Unix seconds -> numpy datetime64 (UTC, microseconds), which matplotlib plots as dates."""
    return (np.asarray(ts, dtype=float) * 1e6).round().astype("datetime64[us]")


def figure_size(rows: int) -> tuple[float, float]:
    """Inches (width, height) of the PNG; at ``DPI`` this is its pixel size / 100."""
    return FIG_WIDTH_IN, ROW_HEIGHT_IN * rows + MARGIN_IN


def render_png(result: MetricsResult) -> bytes:
    """The PNG bytes: one axes per series, shared UTC date axis, labelled units, gaps kept."""
    import io

    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figure_size(len(result.series)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(result.series), 1, sharex=True, squeeze=False)[:, 0]
    for ax, series in zip(axes, result.series, strict=True):
        _draw_series(ax, series)
    locator = mdates.AutoDateLocator(tz=UTC)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    axes[-1].set_xlabel("time (UTC)")
    if result.end > result.start:
        axes[-1].set_xlim(_datetimes(np.array([result.start, result.end])))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _draw_series(ax: Any, series: Series) -> None:
    unit = axis_unit(series.unit, series.values)
    ax.set_title(panel_title(series, unit), fontsize=10, loc="left")
    ax.set_ylabel(unit.label)
    ax.grid(True, alpha=0.3)
    if not len(series):
        ax.text(0.5, 0.5, NO_SAMPLES, transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_yticks([])
        return
    ts, vs = insert_gaps(series.timestamps, series.values)
    ax.plot(_datetimes(ts), vs * unit.scale, linewidth=1.4, marker="." if len(series) < 60 else None)


def _plotly_xy(series: Series, unit: AxisUnit) -> tuple[list[str], list[float | None]]:
    """Plain lists (not numpy, which plotly would base64-encode) with None at the gaps."""
    ts, vs = insert_gaps(series.timestamps, series.values)
    xs = [str(d).replace("T", " ") for d in _datetimes(ts)]
    ys = [None if not np.isfinite(v) else float(v) * unit.scale for v in vs]
    return xs, ys


def plotly_figure(result: MetricsResult) -> Any:
    """The plotly figure: one row per metric, shared date axis, unit on each y axis."""
    go = importlib.import_module("plotly.graph_objects")  # plotly ships no type hints
    make_subplots = importlib.import_module("plotly.subplots").make_subplots

    units = [axis_unit(s.unit, s.values) for s in result.series]
    rows = len(result.series)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=min(0.08, 0.3 / rows),
                        subplot_titles=[panel_title(s, u) for s, u in zip(result.series, units, strict=True)])
    for row, (series, unit) in enumerate(zip(result.series, units, strict=True), start=1):
        _add_trace(fig, go, row, series, unit)
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="time (UTC)", row=rows, col=1)
    if result.end > result.start:
        bounds = [str(d).replace("T", " ") for d in _datetimes(np.array([result.start, result.end]))]
        fig.update_xaxes(range=bounds)
    fig.update_layout(height=max(320, 280 * rows), title_text=f"{result.resource} — metrics (UTC)",
                      template="plotly_white", showlegend=False, hovermode="x unified")
    return fig


def _add_trace(fig: Any, go: Any, row: int, series: Series, unit: AxisUnit) -> None:
    fig.update_yaxes(title_text=unit.label, row=row, col=1)
    if not len(series):
        suffix = "" if row == 1 else str(row)
        fig.add_annotation(text=NO_SAMPLES, xref=f"x{suffix} domain", yref=f"y{suffix} domain",
                           x=0.5, y=0.5, showarrow=False, font={"color": "#666"})
        fig.update_yaxes(showticklabels=False, row=row, col=1)
        return
    xs, ys = _plotly_xy(series, unit)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", connectgaps=False, name=series.metric,
                             hovertemplate=f"%{{y:.4g}} {unit.label}<extra>{series.metric}</extra>"),
                  row=row, col=1)


def render_plotly_html(result: MetricsResult) -> str:
    """A complete HTML page with plotly.js inlined, so it opens offline."""
    return str(plotly_figure(result).to_html(include_plotlyjs=True, full_html=True))
