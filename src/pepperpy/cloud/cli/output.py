"""Printing results: rich tables in a terminal, JSON/CSV/HTML for scripts and reports."""

from __future__ import annotations

import csv
import html
import io
import json
import sys
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FORMATS = ("table", "json", "csv", "html")


def money(value: Decimal | None, places: str = "0.01") -> str:
    if value is None:
        return "unknown"
    return f"${value.quantize(Decimal(places), rounding=ROUND_HALF_UP):,}"


def unit_price(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    return f"${value.normalize():f}" if value < 1 else f"${value:,.4f}".rstrip("0").rstrip(".")


def qty(value: Decimal) -> str:
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return text or "0"


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not con.is_terminal:
        con = Console(stderr=stderr, highlight=False, soft_wrap=False, width=220)
    return con


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def emit_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    sys.stdout.write(out.getvalue())


def html_page(title: str, sections: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> str:
    """A self-contained HTML report: one table per section, no external assets."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
        "table{border-collapse:collapse;margin-bottom:2rem}"
        "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for caption, header, rows in sections:
        parts.append(f"<h2>{html.escape(caption)}</h2><table><thead><tr>")
        parts.extend(f"<th>{html.escape(str(h))}</th>" for h in header)
        parts.append("</tr></thead><tbody>")
        for row in rows:
            cells = "".join(
                f'<td class="num">{html.escape(str(c))}</td>' if str(c).startswith("$")
                else f"<td>{html.escape(str(c))}</td>" for c in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
