"""``catalog info`` and ``catalog update``: what prices are known, and importing more."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

app = typer.Typer(help="Inspect and update the price catalog.", no_args_is_help=True,
                  rich_markup_mode=None)


@app.command("info")
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Coverage and freshness of the catalog per provider and service.

    Example:

      pepperpy-cloud catalog info
    """
    from pepperpy.cloud.catalog.store import default_catalog
    from pepperpy.cloud.cli import output

    catalog = default_catalog()
    cov = catalog.coverage()
    if as_json:
        output.emit_json({"rows": len(catalog), "origins": list(catalog.origins),
                          "coverage": [c.__dict__ for c in cov]})
        return
    from rich.table import Table

    t = Table(title=f"price catalog: {len(catalog)} rows", title_justify="left")
    for h in ("provider", "service", "rows", "SKUs", "regions", "pricing models", "as of", "sources"):
        t.add_column(h, justify="right" if h in ("rows", "SKUs", "regions") else "left",
                     overflow="fold")
    for c in cov:
        dates = c.oldest.isoformat() if c.oldest == c.newest else f"{c.oldest} .. {c.newest}"
        t.add_row(c.provider, c.service, str(c.rows), str(c.skus), str(c.regions),
                  ", ".join(c.pricing_models), dates, "\n".join(c.sources))
    t.caption = "from: " + "; ".join(catalog.origins)
    t.caption_justify = "left"
    output.console().print(t)


@app.command("update")
def update(
    source: str = typer.Option(..., "--source", "-s",
                               help="skypilot, aws-offer, azure-retail, gcp-billing or normalized."),
    url: str = typer.Option(None, "--url", help="Fetch from this URL (paging is followed)."),
    file: Path = typer.Option(None, "--file", help="Read a downloaded price file."),
    provider: str = typer.Option(None, "--provider", help="Cloud of a skypilot vms.csv when the header cannot tell."),
    as_of: str = typer.Option(None, "--as-of", help="Publication date (YYYY-MM-DD) when the file does not state one."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Import prices into your catalog cache; the bundled snapshot stays the fallback.

    Examples:

      pepperpy-cloud catalog update --source skypilot --file ~/.sky/catalogs/v8/gcp/vms.csv

      pepperpy-cloud catalog update --source azure-retail --url "https://prices.azure.com/api/retail/prices"

      pepperpy-cloud catalog update --source aws-offer --file index.json
    """
    from pepperpy.cloud.catalog.update import update_cache
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.errors import InputError

    if (url is None) == (file is None):
        raise InputError("--url/--file", "give exactly one of --url or --file")
    when = None
    if as_of:
        try:
            when = date.fromisoformat(as_of)
        except ValueError:
            raise InputError("--as-of", f"{as_of!r} is not a date like 2025-01-31") from None
    out = output.console(stderr=True)
    with out.status(f"importing {source} prices...", spinner="dots") if out.is_terminal and not as_json else _null():
        summary = update_cache(source, url=url, file=file, provider=provider, as_of=when)
    if as_json:
        output.emit_json(summary)
        return
    output.console().print(
        f"imported {summary['imported']} rows from {summary['pages']} page(s) into {summary['path']} "
        f"({summary['total_in_cache']} rows in that cache file)")
    for reason, count in summary["skipped"].items():
        output.console().print(f"  skipped {count}: {reason}")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
