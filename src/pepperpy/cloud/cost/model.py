"""What an estimate is made of: line items, each traceable to the catalog rows it used."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pepperpy.cloud.catalog.row import PriceRow

CENT = Decimal("0.01")


@dataclass
class Alternative:
    """The same line under another pricing model (spot, 1- or 3-year commitment)."""

    pricing_model: str
    monthly: Decimal
    row: PriceRow

    def to_dict(self) -> dict[str, Any]:
        return {"pricing_model": self.pricing_model, "monthly": str(self.monthly),
                "row": self.row.to_dict()}


@dataclass
class LineItem:
    """One priced (or honestly unpriced) part of an architecture."""

    component: str
    service: str
    managed_service: str
    sku: str
    region: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    monthly: Decimal | None
    rows: list[PriceRow] = field(default_factory=list)
    note: str = ""
    alternatives: dict[str, Alternative] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.monthly is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "service": self.service,
            "managed_service": self.managed_service,
            "sku": self.sku,
            "region": self.region,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": None if self.unit_price is None else str(self.unit_price),
            "monthly": None if self.monthly is None else str(self.monthly),
            "note": self.note,
            "rows": [r.to_dict() for r in self.rows],
            "alternatives": {k: v.to_dict() for k, v in self.alternatives.items()},
        }


@dataclass
class Estimate:
    """A monthly cost estimate; formats like a Decimal (``f"{estimate:.2f}"``).

    ``total`` sums the priced lines only; ``unknown`` lists the lines no catalog
    row could price, which are never counted as $0.
    """

    provider: str
    region: str
    items: list[LineItem] = field(default_factory=list)
    currency: str = "USD"
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((i.monthly for i in self.items if i.monthly is not None), Decimal(0))

    @property
    def unknown(self) -> list[LineItem]:
        return [i for i in self.items if i.monthly is None]

    @property
    def complete(self) -> bool:
        return not self.unknown

    def total_with(self, pricing_model: str) -> Decimal:
        """Total when every line that has a ``pricing_model`` alternative uses it."""
        total = Decimal(0)
        for item in self.items:
            alt = item.alternatives.get(pricing_model)
            if alt is not None:
                total += alt.monthly
            elif item.monthly is not None:
                total += item.monthly
        return total

    def savings(self) -> dict[str, Decimal]:
        """Monthly saving of each pricing model found in the lines' alternatives."""
        models = sorted({m for i in self.items for m in i.alternatives})
        return {m: self.total - self.total_with(m) for m in models}

    def by_service(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for item in self.items:
            if item.monthly is not None:
                out[item.managed_service] = out.get(item.managed_service, Decimal(0)) + item.monthly
        return out

    def __format__(self, spec: str) -> str:
        return format(self.total, spec)

    def __str__(self) -> str:
        suffix = "" if self.complete else f" (+{len(self.unknown)} unpriced)"
        return f"{self.total.quantize(CENT)} {self.currency}/month{suffix}"

    def __float__(self) -> float:
        return float(self.total)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Estimate):
            return self.total == other.total and self.items == other.items
        if isinstance(other, Decimal | int):
            return self.total == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "region": self.region,
            "currency": self.currency,
            "total_monthly": str(self.total),
            "complete": self.complete,
            "unknown_items": [i.component for i in self.unknown],
            "savings": {k: str(v) for k, v in self.savings().items()},
            "items": [i.to_dict() for i in self.items],
            "warnings": list(self.warnings),
        }
