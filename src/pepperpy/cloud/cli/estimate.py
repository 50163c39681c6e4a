"""``estimate`` and ``compare``: what a stack costs per month, line by line, on each cloud."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pepperpy.cloud.cost.model import Estimate

CLOUDS = ("aws", "azure", "gcp")


def _providers(provider: str) -> list[str]:
    from pepperpy.cloud.errors import NotFoundError

    if provider == "all":
        return list(CLOUDS)
    names = [p.strip() for p in provider.split(",") if p.strip()]
    for name in names:
        if name not in CLOUDS:
            raise NotFoundError("--provider", name, "provider", suggestions=[*CLOUDS, "all"])
    return names


def _format(fmt: str, as_json: bool) -> str:
    from pepperpy.cloud.cli.output import FORMATS
    from pepperpy.cloud.errors import InputError

    if as_json:
        return "json"
    if fmt not in FORMATS:
        raise InputError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    return fmt


def run_estimates(stack_path: Path, provider: str, region: str | None, strict: bool = False
                  ) -> list[Estimate]:
    from pepperpy.cloud.cost.estimator import CostEstimator
    from pepperpy.cloud.spec.stack import Stack

    stack = Stack.from_file(stack_path)
    providers = _providers(provider) if provider else (
        [stack.provider] if stack.provider in CLOUDS else list(CLOUDS))
    if region and len(providers) > 1:
        from pepperpy.cloud.errors import InputError

        raise InputError("--region", "a region belongs to one provider; use it with --provider aws|azure|gcp")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [CostEstimator(p).estimate_stack(stack, region=region, strict=strict)
                for p in providers]


def _line_rows(est: Estimate) -> list[list[str]]:
    from pepperpy.cloud.cli.output import money, qty, unit_price

    rows = []
    for item in est.items:
        spot = item.alternatives.get("spot")
        r1 = item.alternatives.get("reserved_1y")
        rows.append([
            item.component, item.managed_service, item.sku, f"{qty(item.quantity)} {item.unit}",
            unit_price(item.unit_price), money(item.monthly),
            money(spot.monthly) if spot else "-", money(r1.monthly) if r1 else "-",
            item.note,
        ])
    return rows


HEADER = ["component", "managed service", "sku", "quantity", "unit price", "monthly",
          "spot", "1y reserved", "note"]


def _print_table(estimates: list[Estimate], title: str) -> None:
    from rich.table import Table

    from pepperpy.cloud.cli.output import console, money

    out = console()
    for est in estimates:
        table = Table(title=f"{title} on {est.provider.upper()} ({est.region})", title_justify="left")
        for h in HEADER:
            table.add_column(h, justify="right" if h in ("unit price", "monthly", "spot",
                                                          "1y reserved") else "left",
                             overflow="fold", max_width=44 if h == "note" else None)
        for row in _line_rows(est):
            table.add_row(*row)
        unknown = f"  + {len(est.unknown)} unpriced (unknown, not $0)" if est.unknown else ""
        table.caption = f"total {money(est.total)}/month{unknown}"
        savings = est.savings()
        if savings:
            table.caption += "  |  " + ", ".join(
                f"{m.replace('_', ' ')} saves {money(v)}" for m, v in savings.items())
        table.caption_justify = "left"
        out.print(table)
    out.print("[dim]Prices: list prices in USD from the catalog; 730 hours a month. "
              "'pepperpy-cloud estimate --format json' cites the catalog row of every figure.[/dim]")


def estimate(
    stack: Path = typer.Argument(..., help="Stack file (pepperpy.yaml) or its directory."),
    provider: str = typer.Option("", "--provider", "-p",
                                 help="aws, azure, gcp, a comma list, or all (default: the stack's provider, or all)."),
    region: str = typer.Option(None, "--region", "-r",
                               help="Region of that provider (default: the stack's, or its nearest equivalent)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or html."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    strict: bool = typer.Option(False, "--strict",
                                help="Fail (exit 2) on an instance or class the catalog does not know."),
) -> None:
    """Monthly cost of a stack, line by line, with spot and commitment alternatives.

    Examples:

      pepperpy-cloud estimate examples/stacks/bsc-rag.yaml --provider all

      pepperpy-cloud estimate pepperpy.yaml -p gcp -r europe-west1 --format csv > cost.csv

      pepperpy-cloud estimate pepperpy.yaml --format html > cost.html
    """
    from pepperpy.cloud.cli import output

    kind = _format(fmt, as_json)
    estimates = run_estimates(stack, provider, region, strict)
    if kind == "json":
        output.emit_json({"stack": str(stack), "estimates": [e.to_dict() for e in estimates]})
    elif kind == "csv":
        output.emit_csv(["provider", "region", *HEADER],
                        [[e.provider, e.region, *r] for e in estimates for r in _line_rows(e)])
    elif kind == "html":
        typer.echo(output.html_page(f"Monthly cost of {stack}", [
            (f"{e.provider.upper()} {e.region}: {output.money(e.total)}/month", HEADER, _line_rows(e))
            for e in estimates]), nl=False)
    else:
        _print_table(estimates, f"{stack}")


def compare_rows(estimates: list[Estimate]) -> list[dict[str, Any]]:
    cheapest = min((e for e in estimates if e.complete), key=lambda e: e.total, default=None)
    rows = []
    for e in estimates:
        models = e.savings()
        rows.append({
            "provider": e.provider, "region": e.region, "on_demand": e.total,
            **{m: e.total_with(m) if m in models else None
               for m in ("spot", "reserved_1y", "reserved_3y")},
            "unpriced": len(e.unknown), "cheapest": e is cheapest,
        })
    return rows


def compare(
    stack: Path = typer.Argument(..., help="Stack file (pepperpy.yaml) or its directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Totals on AWS, Azure and GCP side by side; the cheapest complete estimate is marked.

    Example:

      pepperpy-cloud compare examples/stacks/kv-store.yaml
    """
    from pepperpy.cloud.cli import output

    estimates = run_estimates(stack, "all", None)
    rows = compare_rows(estimates)
    if as_json:
        output.emit_json([{k: (str(v) if v is not None and not isinstance(v, bool | int | str) else v)
                           for k, v in r.items()} for r in rows])
        return
    from rich.table import Table

    table = Table(title=f"{stack}: monthly totals", title_justify="left")
    for h in ("provider", "region", "on-demand", "with spot", "1y reserved", "3y reserved",
              "unpriced", ""):
        table.add_column(h, justify="right" if h not in ("provider", "region", "") else "left")
    for r in rows:
        alt = [output.money(r[m]) if r[m] is not None else "-"
               for m in ("spot", "reserved_1y", "reserved_3y")]
        table.add_row(r["provider"], r["region"], output.money(r["on_demand"]), *alt,
                      str(r["unpriced"]),
                      "cheapest" if r["cheapest"] else "")
    out = output.console()
    out.print(table)
    if any(r["unpriced"] for r in rows):
        out.print("[dim]'unpriced' lines have no catalog price; they are not counted as $0. "
                  "A provider with unpriced lines is never marked cheapest.[/dim]")
