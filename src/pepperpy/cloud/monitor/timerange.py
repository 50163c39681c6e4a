"""Time ranges for metric and cost queries: seed 000's ``TimeRange.LAST_24_HOURS`` and custom ones."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pepperpy.cloud.errors import InputError


def _epoch(value: datetime | float | int, field: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InputError(field, f"{value!r} is not a datetime or a Unix timestamp")


@dataclass(frozen=True)
class TimeRange:
    """Either a window that ends now (``duration``) or fixed ``start``/``end`` (datetimes or epochs).

    ``TimeRange.LAST_HOUR``, ``LAST_24_HOURS``, ``LAST_7_DAYS`` and ``LAST_MONTH`` (30 days) are the
    rolling windows; ``TimeRange(start=..., end=...)`` or ``TimeRange.since("15m")`` make others.
    """

    duration: timedelta | None = None
    start: datetime | float | None = None
    end: datetime | float | None = None
    label: str = ""

    LAST_HOUR: ClassVar[TimeRange]
    LAST_24_HOURS: ClassVar[TimeRange]
    LAST_7_DAYS: ClassVar[TimeRange]
    LAST_MONTH: ClassVar[TimeRange]

    def __post_init__(self) -> None:
        if self.duration is None and self.start is None:
            raise InputError("time_range", "give a duration or a start", hint="e.g. TimeRange.LAST_HOUR")
        if self.duration is not None and self.duration.total_seconds() <= 0:
            raise InputError("time_range", f"duration {self.duration} is empty; it must be positive")
        if self.start is not None:
            start = _epoch(self.start, "time_range.start")
            end = _epoch(self.end, "time_range.end") if self.end is not None else None
            if end is not None and end <= start:
                raise InputError("time_range", "the range is empty: end is not after start",
                                 hint="swap start and end, or widen the range")

    @classmethod
    def since(cls, text: str) -> TimeRange:
        """``"90s"``, ``"15m"``, ``"1h"``, ``"7d"``: a window ending now."""
        return cls(duration=parse_duration(text, "--since"), label=f"last {text}")

    def bounds(self, now: float | None = None) -> tuple[float, float]:
        """(start, end) as Unix seconds; rolling windows end at ``now``."""
        now = time.time() if now is None else now
        if self.start is not None:
            end = _epoch(self.end, "time_range.end") if self.end is not None else now
            start = _epoch(self.start, "time_range.start")
            if end <= start:
                raise InputError("time_range", "the range is empty: end is not after start")
            return start, end
        assert self.duration is not None
        return now - self.duration.total_seconds(), now

    def describe(self) -> str:
        if self.label:
            return self.label
        start, end = self.bounds()
        fmt = "%Y-%m-%d %H:%M:%SZ"
        return (f"{datetime.fromtimestamp(start, UTC):{fmt}} to "
                f"{datetime.fromtimestamp(end, UTC):{fmt}}")

    def to_dict(self) -> dict[str, Any]:
        start, end = self.bounds()
        return {"start": start, "end": end, "label": self.describe()}


TimeRange.LAST_HOUR = TimeRange(duration=timedelta(hours=1), label="last hour")
TimeRange.LAST_24_HOURS = TimeRange(duration=timedelta(hours=24), label="last 24 hours")
TimeRange.LAST_7_DAYS = TimeRange(duration=timedelta(days=7), label="last 7 days")
TimeRange.LAST_MONTH = TimeRange(duration=timedelta(days=30), label="last 30 days")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, field: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` -> timedelta; anything else is an InputError."""
    value = str(text).strip().lower()
    number, unit = value[:-1], value[-1:]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _UNITS or amount <= 0:
        raise InputError(field, f"{text!r} is not a duration", hint="use a number and s, m, h, d or w, e.g. 15m or 24h")
    return timedelta(seconds=amount * _UNITS[unit])


def as_time_range(value: object, field: str = "time_range") -> TimeRange:
    """Accept a TimeRange, a duration string or a timedelta."""
    if value is None:
        return TimeRange.LAST_HOUR
    if isinstance(value, TimeRange):
        return value
    if isinstance(value, timedelta):
        return TimeRange(duration=value)
    if isinstance(value, str):
        return TimeRange.since(value)
    raise InputError(field, f"{value!r} is not a time range", hint="use TimeRange.LAST_HOUR or '15m'")
