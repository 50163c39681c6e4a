"""This machine: the embedded default target.

Local deployments cost nothing to run here; for estimates they are priced as
the cloud the user names in ``price_as`` (default AWS), so the figure answers
"what would this cost once shipped".
"""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("local", "embedded")
class LocalProvider(CloudProvider):
    name = "local"
    display_name = "local machine"
    default_region = "local"
    capabilities_map = {
        "price": Capability(True, "priced as the price_as cloud"),
        "deploy": Capability(True, "replicas under supervisord behind a local load balancer"),
        "scale": Capability(True),
        "secrets": Capability(True, "encrypted local secret store"),
        "resources": Capability(True, "embedded PostgreSQL, directory buckets, on-demand workers"),
    }

    def __init__(self, region: str | None = None, *, price_as: str = "aws",
                 price_region: str | None = None, **options: Any) -> None:
        super().__init__(region, **options)
        self.price_as = price_as
        self.price_region = price_region

    @property
    def pricing_provider(self) -> str:
        return self.price_as

    def deploy_stack(self, stack: Any, *, stack_dir: Any, progress: Any = None) -> Any:
        """Run every container service of ``stack`` here; returns one result per deployment."""
        from pathlib import Path

        from pepperpy.cloud.providers.local.runtime import LocalRuntime

        return LocalRuntime(progress=progress).deploy(stack, stack_dir=Path(stack_dir))

    def resources(self) -> Any:
        """The local resource backend used by ResourceManager."""
        from pepperpy.cloud.providers.local.resources import LocalResources

        return LocalResources(self)
