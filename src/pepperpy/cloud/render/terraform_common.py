"""What the three Terraform renderers share: a tiny deterministic HCL writer and stack helpers.

The writer formats exactly as ``terraform fmt`` does (two-space indent, ``=`` aligned
across consecutive one-line attributes, one space before ``=`` of a multi-line value),
so the rendered files pass ``terraform fmt -check`` as they are. Values map to HCL as:
``str`` -> a quoted string (``${`` escaped), :class:`Tpl` -> a quoted template
(``${...}`` kept), :class:`Expr` -> a raw expression, ``bool``/``int``/``float``/``None``
-> literals, ``list`` -> a tuple, ``dict`` -> an object, :class:`Call` -> ``f(arg)``.
A body is an ordered ``dict``: a :class:`Block` value (or a list of them) is a nested
block named by its key; anything else is an attribute.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pepperpy.cloud.render.base import Files, header
from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Component, Service, Stack

MANAGED_BY = "pepperpy-cloud"
DEFAULT_REGIONS = {"aws": "us-east-1", "azure": "eastus", "gcp": "us-central1"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- values


class Expr(str):
    """A raw HCL expression written as is: ``Expr("var.region")``."""


class Tpl(str):
    """A quoted string template whose ``${...}`` interpolations are kept."""


class Call:
    """A function call whose last argument may span lines: ``merge(local.tags, {...})``."""

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args


@dataclass
class Block:
    """A block: type, labels and an ordered body. Nested in a body, the key is its type."""

    type: str = ""
    labels: tuple[str, ...] = ()
    body: dict[str, Any] = field(default_factory=dict)
    comment: str = ""


def block(body: Mapping[str, Any] | None = None, comment: str = "") -> Block:
    """A nested block for a body: ``{"vpc_config": block({...})}``."""
    return Block(body=dict(body or {}), comment=comment)


def resource(kind: str, name: str, body: Mapping[str, Any], comment: str = "") -> Block:
    return Block("resource", (kind, name), dict(body), comment)


def data(kind: str, name: str, body: Mapping[str, Any], comment: str = "") -> Block:
    return Block("data", (kind, name), dict(body), comment)


def variable(name: str, type_: str, description: str, default: Any = ..., *,
             sensitive: bool = False) -> Block:
    body: dict[str, Any] = {"description": description, "type": Expr(type_)}
    if default is not ...:
        body["default"] = default
    if sensitive:
        body["sensitive"] = True
    return Block("variable", (name,), body)


def output(name: str, value: Any, description: str, *, sensitive: bool = False) -> Block:
    body: dict[str, Any] = {"description": description, "value": value}
    if sensitive:
        body["sensitive"] = True
    return Block("output", (name,), body)


def ref(*parts: str) -> Expr:
    return Expr(".".join(parts))


def quote(text: str, template: bool = False) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    out = out.replace("\t", "\\t")
    if not template:
        out = out.replace("${", "$${").replace("%{", "%%{")
    return f'"{out}"'


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} has no HCL form")
    if isinstance(value, int):
        return str(value)
    dec = Decimal(str(value))
    if dec == dec.to_integral_value():
        return str(int(dec))
    return format(dec.normalize(), "f")


def _key(name: str) -> str:
    return name if _PLAIN_KEY.match(name) else quote(name)


def _inline(value: Any) -> str | None:
    """The one-line form of ``value``, or None when it needs several lines."""
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, Tpl):
        return quote(value, template=True)
    if isinstance(value, str):
        return quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, list | tuple):
        parts = [_inline(v) for v in value]
        if any(p is None or isinstance(v, dict | Call) for p, v in zip(parts, value, strict=True)):
            return None
        return "[" + ", ".join(p for p in parts if p is not None) + "]"
    if isinstance(value, dict):
        return "{}" if not value else None
    if isinstance(value, Call):
        args = [_inline(a) for a in value.args]
        if any(a is None for a in args):
            return None
        return f"{value.name}(" + ", ".join(a for a in args if a is not None) + ")"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


@dataclass
class _Line:
    indent: int
    lead: str
    assign: str | None = None  # the text after "=" of a one-line attribute


def _value_lines(lead: str, value: Any, indent: int, suffix: str = "") -> list[_Line]:
    """Lines of ``lead`` followed by a multi-line value (lead is 'key =' or '')."""
    opener = f"{lead} " if lead else ""
    if isinstance(value, Call):
        *head, last = value.args
        before = [_inline(a) for a in head]
        if any(b is None for b in before):
            raise ValueError(f"only the last argument of {value.name}() may span lines")
        inner = _value_lines("", last, indent)
        start = "".join(f"{b}, " for b in before if b is not None)
        return [_Line(indent, f"{opener}{value.name}({start}{inner[0].lead}"), *inner[1:-1],
                _Line(indent, f"{inner[-1].lead}){suffix}")]
    if isinstance(value, dict):
        lines = [_Line(indent, f"{opener}{{")]
        for key, item in value.items():
            lines.extend(_attribute(_key(key), item, indent + 1))
        lines.append(_Line(indent, "}" + suffix))
        return lines
    if isinstance(value, list | tuple):
        lines = [_Line(indent, f"{opener}[")]
        for item in value:
            text = _inline(item)
            if text is not None and not isinstance(item, dict | Call):
                lines.append(_Line(indent + 1, text + ","))
            else:
                lines.extend(_value_lines("", item, indent + 1, ","))
        lines.append(_Line(indent, "]" + suffix))
        return lines
    raise TypeError(f"cannot write {type(value).__name__} as HCL")


def _attribute(key: str, value: Any, indent: int) -> list[_Line]:
    text = _inline(value)
    long_list = isinstance(value, list | tuple) and len(value) > 1 and text is not None and (
        2 * indent + len(key) + 3 + len(text) > 100)
    if text is not None and not long_list:
        return [_Line(indent, key, text)]
    return _value_lines(f"{key} =", value, indent)


def _is_blocks(value: Any) -> bool:
    return isinstance(value, Block) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, Block) for v in value))


def _comment(text: str, indent: int) -> list[_Line]:
    """Comment lines wrapped at 100 columns; lines that start with spaces are kept as written."""
    lines = []
    for line in text.splitlines():
        if not line or line[0].isspace():
            lines.append(_Line(indent, f"#{line}" if line else "#"))
            continue
        for part in textwrap.wrap(line, 98 - 2 * indent, break_long_words=False,
                                  break_on_hyphens=False):
            lines.append(_Line(indent, f"# {part}"))
    return lines


def _block_lines(blk: Block, indent: int) -> list[_Line]:
    lines = _comment(blk.comment, indent)
    labels = "".join(f" {quote(label)}" for label in blk.labels)
    body = list(blk.body.items())
    if not body:
        return [*lines, _Line(indent, f"{blk.type}{labels} {{}}")]
    lines.append(_Line(indent, f"{blk.type}{labels} {{"))
    previous = ""
    for key, value in body:
        if not _IDENT.match(key):
            raise ValueError(f"{key!r} is not an HCL identifier")
        if _is_blocks(value):
            for nested in value if isinstance(value, list) else [value]:
                if previous:
                    lines.append(_Line(0, ""))
                lines.extend(_block_lines(Block(key, nested.labels, nested.body, nested.comment),
                                          indent + 1))
                previous = "block"
            continue
        if previous == "block":
            lines.append(_Line(0, ""))
        lines.extend(_attribute(key, value, indent + 1))
        previous = "attr"
    lines.append(_Line(indent, "}"))
    return lines


def _format(lines: list[_Line]) -> str:
    """Align the '=' of consecutive one-line attributes as terraform fmt does."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].assign is None:
            line = lines[i]
            out.append(("  " * line.indent + line.lead) if line.lead else "")
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].assign is not None:
            j += 1
        width = max(2 * ln.indent + len(ln.lead) for ln in lines[i:j])
        for ln in lines[i:j]:
            lead = "  " * ln.indent + ln.lead
            out.append(f"{lead.ljust(width)} = {ln.assign}")
        i = j
    return "\n".join(out) + "\n"


