"""Turn a plain-language pricing question into an intent and slots, without a language model.

Slots are read with patterns and vocabularies built from the catalog itself
(instance types, GPU models, regions), from ``regions.REGIONS`` (areas such as
"US" or "Europe") and from ``cost.mapping.MANAGED_SERVICES`` (managed-service
names and their cross-cloud equivalents). A name that looks like an instance
type or GPU but is not in the catalog is kept in ``unknown_names`` so the agent
can say "I don't know" instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from pepperpy.cloud.catalog.regions import REGIONS
from pepperpy.cloud.catalog.row import HOURS_PER_MONTH
from pepperpy.cloud.catalog.store import Catalog

HOURLY_SERVICES = ("compute", "database", "cache", "queue")

PROVIDER_WORDS: dict[str, tuple[str, ...]] = {
    "aws": ("aws", "amazon", "ec2"),
    "azure": ("azure", "microsoft"),
    "gcp": ("gcp", "google", "gce", "compute engine"),
}

# (pattern, kind, provider that owns the name or None for generic)
SERVICE_NAMES: tuple[tuple[str, str, str | None], ...] = (
    (r"elasticache", "cache", "aws"), (r"azure cache(?: for redis)?|azure redis", "cache", "azure"),
    (r"memorystore", "cache", "gcp"), (r"\bredis\b|\bcache\b|\bcaching\b", "cache", None),
    (r"\brds\b|\baurora\b", "database", "aws"),
    (r"azure database(?: for postgres(?:ql)?)?|azure sql|azure postgres(?:ql)?", "database", "azure"),
    (r"cloud sql", "database", "gcp"), (r"postgres(?:ql)?|mysql|\bdatabase\b|\bdb\b", "database", None),
    (r"amazon mq|\bsqs\b", "queue", "aws"), (r"service bus", "queue", "azure"), (r"pub/?sub", "queue", "gcp"),
    (r"rabbitmq|\bqueue\b|message broker", "queue", None),
    (r"\beks\b", "kubernetes", "aws"), (r"\baks\b", "kubernetes", "azure"), (r"\bgke\b", "kubernetes", "gcp"),
    (r"kubernetes|\bk8s\b", "kubernetes", None),
    (r"\balb\b|\belb\b|elastic load balanc", "load_balancer", "aws"),
    (r"azure load balancer", "load_balancer", "azure"), (r"cloud load balancing", "load_balancer", "gcp"),
    (r"load[- ]balanc", "load_balancer", None),
    (r"\bs3\b", "object_storage", "aws"), (r"blob storage|azure blob", "object_storage", "azure"),
    (r"\bgcs\b|cloud storage", "object_storage", "gcp"), (r"object storage|bucket", "object_storage", None),
    (r"\bebs\b", "block_storage", "aws"), (r"managed disks?", "block_storage", "azure"),
    (r"persistent disk", "block_storage", "gcp"), (r"block storage|\bdisk\b|\bvolume\b", "block_storage", None),
    (r"\blambda\b", "serverless", "aws"), (r"azure functions?", "serverless", "azure"),
    (r"cloud run|cloud functions?", "serverless", "gcp"), (r"serverless", "serverless", None),
    (r"cloudwatch", "monitoring", "aws"), (r"azure monitor", "monitoring", "azure"),
    (r"cloud monitoring", "monitoring", "gcp"),
    (r"egress|data transfer|bandwidth", "egress", None),
)

# (area, pattern matched case-insensitively, pattern matched as written: "US"/"EU" but not "us"/"eu")
AREA_WORDS: tuple[tuple[str, str, str], ...] = (
    ("south-america", r"south america|\bbrazil\b|latin america", r"$^"),
    ("us", r"united states|north america|\bus[- ](?:region|based)|\bin (?:the )?us\b", r"\bU\.?S\.?A?\b"),
    ("europe", r"\beurope(?:an)?\b|\beu region", r"\bEU\b"),
    ("asia", r"\basia(?:n)?\b|\bapac\b", r"$^"),
    ("canada", r"\bcanada\b", r"$^"), ("australia", r"\baustralia\b", r"$^"),
    ("uk", r"united kingdom|\bbritain\b", r"\bUK\b"),
)

GPU_LIKE = re.compile(r"\b(A\d{2,3}G?(?:-80GB)?|H\d{3}|B\d{3}|L\d{1,2}S?|T4|V100|K80|P100|P4|MI\d{3}X?|"
                      r"RTX ?\d{4}|TPU(?: ?v\d\w*)?|Gaudi\d?|Inferentia\d?|Trainium\d?)\b", re.IGNORECASE)
INSTANCE_LIKE = re.compile(
    r"\b(?:(?:db|cache|mq)\.)?[a-z]{1,3}\d[a-z\d]*\.(?:nano|micro|small|medium|\d*x?large|metal)\b"
    r"|\b[a-z]\d[a-z]?-(?:standard|highmem|highcpu|highgpu|megagpu|ultragpu|megamem|ultramem|custom)-\d+g?\b"
    r"|\bStandard_[A-Za-z0-9_]+\b|\b[A-Z]{1,3}\d{1,3}[a-z]*_v\d\b", re.IGNORECASE)
INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier)|disregard|system prompt|you are now|"
    r"\bset (?:the )?price|change (?:the )?price|update (?:the )?price|override|jailbreak|"
    r"\b(?:call|run|execute|invoke) (?:the )?(?:tool |function )?[a-z_]+\(|"
    r"\b(?:delete|destroy|drop|remove|deploy|shutdown|terminate|rm -rf)\w*\b|"
    r"\bcall (?:the )?[a-z]+_[a-z_]+|act as|developer mode|reveal|api key|password|secret", re.IGNORECASE)
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "a pair of": 2, "a couple of": 2, "twelve": 12, "twenty": 20}
KNOWLEDGE_CUES = re.compile(
    r"^\s*(?:why|explain|how (?:is|are|do|does|can|should)\b|what (?:is|are) the difference|what happens|"
    r"what drives|where do|which \w+ should|should i|can (?:a|an|you|i)\b|is (?:a|an|it|there)\b|"
    r"are (?:prices|there)\b|does the\b|do you\b|tell me about|when should)|cost money", re.IGNORECASE)
PRICE_CUES = re.compile(r"\$|\bcost|\bprice|\bpriced|how much|cheap|expensive|per month|monthly|a month|"
                        r"per hour|hourly|budget|bill|spend|estimate", re.IGNORECASE)


@dataclass
class Parsed:
    """What a question asks for: ``intent`` plus the slots the tools need."""

    text: str
    intent: str = "unknown"
    providers: list[str] = field(default_factory=list)
    regions: list[tuple[str, str]] = field(default_factory=list)
    area: str | None = None
    instances: list[tuple[str, str, str]] = field(default_factory=list)  # (provider, service, sku)
    unknown_names: list[str] = field(default_factory=list)
    vcpus: float | None = None
    memory_gib: float | None = None
    gpu: str | None = None
    gpu_count: int | None = None
    gpu_memory_gb: float | None = None
    count: int = 1
    hours: Decimal = HOURS_PER_MONTH
    pricing_models: list[str] = field(default_factory=list)
    services: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, owning provider)
    size_gb: Decimal | None = None
    sizes: dict[str, Decimal] = field(default_factory=dict)  # service kind -> the GB figure nearest its name
    injection: bool = False
    concept_question: bool = False  # worded like "why ...", "how are ... billed": a knowledge question
    wants_cheapest: bool = False
    wants_price: bool = False
    wants_equivalent: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """Names the catalog knows, for matching: SKU spellings -> (provider, service, sku)."""

    skus: dict[str, tuple[str, str, str]]
    gpus: dict[str, str]
    pattern: re.Pattern[str]


@lru_cache(maxsize=4)
def vocabulary(catalog: Catalog) -> Vocabulary:
    skus: dict[str, tuple[str, str, str]] = {}
    for row in catalog.rows:
        if row.service not in HOURLY_SERVICES or row.unit != "hour":
            continue
        entry = (row.provider, row.service, row.sku)
        names = {row.sku.lower()}
        if row.provider == "azure" and row.service == "compute":
            short = row.sku.removeprefix("Standard_")
            names |= {short.lower(), short.replace("_", " ").lower()}
        for name in names:
            current = skus.get(name)
            if current is None or (current[1] != "compute" and row.service == "compute"):
                skus[name] = entry
    gpus = {r.gpu_model.upper(): r.gpu_model for r in catalog.rows if r.gpu_model}
    longest_first = sorted(skus, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in longest_first) + r")(?![\w-]|\.\w)",
                         re.IGNORECASE)
    return Vocabulary(skus, gpus, pattern)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _count(text: str, sku_spans: list[tuple[int, int]]) -> int:
    """'3 m5.large', '3 x t3.large', 'three nodes', '5 instances'."""
    lowered = text.lower()
    for start, _ in sku_spans:
        before = lowered[max(0, start - 14):start]
        m = re.search(r"(\d+)\s*(?:x|×|\*)?\s*(?:of\s+)?(?:the\s+)?$", before)
        if m:
            return max(1, int(m.group(1)))
        for word, n in NUMBER_WORDS.items():
            if re.search(rf"\b{word}\s*(?:x\s*)?$", before):
                return n
    m = re.search(r"(\d+)\s*(?:instances|nodes|vms|machines|servers|replicas|copies|of them)\b", lowered)
    if m:
        return max(1, int(m.group(1)))
    for word, n in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\s+(?:instances|nodes|vms|machines|servers|replicas)\b", lowered):
            return n
    return 1


def _hours(text: str) -> Decimal:
    lowered = text.lower()
    per_day = re.search(r"(\d+(?:\.\d+)?)\s*(?:hours?|h)\s*(?:a|per|each|/)\s*day", lowered)
    days = re.search(r"(\d+)\s*days?\b", lowered)
    if per_day:
        hours = Decimal(per_day.group(1))
        return hours * (Decimal(days.group(1)) if days else HOURS_PER_MONTH / 24)
    plain = re.search(r"(?:for|run(?:ning)?|during)\s+(\d+(?:\.\d+)?)\s*hours?\b", lowered)
    if plain:
        return Decimal(plain.group(1))
    if days and "hour" not in lowered:
        return Decimal(days.group(1)) * 24
    return HOURS_PER_MONTH


def _resources(p: Parsed, text: str) -> None:
    lowered = text.lower()
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:vcpus?|v-cpus?|cpus?|cores?|vcores?)\b", lowered)
    if m:
        p.vcpus = _number(m.group(1))
    gpu_mem = re.search(r"(\d+(?:\.\d+)?)\s*gb\s*(?:of\s+)?(?:gpu\s*memory|vram|gpu ram|of gpu|gpu)\b", lowered) \
        or re.search(r"gpu[^.?]*?(?:at least|>=|with|min(?:imum)?)\s*(\d+(?:\.\d+)?)\s*gb"
                     r"(?!\s*(?:of\s+)?(?:ram|memory|system))", lowered)
    mem = re.search(r"(\d+(?:\.\d+)?)\s*(?:gb|gib|g)\s*(?:of\s+)?(?:ram|memory|mem)\b", lowered)
    if gpu_mem:
        p.gpu_memory_gb = _number(gpu_mem.group(1))
    if mem and not (gpu_mem and mem.start() == gpu_mem.start()):
        p.memory_gib = _number(mem.group(1))
    m = re.search(r"(\d+)\s*(?:x\s*)?(?:gpus|[a-z]\d+\w*\s+gpus)\b", lowered)
    if m:
        p.gpu_count = int(m.group(1))
    size = re.search(r"(\d+(?:[.,]\d+)?)\s*(tb|tib|gb|gib)\b(?!\s*(?:of\s+)?(?:ram|vram|gpu))", lowered)
    if size:
        value = Decimal(size.group(1).replace(",", ""))
        p.size_gb = value * 1024 if size.group(2).startswith("t") else value


def _gpu(p: Parsed, text: str, vocab: Vocabulary) -> None:
    for m in GPU_LIKE.finditer(text):
        name = m.group(1).upper().replace(" ", "")
        if name in vocab.gpus:
            p.gpu = vocab.gpus[name]
            return
        looks_like_gpu = re.fullmatch(r"[A-Z]+\d+[A-Z]*(?:-80GB)?", name) or name.startswith(
            ("TPU", "GAUDI", "INF", "TRAIN"))
        if looks_like_gpu and not vocab.pattern.fullmatch(m.group(1)):
            p.unknown_names.append(m.group(1))


def _places(p: Parsed, text: str) -> None:
    lowered = text.lower()
    for region in REGIONS:
        if re.search(rf"(?<![\w-]){re.escape(region.code)}(?![\w-])", lowered):
            p.regions.append((region.provider, region.code))
    if not p.regions:
        for area, loose, exact in AREA_WORDS:
            if re.search(loose, text, re.IGNORECASE) or re.search(exact, text):
                p.area = area
                break
    for provider, words in PROVIDER_WORDS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words):
            p.providers.append(provider)


def _services(p: Parsed, text: str) -> None:
    lowered = text.lower()
    positions: dict[str, int] = {}
    for pattern, kind, owner in SERVICE_NAMES:
        m = re.search(pattern, lowered)
        if m and (kind, owner) not in p.services:
            if owner is None and any(k == kind for k, _ in p.services):
                continue
            p.services.append((kind, owner))
            positions.setdefault(kind, m.start())
    sizes = [(m.start(), Decimal(m.group(1).replace(",", "")) * (1024 if m.group(2).startswith("t") else 1))
             for m in re.finditer(r"(\d+(?:[.,]\d+)?)\s*(tb|tib|gb|gib)\b", lowered)]
    for kind, at in positions.items():
        if sizes:
            p.sizes[kind] = min(sizes, key=lambda s: at - s[0] if s[0] < at else s[0] - at + 6)[1]  # '200 GB of EBS'


def _pricing_models(p: Parsed, text: str) -> None:
    lowered = text.lower()
    if re.search(r"\bspot\b|preemptible|interruptible", lowered):
        p.pricing_models.append("spot")
    if re.search(r"3[- ]?(?:year|yr|y)\b|three[- ]year", lowered):
        p.pricing_models.append("reserved_3y")
    if re.search(r"reserved|reservation|commit(?:ment|ted)?|1[- ]?(?:year|yr|y)\b|one[- ]year|savings plan",
                 lowered) and "reserved_3y" not in p.pricing_models:
        p.pricing_models.append("reserved_1y")


def parse(question: str, catalog: Catalog) -> Parsed:
    """Read the intent and slots of ``question``; never raises on odd text."""
    vocab = vocabulary(catalog)
    p = Parsed(text=question)
    spans: list[tuple[int, int]] = []
    for m in vocab.pattern.finditer(question):
        entry = vocab.skus[m.group(1).lower()]
        if entry not in p.instances:
            p.instances.append(entry)
        spans.append(m.span())
    for m in INSTANCE_LIKE.finditer(question):
        if not any(s <= m.start() < e for s, e in spans) and m.group(0).lower() not in vocab.skus:
            p.unknown_names.append(m.group(0))
    _gpu(p, question, vocab)
    _places(p, question)
    _services(p, question)
    _pricing_models(p, question)
    _resources(p, question)
    p.count = _count(question, spans)
    p.hours = _hours(question)
    p.injection = bool(INJECTION.search(question))
    lowered = question.lower()
    p.wants_cheapest = bool(re.search(r"cheapest|least expensive|lowest[- ]cost|lowest price|best price|most "
                                      r"affordable|cheaper|lowest", lowered))
    p.wants_price = bool(PRICE_CUES.search(question))
    p.wants_equivalent = bool(re.search(r"equivalent|counterpart|alternative to|instead of|version of|"
                                        r"same as|similar to|\bvs\.?\b|versus", lowered))
    p.concept_question = bool(KNOWLEDGE_CUES.search(question))
    p.intent = _intent(p)
    return p


def _intent(p: Parsed) -> str:
    """Pick the intent; the order matters: named things first, then concepts, then requirements."""
    has_specs = any(v is not None for v in (p.vcpus, p.memory_gib, p.gpu_memory_gb, p.gpu_count)) or bool(p.gpu)
    non_compute = [s for s in p.services if s[0] != "compute"]
    if p.unknown_names and not p.instances:
        return "unknown"
    if len(p.instances) >= 2 and not non_compute:
        return "compare"
    if p.instances and non_compute:
        return "estimate"
    if p.instances:
        return "price"
    if KNOWLEDGE_CUES.search(p.text) and not has_specs:
        return "knowledge"
    if has_specs or (p.wants_cheapest and re.search(r"instance|\bvm\b|machine|gpu|server", p.text, re.IGNORECASE)):
        return "cheapest"
    if len(non_compute) >= 2 and p.wants_price and not p.wants_equivalent:
        return "estimate"
    if non_compute and (p.wants_equivalent or p.wants_price or p.size_gb is not None):
        return "managed"
    if p.wants_price or p.injection:
        return "unknown"
    return "knowledge"
