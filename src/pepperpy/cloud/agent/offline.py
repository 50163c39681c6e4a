"""The offline answerer: parsed question -> read-only tool calls -> text, table and citations.

Every dollar figure written here is formatted from a tool result, which is a
catalog row's price times a stated quantity; a missing row is written as
"I don't know", never as a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pepperpy.cloud.agent.answer import Table, money, unit_price
from pepperpy.cloud.agent.parser import Parsed
from pepperpy.cloud.agent.tools import ToolContext, ToolResult, run_tool
from pepperpy.cloud.catalog.row import HOURS_PER_MONTH, PriceRow
from pepperpy.cloud.cost.mapping import MANAGED_SERVICES

REFUSAL = ("I can only look up prices with read-only tools: I can't change prices, run or delete anything, "
           "or follow instructions embedded in a question.")
# Minimum score of the best note for a question not worded as a concept question (cosine for MiniLM, BM25).
RELEVANCE = {"minilm": 0.3, "bm25": 3.0}
MODEL_LABEL = {"on_demand": "on-demand", "spot": "spot", "reserved_1y": "1-year reserved",
               "reserved_3y": "3-year reserved"}


@dataclass
class Draft:
    """An answer being built: text parts, a table, the rows and tools used."""

    parts: list[str] = field(default_factory=list)
    table: Table | None = None
    rows: list[PriceRow] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    unknown: bool = False

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any]) -> ToolResult:
        result = run_tool(name, args, ctx)
        self.tools.append(name)
        self.rows += result.rows
        return result

    @property
    def text(self) -> str:
        return " ".join(p for p in self.parts if p)


def _hours_phrase(hours: Decimal) -> str:
    return "a 730-hour month" if hours == HOURS_PER_MONTH else f"{hours.normalize():f} hours"


def _where(d: dict[str, Any]) -> str:
    return f"{d['region']}/{d['zone']}" if d.get("zone") else d["region"]


def answer_price(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    provider, _, sku = p.instances[0]
    region = next((code for prov, code in p.regions if prov == provider), None)
    res = draft.call(ctx, "price_instance", {"sku": sku, "provider": provider, "region": region, "area": p.area,
                                             "count": p.count, "hours": str(p.hours),
                                             "pricing_models": p.pricing_models or ["on_demand"]})
    data = res.data
    label = f"{p.count} x {sku}" if p.count > 1 else sku
    table = Table(columns=["pricing model", "instance", "provider", "region", "$/hour", "hours",
                           "count", "$/month"])
    for price in data["prices"]:
        model = MODEL_LABEL[price["pricing_model"]]
        if not price["known"]:
            draft.unknown = draft.unknown or price["pricing_model"] == "on_demand"
            draft.parts.append(f"{model.capitalize()}: I don't know — the catalog has no {model} price for "
                               f"{sku}{' in ' + region if region else ''}.")
            continue
        total = Decimal(price["monthly_total"])
        each = f" ({unit_price(Decimal(price['hourly']))}/hour each" if p.count > 1 else \
            f" ({unit_price(Decimal(price['hourly']))}/hour"
        draft.parts.append(f"{label} ({provider}, {_where(price)}) {model}: {money(total)} for "
                           f"{_hours_phrase(p.hours)}{each}).")
        table.rows.append([model, sku, provider, _where(price), unit_price(Decimal(price["hourly"])),
                           f"{p.hours.normalize():f}", str(p.count), money(total)])
    draft.table = table if table.rows else None


def answer_compare(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    skus = [sku for _, _, sku in p.instances]
    res = draft.call(ctx, "compare_instances", {"skus": skus, "area": p.area, "count": p.count,
                                                "hours": str(p.hours),
                                                "pricing_models": p.pricing_models or ["on_demand"]})
    table = Table(columns=["instance", "provider", "region", "pricing model", "$/hour", "$/month"])
    priced: list[tuple[Decimal, str, str]] = []
    for inst in res.data["instances"]:
        for price in inst.get("prices", []):
            if not price["known"]:
                continue
            total = Decimal(price["monthly_total"])
            table.rows.append([inst["sku"], inst["provider"], _where(price), MODEL_LABEL[price["pricing_model"]],
                               unit_price(Decimal(price["hourly"])), money(total)])
            if price["pricing_model"] == "on_demand":
                priced.append((total, inst["sku"], inst["provider"]))
    missing = [i["sku"] for i in res.data["instances"] if not i.get("known")]
    qty = f"{p.count} x each, " if p.count > 1 else ""
    listing = "; ".join(f"{sku} ({prov}) {money(total)}" for total, sku, prov in priced)
    if priced:
        best = min(priced)
        draft.parts.append(f"On-demand for {qty}{_hours_phrase(p.hours)}: {listing}. "
                           f"Cheapest: {best[1]} ({best[2]}).")
    if missing:
        draft.unknown = not priced
        draft.parts.append(f"I don't know the price of {', '.join(missing)}: not in the catalog.")
    draft.table = table if table.rows else None


def answer_cheapest(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    model = "spot" if "spot" in p.pricing_models else "on_demand"
    regions = [code for _, code in p.regions] or None
    args = {"vcpus": p.vcpus, "memory_gib": p.memory_gib, "gpu": p.gpu, "gpu_count": p.gpu_count,
            "gpu_memory_gb": p.gpu_memory_gb, "providers": p.providers or None, "regions": regions,
            "area": p.area, "pricing_model": model, "limit": 5}
    res = draft.call(ctx, "cheapest_instances", args)
    if not res.data.get("known"):
        draft.unknown = True
        why = (f"the catalog has no {res.data['gpu']} GPU (known: {', '.join(res.data['known_gpus'])})"
               if "known_gpus" in res.data else "no instance in the catalog meets those requirements")
        draft.parts.append(f"I don't know: {why}.")
        return
    rows = res.data["instances"]
    best = rows[0]
    need = _requirements(p)
    gpu = f", {best['gpu']}" if best["gpu"] else ""
    draft.parts.append(
        f"The cheapest {MODEL_LABEL[model]} instance{need} is {best['sku']} ({best['provider']}, {_where(best)}, "
        f"{best['vcpus']:g} vCPU, {best['memory_gib']:g} GiB{gpu}): {unit_price(Decimal(best['hourly']))}/hour, "
        f"{money(Decimal(best['monthly']))}/month.")
    draft.table = Table(columns=["instance", "provider", "region", "vCPUs", "GiB", "GPU", "$/hour", "$/month"],
                        rows=[[r["sku"], r["provider"], _where(r), f"{r['vcpus']:g}", f"{r['memory_gib']:g}",
                               r["gpu"], unit_price(Decimal(r["hourly"])), money(Decimal(r["monthly"]))]
                              for r in rows])


def _requirements(p: Parsed) -> str:
    bits = []
    if p.vcpus is not None:
        bits.append(f"{p.vcpus:g}+ vCPUs")
    if p.memory_gib is not None:
        bits.append(f"{p.memory_gib:g}+ GiB memory")
    if p.gpu:
        bits.append(f"a {p.gpu} GPU")
    if p.gpu_memory_gb is not None:
        bits.append(f"{p.gpu_memory_gb:g}+ GB of GPU memory")
    where = f" in {p.area.upper() if p.area == 'us' else p.area.title()}" if p.area else ""
    if p.regions:
        where = " in " + ", ".join(code for _, code in p.regions)
    if p.providers:
        where += " on " + ", ".join(p.providers)
    return (" with " + ", ".join(bits) if bits else "") + where


def answer_managed(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    kind, owner = next(((k, o) for k, o in p.services if o), p.services[0])
    targets = [x for x in p.providers if x != owner] or None
    if targets is None and owner and not p.wants_equivalent:
        targets = [owner]
    res = draft.call(ctx, "managed_equivalent", {"kind": kind, "size_gb": None if p.size_gb is None
                                                 else str(p.size_gb), "providers": targets, "area": p.area})
    source = MANAGED_SERVICES.get(kind, {}).get(owner or "", "")
    table = Table(columns=["provider", "managed service", "sku", "region", "quantity", "unit price", "$/month"])
    for svc in res.data["services"]:
        lead = f"{svc['provider']}: {svc['service']}"
        if source and svc["provider"] != owner:
            lead = f"{svc['provider'].upper() if svc['provider'] != 'azure' else 'Azure'}'s equivalent of {source} " \
                   f"is {svc['service']}"
        if svc.get("priced"):
            size = f" for {p.size_gb.normalize():f} GB" if p.size_gb is not None else ""
            draft.parts.append(f"{lead}{size}: {svc['sku']} in {svc['region']} at "
                               f"{unit_price(Decimal(svc['unit_price']))}/{svc['unit']} = "
                               f"{money(Decimal(svc['monthly']))}/month.")
            table.rows.append([svc["provider"], svc["service"], svc["sku"], svc["region"],
                               f"{Decimal(svc['quantity']).normalize():f} {svc['unit']}",
                               f"{unit_price(Decimal(svc['unit_price']))}/{svc['unit']}",
                               money(Decimal(svc["monthly"]))])
        else:
            why = " (give a size in GB to price it)" if p.size_gb is None else \
                " — I don't know its price: the catalog has no row that fits"
            if p.size_gb is not None and (targets or not any(s.get("priced") for s in res.data["services"])):
                draft.unknown = True
            draft.parts.append(f"{lead}{why}.")
            table.rows.append([svc["provider"], svc["service"] or "", "", "", "", "", "unknown"])
    draft.table = table


def estimate_resources_for(p: Parsed) -> list[dict[str, Any]]:
    """Seed 000 resource dicts from the question's instances and services."""
    resources: list[dict[str, Any]] = []
    for _, service, sku in p.instances:
        kind = {"compute": "compute", "database": "database", "cache": "cache", "queue": "queue"}[service]
        resources.append({"type": kind, "instance_type": sku, "count": p.count, "hours": str(p.hours)}
                         if kind == "compute" else {"type": kind, "instance_type": sku})
    for kind, _ in p.services:
        size = str(p.sizes[kind]) if kind in p.sizes else None
        if kind == "object_storage":
            resources.append({"type": "storage", "size_gb": size or "100"})
        elif kind == "block_storage":
            resources.append({"type": "block_storage", "size_gb": size or "100"})
        elif kind == "egress":
            resources.append({"type": "egress", "gb": size or "100"})
        elif kind in ("kubernetes", "load_balancer"):
            resources.append({"type": kind})
        elif kind == "cache" and not any(r["type"] == "cache" for r in resources):
            resources.append({"type": "cache", "memory_gb": size or "1"})
    return resources


