"""What the agent hands back: text, an optional table, the catalog rows behind every figure.

The HTTP service serialises ``Answer.model_dump(mode="json")``; the CLI prints it.
Citations are ``PriceRow.to_dict()`` dicts so a reader can find each published
price (provider, SKU, region, pricing model, unit, as_of, source).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from pepperpy.cloud.catalog.row import PriceRow

CENT = Decimal("0.01")


class Table(BaseModel):
    """A small table of strings, ready for rich, HTML or JSON."""

    columns: list[str]
    rows: list[list[str]] = Field(default_factory=list)


class Answer(BaseModel):
    """A structured answer; ``unknown`` is True when the catalog could not price what was asked."""

    question: str
    text: str
    table: Table | None = None
    citations: list[dict[str, Any]] = Field(default_factory=list)
    tools_used: list[str] = Field(default_factory=list)
    source: Literal["offline", "llm"] = "offline"
    unknown: bool = False
    duration_ms: float = 0.0


def money(value: Decimal) -> str:
    """A monthly or total figure as printed in answers: dollars and cents, half up."""
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def unit_price(value: Decimal) -> str:
    """A published unit price exactly as the catalog has it (no rounding)."""
    return f"${value.normalize():f}" if value != value.to_integral() else f"${value:.2f}"


def cite(rows: list[PriceRow]) -> list[dict[str, Any]]:
    """Distinct rows as citation dicts, in first-use order."""
    seen: set[tuple[object, ...]] = set()
    out: list[dict[str, Any]] = []
    for row in rows:
        key = row.key()
        if key not in seen:
            seen.add(key)
            out.append(row.to_dict())
    return out
