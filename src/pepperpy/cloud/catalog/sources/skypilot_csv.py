"""SkyPilot catalog ``vms.csv`` files (AWS, Azure, GCP), read by header name.

The three clouds order their columns differently, so columns are mapped by
name. An empty ``Price`` or ``SpotPrice`` cell means SkyPilot had no price:
no row is made. On-demand prices identical in every zone of a region collapse
into one regional row; spot prices stay per zone because they differ.

In the GCP file a VM price excludes its accelerators; accelerator rows (no
instance type) carry the price of N GPUs. For machine types whose GPUs are
built in (a2, a3, g2) a combined row — VM row + accelerator row of the same
zone, as Google bills them — is added, citing both.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pepperpy.cloud.catalog.row import PriceRow
from pepperpy.cloud.catalog.sources.base import ImportResult, fetch_text, read_text, register
from pepperpy.cloud.errors import CatalogError, InputError

REQUIRED = ("InstanceType", "vCPUs", "MemoryGiB", "Region", "Price")
_GPU_MEM = re.compile(r"TotalGpuMemoryInMiB'?\"?\s*:\s*(\d+)")
# GCP machine types whose accelerators are part of the type: (pattern, GPU name in the catalog).
_GCP_BUILTIN_GPUS = (
    (re.compile(r"^a2-(?:highgpu|megagpu)-(\d+)g$"), "A100"),
    (re.compile(r"^a2-ultragpu-(\d+)g$"), "A100-80GB"),
    (re.compile(r"^a3-(?:highgpu|megagpu|edgegpu)-(\d+)g$"), "H100"),
    (re.compile(r"^a3-ultragpu-(\d+)g$"), "H200"),
)
_G2_GPUS = {"g2-standard-4": 1, "g2-standard-8": 1, "g2-standard-12": 1, "g2-standard-16": 1,
            "g2-standard-32": 1, "g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8}


# Memory per GPU (GiB) from the vendors' spec sheets, for files whose GpuInfo omits it.
GPU_MEMORY_GIB = {"T4": 16, "L4": 24, "A10": 24, "A10G": 24, "L40S": 48, "A100": 40,
                  "A100-80GB": 80, "H100": 80, "H100-MEGA": 80, "H200": 141, "V100": 16,
                  "V100-32GB": 32, "P100": 16, "K80": 12, "M60": 8}


def guess_provider(header: list[str], hint: str | None) -> str:
    if hint:
        return hint
    if "Generation" in header:
        return "azure"
    if "Arch" in header and header.index("AcceleratorName") < header.index("vCPUs"):
        return "aws"
    if header[:3] == ["InstanceType", "vCPUs", "MemoryGiB"]:
        return "gcp"
    raise InputError("--provider", "cannot tell which cloud this vms.csv is for; pass --provider aws|azure|gcp")


def _dec(text: str) -> Decimal | None:
    if text in ("", None):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _f(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def parse(text: str, *, provider: str | None, as_of: date, source: str) -> ImportResult:
    result = ImportResult(source="skypilot")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogError(f"{source}: empty file") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CatalogError(f"{source}: not a SkyPilot vms.csv (missing columns {', '.join(missing)})")
    cloud = guess_provider(header, provider)
    col = {name: i for i, name in enumerate(header)}
    on_demand: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    accelerators: dict[tuple[str, str, str, int], tuple[Decimal, str]] = {}
    for line, cells in enumerate(reader, start=2):
        if len(cells) < len(header):
            result.skip("truncated line")
            continue
        rec = {name: cells[i] for name, i in col.items()}
        if not rec["InstanceType"]:
            _accelerator(rec, cloud, as_of, source, line, result, accelerators)
            continue
        base = _base_fields(rec, cloud, as_of, source, line)
        price = _dec(rec["Price"])
        if price is None:
            result.skip("no on-demand price")
        else:
            on_demand[(rec["InstanceType"], rec["Region"])].append(
                {**base, "price": price, "zone": rec.get("AvailabilityZone", "")}
            )
        spot = _dec(rec.get("SpotPrice", ""))
        if spot is None:
            result.skip("no spot price")
        else:
            result.rows.append(PriceRow(**{**base, "price": spot, "pricing_model": "spot",
                                           "zone": rec.get("AvailabilityZone", "")}))
    for (_itype, _region), zone_rows in on_demand.items():
        prices = {r["price"] for r in zone_rows}
        if len(prices) == 1:
            first = zone_rows[0]
            result.rows.append(PriceRow(**{**first, "zone": ""}))
        else:
            result.rows.extend(PriceRow(**r) for r in zone_rows)
    if cloud == "gcp" and accelerators:
        result.rows.extend(_gcp_combined(result.rows, accelerators))
    return result


def _base_fields(rec: dict[str, str], cloud: str, as_of: date, source: str, line: int) -> dict[str, Any]:
    gpu_mem = _GPU_MEM.search(rec.get("GpuInfo", "") or "")
    count = rec.get("AcceleratorCount") or ""
    return {
        "provider": cloud,
        "service": "compute",
        "sku": rec["InstanceType"],
        "region": rec["Region"],
        "pricing_model": "on_demand",
        "unit": "hour",
        "currency": "USD",
        "as_of": as_of,
        "source": f"{source}#L{line}",
        "vcpus": _f(rec["vCPUs"]),
        "memory_gib": _f(rec["MemoryGiB"]),
        "gpu_model": rec.get("AcceleratorName", "") or "",
        "gpu_count": int(float(count)) if count else 0,
        "gpu_memory_gib": _gpu_memory(gpu_mem, rec.get("AcceleratorName", ""), count),
        "arch": rec.get("Arch", "") or ("arm64" if rec["InstanceType"].startswith("t2a") else "x86_64"),
    }


def _gpu_memory(match: re.Match[str] | None, name: str, count: str) -> float | None:
    if match:
        return int(match.group(1)) / 1024
    per_gpu = GPU_MEMORY_GIB.get(name or "")
    return per_gpu * int(float(count)) if per_gpu and count else None


def _accelerator(rec: dict[str, str], cloud: str, as_of: date, source: str, line: int,
                 result: ImportResult,
                 accelerators: dict[tuple[str, str, str, int], tuple[Decimal, str]]) -> None:
    name, count = rec.get("AcceleratorName", ""), rec.get("AcceleratorCount", "")
    price = _dec(rec["Price"])
    if not name or not count or price is None:
        result.skip("accelerator row without name, count or price")
        return
    n = int(float(count))
    zone = rec.get("AvailabilityZone", "")
    accelerators[(name, rec["Region"], zone, n)] = (price, f"{source}#L{line}")
    common: dict[str, Any] = {"provider": cloud, "service": "accelerator", "sku": name, "region": rec["Region"],
              "zone": zone, "unit": "hour", "currency": "USD", "as_of": as_of,
              "source": f"{source}#L{line}", "gpu_model": name, "gpu_count": n,
              "description": f"{n} x {name}, billed on top of the VM"}
    result.rows.append(PriceRow(**common, pricing_model="on_demand", price=price))
    spot = _dec(rec.get("SpotPrice", ""))
    if spot is not None:
        accelerators[(name + "#spot", rec["Region"], zone, n)] = (spot, f"{source}#L{line}")
        result.rows.append(PriceRow(**common, pricing_model="spot", price=spot))


def builtin_gpus(machine_type: str) -> tuple[str, int] | None:
    """GPU model and count built into a GCP machine type, or None."""
    if machine_type in _G2_GPUS:
        return "L4", _G2_GPUS[machine_type]
    for pattern, gpu in _GCP_BUILTIN_GPUS:
        match = pattern.match(machine_type)
        if match:
            return gpu, int(match.group(1))
    return None


def _gcp_combined(rows: list[PriceRow],
                  accelerators: dict[tuple[str, str, str, int], tuple[Decimal, str]]
                  ) -> list[PriceRow]:
    """Replace each bare a2/a3/g2 VM row by VM + built-in GPUs, zone by zone."""
    combined: list[PriceRow] = []
    replaced: set[int] = set()
    for row in rows:
        gpus = builtin_gpus(row.sku) if row.service == "compute" and not row.gpu_model else None
        if gpus is None:
            continue
        gpu, n = gpus
        name = gpu + ("#spot" if row.pricing_model == "spot" else "")
        zones = [row.zone] if row.zone else sorted(
            {k[2] for k in accelerators if k[0] == name and k[1] == row.region and k[3] == n})
        per_zone = {z: accelerators[(name, row.region, z, n)] for z in zones
                    if (name, row.region, z, n) in accelerators}
        if not per_zone:
            continue
        replaced.add(id(row))
        if not row.zone and len({p for p, _ in per_zone.values()}) == 1:
            per_zone = {"": next(iter(per_zone.values()))}
        for zone, (gpu_price, gpu_source) in per_zone.items():
            combined.append(PriceRow(
                provider=row.provider, service="compute", sku=row.sku, region=row.region,
                zone=zone, pricing_model=row.pricing_model, unit="hour",
                price=row.price + gpu_price, currency=row.currency, as_of=row.as_of,
                source=f"{row.source} + L{gpu_source.rpartition('#L')[2]}", vcpus=row.vcpus,
                memory_gib=row.memory_gib, gpu_model=gpu,
                gpu_count=n, arch=row.arch,
                gpu_memory_gib=GPU_MEMORY_GIB.get(gpu, 0) * n or None,
                description=f"VM {row.price} + {n} x {gpu} {gpu_price} (accelerator row, same region)",
            ))
    rows[:] = [r for r in rows if id(r) not in replaced]
    return combined


@register("skypilot", "skypilot-csv", "vms.csv")
class SkyPilotSource:
    name = "skypilot"
    description = "SkyPilot catalog vms.csv (AWS, Azure, GCP VM on-demand and spot prices)"

    def load(self, *, file: Path | None = None, url: str | None = None, client: Any = None,
             as_of: date | None = None, provider: str | None = None) -> ImportResult:
        if file is None and url is None:
            raise InputError("--file/--url", "the skypilot source needs a vms.csv file or URL")
        text = read_text(file) if file is not None else fetch_text(str(url), client)
        where = str(file) if file is not None else str(url)
        result = parse(text, provider=provider, as_of=as_of or date.today(), source=where)
        result.pages = 1
        return result
