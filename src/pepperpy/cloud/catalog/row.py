"""The one normalized price row every source is imported into.

A row is a published price for one unit of one SKU in one region under one
pricing model, with the date it was published (``as_of``) and where it came
from (``source``). Absent prices are absent rows: nothing here is ever 0 for
"unknown".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

PROVIDERS = ("aws", "azure", "gcp")
SERVICES = (
    "compute",
    "compute_component",
    "accelerator",
    "kubernetes",
    "load_balancer",
    "object_storage",
    "block_storage",
    "database",
    "cache",
    "queue",
    "egress",
    "serverless",
    "monitoring",
)
PRICING_MODELS = ("on_demand", "spot", "reserved_1y", "reserved_3y")
UNITS = (
    "hour",
    "month",
    "GB-month",
    "GB",
    "GiB",
    "request",
    "operation",
    "GB-second",
    "GiB-second",
    "vCPU-second",
    "vCPU-hour",
    "GiB-hour",
    "GB-hour",
    "LCU-hour",
    "metric-month",
    "alarm-month",
    "dashboard-month",
)
HOURS_PER_MONTH = Decimal(730)


def clean_decimal(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (0.1380 -> 0.138, 10 -> 10)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class PriceRow:
    """A published list price, traceable to its source."""

    provider: str
    service: str
    sku: str
    region: str
    pricing_model: str
    unit: str
    price: Decimal
    currency: str
    as_of: date
    source: str
    zone: str = ""
    tier_start: Decimal = Decimal(0)
    vcpus: float | None = None
    memory_gib: float | None = None
    gpu_model: str = ""
    gpu_count: int = 0
    gpu_memory_gib: float | None = None
    arch: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "price", clean_decimal(self.price))

    def key(self) -> tuple[str, str, str, str, str, str, str, Decimal]:
        """Identity used when merging sources: a newer row with the same key wins."""
        return (
            self.provider,
            self.service,
            self.sku,
            self.region,
            self.zone,
            self.pricing_model,
            self.unit,
            self.tier_start,
        )

    def monthly(self, quantity: Decimal = Decimal(1)) -> Decimal:
        """Price of ``quantity`` units for a 730-hour month when the unit is hourly."""
        if self.unit == "hour":
            return self.price * HOURS_PER_MONTH * quantity
        return self.price * quantity

    def citation(self) -> str:
        """One line naming exactly which published figure this is."""
        where = f"{self.region}/{self.zone}" if self.zone else self.region
        return (
            f"{self.provider} {self.sku} {where} {self.pricing_model} "
            f"{self.price} {self.currency}/{self.unit} as of {self.as_of.isoformat()} "
            f"({self.source})"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["price"] = str(self.price)
        data["tier_start"] = str(self.tier_start)
        data["as_of"] = self.as_of.isoformat()
        return data
