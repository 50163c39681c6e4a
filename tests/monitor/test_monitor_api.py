"""CloudMonitor and TimeRange bad input: one clear error naming the field, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pepperpy.cloud import CloudMonitor, LocalProvider, TimeRange
from pepperpy.cloud.errors import InputError, NotFoundError


def test_rolling_ranges_end_now_and_custom_ranges_are_fixed() -> None:
    start, end = TimeRange.LAST_24_HOURS.bounds(now=1_000_000.0)
    assert (start, end) == (1_000_000.0 - 86400, 1_000_000.0)
    assert TimeRange.LAST_MONTH.bounds(now=0.0)[0] == -30 * 86400
    fixed = TimeRange(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    assert fixed.bounds(now=0)[1] - fixed.bounds(now=0)[0] == 86400
    assert TimeRange.since("15m").bounds(now=900.0) == (0.0, 900.0)


@pytest.mark.parametrize("make", [
    lambda: TimeRange(start=datetime(2026, 11, 2, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC)),
    lambda: TimeRange(duration=timedelta(0)),
    lambda: TimeRange.since("-5m"),
    lambda: TimeRange.since("soon"),
])
def test_empty_or_unparseable_ranges_name_the_field(make: object) -> None:
    with pytest.raises(InputError, match=r"time_range|--since"):
        make()  # type: ignore[operator]


def test_get_metrics_rejects_unknown_metrics_and_deployments(home: Path) -> None:
    monitor = CloudMonitor(provider=LocalProvider())
    with pytest.raises(NotFoundError, match=r"metrics\[1\]: unknown metric 'cpu'.*cpu_usage"):
        monitor.get_metrics("web", ["memory_usage", "cpu"])
    with pytest.raises(InputError, match="metrics: no metric asked for"):
        monitor.get_metrics("web", [])
    with pytest.raises(NotFoundError, match="resource_name: unknown monitored deployment 'web'"):
        monitor.get_metrics("web", ["cpu_usage"])


def test_bad_alert_and_dashboard_write_nothing(home: Path) -> None:
    monitor = CloudMonitor(provider=LocalProvider())
    with pytest.raises(InputError, match="duration_seconds"):
        monitor.create_alert(name="a", description="", metric="cpu_usage", resource="web", threshold=1,
                             duration_seconds=-1, notification_channels=["webhook:http://127.0.0.1:9/x"])
    with pytest.raises(InputError, match=r"notification_channels\[0\]"):
        monitor.create_alert(name="a", description="", metric="cpu_usage", resource="web", threshold=1,
                             duration_seconds=1, notification_channels=["sns:arn:aws:sns:us-east-1:1:t"])
    with pytest.raises(InputError, match=r"widgets\[0\]\.type"):
        monitor.create_dashboard("d", widgets=[{"type": "gauge", "title": "x"}])
    written = [p for p in home.rglob("*") if p.is_file() and p.suffix in (".json", ".yml", ".html")]
    assert written == []
