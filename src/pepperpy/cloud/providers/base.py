"""The CloudProvider contract every target implements, and what each can and cannot do.

Like Apache Libcloud's drivers: one small base class, one subclass per target,
registered by name. A provider states up front which operations it supports,
with a reason for each one it does not, instead of failing late. Credentials
are held as secrets: never shown by ``repr``, ``str`` or ``describe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pepperpy.cloud.errors import NotSupportedError

OPERATIONS = ("price", "deploy", "scale", "resources", "secrets", "monitor", "actual_costs",
              "managed_ai")


class Secret:
    """A credential value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Capability:
    supported: bool
    reason: str = ""


class CloudProvider:
    """Base of every provider: a name, a region, redacted credentials and capabilities."""

    name: ClassVar[str] = "base"
    display_name: ClassVar[str] = "provider"
    default_region: ClassVar[str] = ""
    capabilities_map: ClassVar[Mapping[str, Capability]] = {}

    def __init__(self, region: str | None = None, *, credentials: Mapping[str, Any] | None = None,
                 endpoint_url: str | None = None, **options: Any) -> None:
        self.region = region or self.default_region
        self.credentials = {k: Secret(str(v)) if v is not None else None
                            for k, v in (credentials or {}).items()}
        self.endpoint_url = endpoint_url
        self.options = options

    @property
    def pricing_provider(self) -> str:
        """Which cloud's price list prices this provider's resources."""
        return self.name

    def capabilities(self) -> dict[str, Capability]:
        return {op: self.capabilities_map.get(op, Capability(False, "not implemented yet"))
                for op in OPERATIONS}

    def require(self, operation: str) -> None:
        cap = self.capabilities().get(operation, Capability(False, "unknown operation"))
        if not cap.supported:
            raise NotSupportedError(f"{self.display_name} cannot {operation}: {cap.reason}")

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "region": self.region, "endpoint_url": self.endpoint_url,
                "credentials": {k: "***" for k, v in self.credentials.items() if v is not None}}

    def __repr__(self) -> str:
        creds = ", credentials=***" if any(self.credentials.values()) else ""
        return f"{type(self).__name__}(region={self.region!r}{creds})"
