"""The stack file (``pepperpy.yaml``): the declarative twin of the Python API.

A stack names its services (apps from a source dir or an image), its backing
components (vector DB, Redis, PostgreSQL, RabbitMQ, nginx), storage resources
and the usage figures that usage-priced items need. The same models validate
YAML and Python input, so estimate, render and deploy take either.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.spec.cloud_config import CloudConfig
from pepperpy.cloud.spec.quantities import parse_amount, parse_cpu, parse_size_gb
from pepperpy.cloud.spec.secrets import check_env

Provider = Literal["aws", "azure", "gcp", "local", "kubernetes"]
CLOUDS = ("aws", "azure", "gcp")


def _check(parse: Any, value: Any, what: str) -> Any:
    try:
        parse(value, what)
    except InputError as exc:
        raise ValueError(exc.problem) from None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Replicas(_Model):
    min: int = Field(1, ge=0, description="replicas kept running")
    max: int = Field(1, ge=1, description="upper bound for autoscaling")

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Scaling(_Model):
    metric: Literal["cpu_utilization", "memory_utilization", "requests_per_second",
                    "response_time"] = "cpu_utilization"
    target: float = Field(70, gt=0)
    cooldown_seconds: int = Field(300, ge=0)


class Gpu(_Model):
    model: str
    count: int = Field(1, ge=1)


InstanceChoice = str | dict[Literal["aws", "azure", "gcp"], str]


class Sized(_Model):
    """Fields shared by everything that runs: CPU, memory, optional explicit instance type."""

    cpu: str | int | float = "1"
    memory: str | int | float = "2Gi"
    instance_type: InstanceChoice | None = None

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: Any) -> Any:
        return _check(parse_cpu, v, "cpu")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: Any) -> Any:
        return _check(parse_size_gb, v, "memory")

    def instance_for(self, provider: str) -> str | None:
        if isinstance(self.instance_type, dict):
            return self.instance_type.get(provider)  # type: ignore[call-overload]
        return self.instance_type if provider in CLOUDS and self.instance_type else None


class Service(Sized):
    """An app: from a source dir + entry point, or an image."""

    source: str | None = None
    entry_point: str | None = None
    requirements: str | None = "requirements.txt"
    image: str | None = None
    command: list[str] | None = None
    kind: Literal["asgi", "streamlit", "command"] = "asgi"
    runtime: Literal["container", "serverless"] = "container"
    port: int = Field(8000, ge=1, le=65535)
    gpu: Gpu | None = None
    replicas: Replicas = Replicas()
    scaling: Scaling | None = None
    env: dict[str, str] = {}
    health_path: str = "/health"
    readiness_path: str = "/ready"
    disk: str | int | None = None
    additional_files: list[str] = []

    @field_validator("disk")
    @classmethod
    def _disk(cls, v: Any) -> Any:
        return v if v is None else _check(parse_size_gb, v, "disk")

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return check_env(v)

    @field_validator("health_path", "readiness_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or any(c in v for c in " \t\n\"'"):
            raise ValueError(f"{v!r} must be an absolute URL path like /health")
        return v

    @model_validator(mode="after")
    def _origin(self) -> Service:
        if not self.image and not (self.source and self.entry_point) and not self.command:
            raise ValueError("give either image, or source and entry_point, or command")
        return self


ComponentKind = Literal["vector_db", "redis", "postgres", "mysql", "rabbitmq", "nginx"]


class Component(Sized):
    """A backing service; ``managed: true`` maps it to the cloud's managed equivalent."""

    kind: ComponentKind
    engine: str | None = None
    version: str | None = None
    extensions: list[str] = []
    size: Literal["small", "medium", "large", "xlarge"] | None = None
    storage: str | int | None = None
    replicas: int = Field(1, ge=1)
    managed: bool = True
    colocate_with: str | None = Field(None, description="a service whose machine also runs this")
    memory: str | int | float = "1Gi"

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: Any) -> Any:
        return v if v is None else _check(parse_size_gb, v, "storage")


class Bucket(_Model):
    size: str | int = 0
    access_policy: Literal["private", "public-read"] = "private"
    versioning: bool = False

    @field_validator("size")
    @classmethod
    def _size(cls, v: Any) -> Any:
        return _check(parse_size_gb, v, "size")


class Usage(_Model):
    """Monthly figures for usage-priced items."""

    egress_gb: Decimal = Decimal(0)
    requests: Decimal = Decimal(0)
    object_storage_gb: Decimal = Decimal(0)
    lb_data_gb: Decimal = Decimal(0)
    lb_lcu: Decimal = Decimal(0)
    queue_operations: Decimal = Decimal(0)
    queue_data_gb: Decimal = Decimal(0)
    metrics: Decimal = Decimal(0)
    alarms: Decimal = Decimal(0)
    dashboards: Decimal = Decimal(0)

    @field_validator("*", mode="before")
    @classmethod
    def _non_negative(cls, v: Any) -> Any:
        return _check(parse_amount, v, "usage")


class Stack(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
    version: str = Field("0.1.0", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                         description="image tag for services built from source")
    provider: Provider = "local"
    region: str | None = None
    regions: dict[Literal["aws", "azure", "gcp"], str] = Field(
        default_factory=dict, description="region per cloud for estimates on several clouds")
    hosting: Literal["vm", "kubernetes"] = "vm"
    services: dict[str, Service] = Field(default_factory=dict)
    components: dict[str, Component] = Field(default_factory=dict)
    buckets: dict[str, Bucket] = Field(default_factory=dict)
    load_balancer: bool | None = None
    monitoring: bool = True
    usage: Usage = Usage()
    cloud: CloudConfig = CloudConfig()

    @model_validator(mode="after")
    def _has_something(self) -> Stack:
        if not self.services and not self.components:
            raise ValueError("a stack needs at least one service or component")
        for name, comp in self.components.items():
            if comp.colocate_with and comp.colocate_with not in self.services:
                raise ValueError(f"components.{name}.colocate_with: no service named "
                                 f"{comp.colocate_with!r} (services: {', '.join(self.services)})")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> Stack:
        from pepperpy.cloud.spec.loader import read_file, validate

        data, source = read_file(path)
        if not isinstance(data, dict):
            raise InputError(source, "a stack file must be a YAML mapping with name and services")
        return validate(cls, data, source)

    def needs_load_balancer(self) -> bool:
        if self.load_balancer is not None:
            return self.load_balancer
        return any(s.replicas.max > 1 for s in self.services.values()) or any(
            c.kind == "nginx" for c in self.components.values())
