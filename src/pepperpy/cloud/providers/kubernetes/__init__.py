"""Any Kubernetes cluster reached through a kubeconfig context."""

from __future__ import annotations

from typing import Any

from pepperpy.cloud.providers.base import Capability, CloudProvider
from pepperpy.cloud.providers.registry import register


@register("kubernetes", "k8s")
class KubernetesProvider(CloudProvider):
    name = "kubernetes"
    display_name = "Kubernetes"
    default_region = "cluster"
    capabilities_map = {"price": Capability(True, "priced as the price_as cloud's nodes")}

    def __init__(self, context: str | None = None, *, namespace: str = "default",
                 kubeconfig: str | None = None, price_as: str = "aws", **options: Any) -> None:
        super().__init__(options.pop("region", None), **options)
        self.context = context
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.price_as = price_as

    @property
    def pricing_provider(self) -> str:
        return self.price_as