def hcl(items: Iterable[Block | str]) -> str:
    """Top-level blocks separated by one blank line; a ``str`` item is a comment paragraph."""
    lines: list[_Line] = []
    for item in items:
        if lines:
            lines.append(_Line(0, ""))
        if isinstance(item, str):
            lines.extend(_comment(item, 0))
        else:
            lines.extend(_block_lines(item, 0))
    return _format(lines)


def tf_file(stack: Stack, what_to_edit: str, items: Iterable[Block | str]) -> str:
    body = hcl(items)
    return header(stack, "#", what_to_edit) + ("\n" + body if body.strip() else "")


# --------------------------------------------------------------------------- stack helpers


def label(name: str) -> str:
    """A Terraform resource label from a stack name ('kv-store' -> 'kv_store')."""
    out = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return out if out and not out[0].isdigit() else f"r_{out}"


def region_for(stack: Stack, cloud: str) -> str:
    if cloud in stack.regions:
        return stack.regions[cloud]
    if stack.region and stack.provider == cloud:
        return stack.region
    return DEFAULT_REGIONS[cloud]


def terraform_block(provider: str, source: str, version: str,
                    extra: Mapping[str, tuple[str, str]] | None = None) -> Block:
    providers: dict[str, Any] = {provider: {"source": source, "version": version}}
    for name, (src, ver) in (extra or {}).items():
        providers[name] = {"source": src, "version": ver}
    return Block("terraform", (), {"required_version": ">= 1.5.0",
                                   "required_providers": block(providers)})


def container_services(stack: Stack) -> list[tuple[str, Service]]:
    """Services that run on machines or in the cluster (serverless ones render elsewhere)."""
    return [(n, s) for n, s in stack.services.items() if s.runtime == "container"]


def self_hosted(stack: Stack) -> list[tuple[str, Component]]:
    """Components that run on machines of their own: not managed, not colocated, not nginx."""
    return [(n, c) for n, c in stack.components.items()
            if c.colocate_with is None and c.kind != "nginx"
            and not (c.managed and c.kind in ("redis", "postgres", "mysql", "rabbitmq"))]


