"""ARM request for the stack's Azure Container Registry, where images built from source are pushed.

Basic SKU, admin user off (the container apps pull with their managed identity),
anonymous pull off. This tool builds no images (no Docker engine here): deploy
results carry the ``az acr login`` / ``docker build`` / ``docker push`` commands.
"""

from __future__ import annotations

from pepperpy.cloud.providers.azure.arm import ArmRequest
from pepperpy.cloud.providers.azure.naming import AzureTarget, check_region, container_registry

API_REGISTRY = "2023-07-01"
REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"


def login_server(stack: str) -> str:
    return f"{container_registry(stack)}.azurecr.io".lower()


def image(stack: str, service: str, version: str) -> str:
    """``<acr>.azurecr.io/<stack>/<service>:<version>``: where a source-built service's image goes."""
    return f"{login_server(stack)}/{stack}/{service}:{version}"


def registry(target: AzureTarget) -> ArmRequest:
    """PUT the stack's container registry."""
    check_region(target.location, "Container Registry")
    name = container_registry(target.stack)
    body = {"location": target.location, "tags": target.tags, "sku": {"name": "Basic"},
            "properties": {"adminUserEnabled": False, "anonymousPullEnabled": False}}
    return ArmRequest("PUT", target.provider_path(REGISTRY_TYPE, name), API_REGISTRY, body,
                      "create container registry", name)