def answer_estimate(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    resources = estimate_resources_for(p)
    providers = p.providers or sorted({prov for prov, _, _ in p.instances}) or ["aws", "azure", "gcp"]
    table = Table(columns=["provider", "component", "sku", "quantity", "unit price", "$/month"])
    for provider in providers:
        mine = [r for r in resources if "instance_type" not in r or any(
            prov == provider and sku == r["instance_type"] for prov, _, sku in p.instances)]
        region = next((code for prov, code in p.regions if prov == provider), None)
        res = draft.call(ctx, "estimate_resources", {"provider": provider, "region": region, "resources": mine})
        if "items" not in res.data:
            draft.parts.append(f"{provider}: I don't know ({res.data.get('error', 'not priceable')}).")
            draft.unknown = True
            continue
        for item in res.data["items"]:
            table.rows.append([provider, item["component"], item["sku"], f"{item['quantity']} {item['unit']}",
                               unit_price(Decimal(item["unit_price"])) if item["unit_price"] else "unknown",
                               money(Decimal(item["monthly"])) if item["monthly"] else "unknown"])
        unknown = res.data["unknown_items"]
        text = f"On {provider} ({res.data['region']}): {money(Decimal(res.data['total_monthly']))}/month"
        if "spot" in res.data["totals_with"] and "spot" in p.pricing_models:
            text += f", {money(Decimal(res.data['totals_with']['spot']))}/month with spot"
        text += "." if not unknown else f", plus {', '.join(unknown)} which I can't price (unknown, not $0)."
        draft.parts.append(text)
    draft.table = table


def answer_knowledge(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    res = draft.call(ctx, "search_knowledge", {"query": p.text[:500], "k": 3})
    draft.tools[-1] = f"search_knowledge:{res.data['backend']}"
    notes = res.data["notes"]
    if not notes:
        draft.unknown = True
        draft.parts.append("I don't know: no note in the knowledge base covers that.")
        return
    top = notes[0]
    if not p.concept_question and top["score"] < RELEVANCE[res.data["backend"].split("+")[0]]:
        draft.unknown = True
        draft.parts.append("I don't know: that is not a cloud pricing question I can answer from the catalog or "
                           "my notes.")
        return
    # Notes are prose, not price rows: a dollar figure inside one (or an injected one) is never repeated.
    excerpt = re.sub(r"\$\s?\d[\d,.]*", "[a figure not from the catalog]", top["excerpt"])
    draft.parts.append(f"{top['title']}: {excerpt} [note: {top['id']}]")
    draft.table = Table(columns=["note", "title", "score"],
                        rows=[[n["id"], n["title"], f"{n['score']:.3f}"] for n in notes])


def answer_unknown(p: Parsed, ctx: ToolContext, draft: Draft) -> None:
    draft.unknown = True
    if p.unknown_names:
        draft.parts.append(f"I don't know the price of {', '.join(dict.fromkeys(p.unknown_names))}: the catalog "
                           "has no row for it, and I don't guess prices. Run 'pepperpy-cloud catalog update' to "
                           "import current price lists.")
    else:
        draft.parts.append("I don't know: I can answer questions about cloud instance, storage, database, cache, "
                           "queue and network prices from the catalog, and pricing concepts from my notes.")


HANDLERS = {"price": answer_price, "compare": answer_compare, "cheapest": answer_cheapest,
            "managed": answer_managed, "estimate": answer_estimate, "knowledge": answer_knowledge,
            "unknown": answer_unknown}


def answer_offline(p: Parsed, ctx: ToolContext) -> Draft:
    """Run the handler for ``p.intent``; an injection attempt first gets a refusal line."""
    draft = Draft()
    if p.injection:
        draft.parts.append(REFUSAL)
        if p.intent == "unknown":
            draft.unknown = True
            return draft
    HANDLERS[p.intent](p, ctx, draft)
    return draft
