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
    capabilities_map = {"price": Capability(True, "priced as the price_as cloud")}

    def __init__(self, region: str | None = None, *, price_as: str = "aws",
                 price_region: str | None = None, **options: Any) -> None:
        super().__init__(region, **options)
        self.price_as = price_as
        self.price_region = price_region

    @property
    def pricing_provider(self) -> str:
        return self.price_as