def managed(stack: Stack, *kinds: str) -> list[tuple[str, Component]]:
    return [(n, c) for n, c in stack.components.items() if c.managed and c.kind in kinds]


def secret_names(stack: Stack) -> list[str]:
    """Every ``${SECRET:name}`` the services reference, sorted, each once."""
    names: set[str] = set()
    for svc in stack.services.values():
        names.update(split_env(svc.env)[1].values())
    return sorted(names)


def bucket_names(stack: Stack) -> list[tuple[str, bool, bool]]:
    """(bucket, versioning, private) for every bucket; a 'backups' one when usage stores data."""
    out = []
    for name, bucket in stack.buckets.items():
        versioning = bucket.versioning if "versioning" in bucket.model_fields_set else True
        out.append((name, versioning, bucket.access_policy == "private"))
    if stack.usage.object_storage_gb > 0 and "backups" not in stack.buckets:
        out.append(("backups", True, True))
    return out


def cpu_of(spec: Service | Component) -> Decimal:
    return parse_cpu(spec.cpu, "cpu")


def memory_gb(spec: Service | Component) -> Decimal:
    return parse_size_gb(spec.memory, "memory")


def disk_gb(svc: Service, default: int = 30) -> int:
    if svc.disk is None:
        return default
    return max(default, math.ceil(parse_size_gb(svc.disk, "disk")))


def storage_gb(comp: Component, default: int = 20) -> int:
    if comp.storage is None:
        return default
    return max(default, math.ceil(parse_size_gb(comp.storage, "storage")))


def pick_size(sizes: Iterable[tuple[str, float, float]], cpu: Decimal, mem: Decimal) -> str:
    """The first (name, vcpus, GiB) that holds ``cpu`` and ``mem``; else the largest."""
    options = list(sizes)
    for name, vcpus, gib in options:
        if vcpus >= cpu and gib >= mem:
            return name
    return options[-1][0]


@dataclass(frozen=True)
class NodeSizing:
    """Cluster nodes sized from the services: one machine type, counts from the replicas."""

    instance_type: str
    min_nodes: int
    max_nodes: int
    desired: int
    disk_gb: int


def node_sizing(stack: Stack, cloud: str, sizes: Sequence[tuple[str, float, float]]
                ) -> NodeSizing:
    """Nodes that hold every replica: the largest explicit or fitting machine type, and one
    node per replica (min/max), which is how seed 003 sizes its EKS node group."""
    workloads: list[tuple[Service | Component, int, int]] = [
        (svc, max(svc.replicas.min, 1), svc.replicas.max) for _, svc in container_services(stack)]
    workloads += [(comp, comp.replicas, comp.replicas) for _, comp in self_hosted(stack)]
    explicit = [t for t in (w.instance_for(cloud) for w, _, _ in workloads) if t]
    cpu = max((cpu_of(w) for w, _, _ in workloads), default=Decimal(1))
    mem = max((memory_gb(w) for w, _, _ in workloads), default=Decimal(2))
    instance = explicit[0] if explicit else pick_size(sizes, cpu, mem)
    low = max(1, sum(lo for _, lo, _ in workloads))
    high = max(low, sum(hi for _, _, hi in workloads))
    disk = max([50] + [disk_gb(s) for s, _, _ in workloads if isinstance(s, Service)])
    return NodeSizing(instance, low, high, low, disk)


def ceil_to(value: int, allowed: Iterable[int]) -> int:
    """The smallest allowed value >= ``value`` (or the largest allowed)."""
    options = sorted(allowed)
    return next((v for v in options if v >= value), options[-1])


def notifications(stack: Stack) -> dict[str, list[str]]:
    """Alert channels by kind (email, webhook, sns, slack), in the order written."""
    out: dict[str, list[str]] = {"email": [], "webhook": [], "sns": [], "slack": []}
    for channel in stack.cloud.monitoring.alert_notifications:
        kind, _, target = channel.partition(":")
        out[kind].append(target)
    return out


def cpu_target(svc: Service) -> float:
    """The CPU % to hold replicas at: the scaling target when it is CPU-based, else 70."""
    if svc.scaling and svc.scaling.metric == "cpu_utilization":
        return svc.scaling.target
    return 70.0


def files(stack: Stack, versions: list[Block | str], variables: list[Block | str],
          main: list[Block | str], outputs: list[Block | str], cloud: str) -> Files:
    """The four files of a Terraform root module, each with its header."""
    edit = (f"Per-environment values belong in a terraform.tfvars next to these files "
            f"(see variables.tf); set secret values with the {cloud} CLI, never here.")
    serverless = [n for n, s in stack.services.items() if s.runtime == "serverless"]
    if serverless:
        main = [f"Serverless services ({', '.join(serverless)}) are not here: see the 'lambda' "
                "render target.", *main]
    return {
        "versions.tf": tf_file(stack, edit, versions),
        "variables.tf": tf_file(stack, edit, variables),
        "main.tf": tf_file(stack, edit, main),
        "outputs.tf": tf_file(stack, edit, outputs),
    }
