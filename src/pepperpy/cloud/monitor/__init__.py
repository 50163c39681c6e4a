"""Watch deployments: metrics scraped into an embedded store, plots, dashboards, alerts, actual costs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pepperpy.cloud.monitor.monitor import CloudMonitor
    from pepperpy.cloud.monitor.timerange import TimeRange

__all__ = ["CloudMonitor", "TimeRange"]


def __getattr__(name: str) -> Any:
    if name == "CloudMonitor":
        from pepperpy.cloud.monitor.monitor import CloudMonitor

        return CloudMonitor
    if name == "TimeRange":
        from pepperpy.cloud.monitor.timerange import TimeRange

        return TimeRange
    raise AttributeError(name)
