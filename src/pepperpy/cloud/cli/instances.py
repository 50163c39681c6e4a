"""``instances``: filter and sort instance prices across clouds and regions."""

from __future__ import annotations

from decimal import Decimal

import typer


def instances(
    vcpus: float = typer.Option(None, "--vcpus", help="At least this many vCPUs."),
    memory: float = typer.Option(None, "--memory", help="At least this many GiB of memory."),
    gpu: str = typer.Option(None, "--gpu", help="GPU model: T4, L4, A10G, A10, A100, H100, L40S..."),
    gpu_count: int = typer.Option(None, "--gpu-count", min=1, help="At least this many GPUs."),
    gpu_memory: float = typer.Option(
        None, "--gpu-memory", help="At least this many GB of GPU memory in total, as vendors advertise it (A10G: 24)."),
    max_price: str = typer.Option(None, "--max-price", help="Highest hourly price in USD."),
    spot: bool = typer.Option(False, "--spot", help="Spot/preemptible prices instead of on-demand."),
    provider: list[str] = typer.Option(None, "--provider", "-p", help="aws, azure, gcp (repeatable)."),
    region: list[str] = typer.Option(None, "--region", "-r", help="Region code (repeatable)."),
    area: str = typer.Option(None, "--area", help="Region area prefix: us, europe, asia, south-america..."),
    arch: str = typer.Option(None, "--arch", help="x86_64 or arm64."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many rows."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cheapest instances that fit, across every cloud and region in the catalog.

    Examples:

      pepperpy-cloud instances --vcpus 8 --memory 32

      pepperpy-cloud instances --gpu A10G --spot --limit 5

      pepperpy-cloud instances --gpu-memory 24 --area us --json
    """
    from decimal import InvalidOperation

    from pepperpy.cloud.catalog.query import InstanceQuery
    from pepperpy.cloud.catalog.store import default_catalog
    from pepperpy.cloud.cli import output
    from pepperpy.cloud.errors import InputError, NotFoundError

    for p in provider or []:
        if p not in ("aws", "azure", "gcp"):
            raise NotFoundError("--provider", p, "provider", suggestions=["aws", "azure", "gcp"])
    for name, value in (("--vcpus", vcpus), ("--memory", memory), ("--gpu-memory", gpu_memory)):
        if value is not None and value < 0:
            raise InputError(name, f"{value} must be >= 0")
    price_cap = None
    if max_price is not None:
        try:
            price_cap = Decimal(max_price)
        except InvalidOperation:
            raise InputError("--max-price", f"{max_price!r} is not a number of USD per hour") from None
    catalog = default_catalog()
    table = catalog.instances
    if gpu and gpu.upper() not in table.gpu_codes:
        known = sorted(g for g in table.gpu_codes if g)
        raise NotFoundError("--gpu", gpu, "GPU model", suggestions=known)
    query = InstanceQuery(vcpus=vcpus, memory_gib=memory, gpu=gpu, gpu_count=gpu_count,
                          gpu_memory_gb=gpu_memory, max_price=price_cap,
                          providers=provider or None, regions=region or None, area=area,
                          pricing_models=("spot",) if spot else ("on_demand",), arch=arch)
    rows = table.search(query, limit=limit)
    if as_json:
        output.emit_json([{**r.to_dict(), "monthly": str(r.monthly())} for r in rows])
        return
    if not rows:
        output.console(stderr=True).print("no instance in the catalog fits; loosen the filters "
                                          "or run 'pepperpy-cloud catalog update'")
        raise typer.Exit(1)
    from rich.table import Table

    t = Table(title=f"{'spot' if spot else 'on-demand'} instances, cheapest first",
              title_justify="left")
    for h in ("provider", "instance", "region", "vCPUs", "GiB", "GPU", "$/hour", "$/month", "as of"):
        t.add_column(h, justify="right" if h in ("vCPUs", "GiB", "$/hour", "$/month") else "left")
    for r in rows:
        gpus = f"{r.gpu_count} x {r.gpu_model}" if r.gpu_count else ""
        where = f"{r.region}/{r.zone}" if r.zone else r.region
        t.add_row(r.provider, r.sku, where, f"{r.vcpus:g}", f"{r.memory_gib:g}", gpus,
                  output.unit_price(r.price), output.money(r.monthly()), r.as_of.isoformat())
    output.console().print(t)
