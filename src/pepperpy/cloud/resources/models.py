"""What a user asks for (the resource descriptions) and what they get back (a :class:`Resource`).

The descriptions are seed 000's ``StorageResource``, ``DatabaseResource`` and
``ComputeResource``: validated pydantic models, so a typo arrives as a
:class:`~pepperpy.cloud.errors.SpecError` naming the field instead of a late
failure half-way through provisioning. Names follow the strictest rule among
the targets (an S3 bucket needs 3-63 characters, an RDS identifier must start
with a letter), so a name accepted here is accepted by every provider.

A :class:`Resource` is the handle ``create_resource`` returns. A database's
``connection_string`` carries its password in clear because seed 000's complete
example passes it straight into the application's configuration
(``"source": vector_db.connection_string``); the handle's ``repr`` and
``to_dict`` redact it so that printing or logging a handle never leaks it.
:class:`ResourceRecord` is what the record store keeps: never a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from pepperpy.cloud.errors import InputError, PepperpyCloudError
from pepperpy.cloud.spec.base import ConfigModel
from pepperpy.cloud.spec.quantities import parse_cpu, parse_size_gb

NAME_RULE = "3-63 lowercase letters, digits or '-', starting with a letter and not ending with '-'"
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d{1,3}(\.\d{1,3})?$")


class ResourceError(PepperpyCloudError):
    """Provisioning, starting or removing a resource failed; the message says which step and why."""

    exit_code = 1
    http_status = 502


def _check_quantity(parse: Any, value: Any, what: str) -> Any:
    try:
        parse(value, what)
    except InputError as exc:
        raise ValueError(exc.problem) from None
    return value


def _text(value: Any) -> Any:
    """Let users write ``cpu=1`` or ``version=14``: numbers become the text the field stores."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class ResourceSpec(ConfigModel):
    """Fields every resource description has; ``kind`` groups the types a backend dispatches on."""

    kind: ClassVar[str] = "resource"

    name: str
    type: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid resource name; use {NAME_RULE}")
        return value


class StorageResource(ResourceSpec):
    """``StorageResource(name="pepperpy-data", type="object_storage", size="100Gi", access_policy="private")``."""

    kind: ClassVar[str] = "storage"

    type: Literal["object_storage"] = "object_storage"
    size: str | int | None = Field(None, description="expected size; a quota where the target has one")
    access_policy: Literal["private", "public-read"] = "private"
    versioning: bool = False

    @field_validator("size")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return value if value is None else _check_quantity(parse_size_gb, value, "size")


class DatabaseResource(ResourceSpec):
    """``DatabaseResource(name=..., type="postgres", version="14", extensions=["pgvector"], size="small")``."""

    kind: ClassVar[str] = "database"

    type: Literal["postgres"] = "postgres"
    version: str = "14"
    extensions: list[str] = Field(default_factory=list)
    size: Literal["small", "medium", "large", "xlarge"] = "small"
    storage: str | int | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"{value!r} is not a PostgreSQL version; write a major version like '14' or '16'")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        # Extension names end up in CREATE EXTENSION: only plain identifiers are accepted.
        for ext in value:
            if not _IDENTIFIER.match(ext):
                raise ValueError(f"{ext!r} is not an extension name (lowercase letters, digits, '_')")
        return list(dict.fromkeys(value))

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        return value if value is None else _check_quantity(parse_size_gb, value, "storage")


class ComputeResource(ResourceSpec):
    """``ComputeResource(name=..., type="serverless", memory="2Gi", cpu="1", timeout_seconds=300)``.

    ``entry_point`` is a Python file (relative to ``source_dir``) run once per
    invocation; without it the resource is reserved capacity with nothing to run yet.
    """

    kind: ClassVar[str] = "compute"

    type: Literal["serverless"] = "serverless"
    memory: str = "2Gi"
    cpu: str = "1"
    timeout_seconds: int = Field(300, ge=1, le=3600)
    entry_point: str | None = None
    source_dir: str | None = None

    @field_validator("memory", "cpu", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        _check_quantity(parse_size_gb, value, "memory")
        if parse_size_gb(value, "memory") <= 0:
            raise ValueError(f"{value!r} must be more than 0")
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        _check_quantity(parse_cpu, value, "cpu")
        if parse_cpu(value, "cpu") <= 0:
            raise ValueError(f"{value!r} must be more than 0")
        return value

    @field_validator("entry_point")
    @classmethod
    def _entry_point(cls, value: str | None) -> str | None:
        if value is not None and (not value.endswith(".py") or value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"{value!r} must be a .py file inside source_dir, like 'handler.py'")
        return value


AnyResourceSpec = StorageResource | DatabaseResource | ComputeResource
SPEC_TYPES: dict[str, type[ResourceSpec]] = {
    "object_storage": StorageResource,
    "postgres": DatabaseResource,
    "serverless": ComputeResource,
}


def spec_from_dict(data: dict[str, Any]) -> ResourceSpec:
    """Rebuild a description from a stored record (the ``type`` field picks the class)."""
    cls = SPEC_TYPES.get(str(data.get("type")))
    if cls is None:
        raise InputError("type", f"unknown resource type {data.get('type')!r}; use one of {', '.join(SPEC_TYPES)}")
    return cls(**data)


def redact_url(url: str | None) -> str | None:
    """The URL with its password replaced by ``***``: for repr, logs and status output."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ResourceRecord:
    """What the record store keeps about one resource. Holds no secret, so it may be shown."""

    name: str
    type: str
    provider: str
    spec: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "provider": self.provider, "spec": self.spec,
                "details": self.details, "created_at": self.created_at, "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceRecord:
        return cls(name=data["name"], type=data["type"], provider=data["provider"], spec=dict(data["spec"]),
                   details=dict(data.get("details") or {}), created_at=data.get("created_at") or utc_now(),
                   updated_at=data.get("updated_at") or utc_now())


@dataclass(frozen=True, repr=False)
class Resource:
    """The handle ``create_resource``, ``get`` and ``list_resources`` return.

    ``status`` is read when the handle is made (``list_resources`` makes fresh
    ones). ``url`` is set for storage, ``connection_string`` for databases (with
    the password: see the module docstring), ``endpoint`` for compute once it
    serves requests over HTTP.
    """

    name: str
    type: str
    status: str
    provider: str
    url: str | None = None
    connection_string: str | None = None
    endpoint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        """Plain data for JSON output; the password is redacted unless ``reveal`` is asked for."""
        conn = self.connection_string if reveal else redact_url(self.connection_string)
        return {"name": self.name, "type": self.type, "status": self.status, "provider": self.provider,
                "url": self.url, "connection_string": conn, "endpoint": self.endpoint, "details": dict(self.details)}

    def __repr__(self) -> str:
        fields = [f"name={self.name!r}", f"type={self.type!r}", f"status={self.status!r}"]
        if self.url:
            fields.append(f"url={self.url!r}")
        if self.connection_string:
            fields.append(f"connection_string={redact_url(self.connection_string)!r}")
        if self.endpoint:
            fields.append(f"endpoint={self.endpoint!r}")
        return f"Resource({', '.join(fields)})"

    __str__ = __repr__
