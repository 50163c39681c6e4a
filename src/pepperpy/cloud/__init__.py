"""PepperPy Cloud: price, ship and watch AI/RAG applications.

The public API of seed 000, imported lazily so that ``import pepperpy.cloud``
and the CLI start fast; each name loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CloudProvider": "pepperpy.cloud.providers.base",
    "AWSProvider": "pepperpy.cloud.providers.aws",
    "AzureProvider": "pepperpy.cloud.providers.azure",
    "GCPProvider": "pepperpy.cloud.providers.gcp",
    "LocalProvider": "pepperpy.cloud.providers.local",
    "KubernetesProvider": "pepperpy.cloud.providers.kubernetes",
    "CostEstimator": "pepperpy.cloud.cost.estimator",
    "ResourceManager": "pepperpy.cloud.resources.manager",
    "StorageResource": "pepperpy.cloud.resources.models",
    "DatabaseResource": "pepperpy.cloud.resources.models",
    "ComputeResource": "pepperpy.cloud.resources.models",
    "Resource": "pepperpy.cloud.resources.models",
    "CloudDeployment": "pepperpy.cloud.deploy.deployment",
    "CloudManager": "pepperpy.cloud.deploy.deployment",
    "DeploymentConfig": "pepperpy.cloud.spec.deployment",
    "ScalingConfig": "pepperpy.cloud.spec.deployment",
    "CloudConfig": "pepperpy.cloud.spec.cloud_config",
    "NetworkConfig": "pepperpy.cloud.spec.cloud_config",
    "SecurityConfig": "pepperpy.cloud.spec.cloud_config",
    "MonitoringConfig": "pepperpy.cloud.spec.cloud_config",
    "CostOptimizationConfig": "pepperpy.cloud.spec.cloud_config",
    "Estimate": "pepperpy.cloud.cost.model",
    "LineItem": "pepperpy.cloud.cost.model",
    "Catalog": "pepperpy.cloud.catalog.store",
    "PriceRow": "pepperpy.cloud.catalog.row",
    "InstanceQuery": "pepperpy.cloud.catalog.query",
    "Stack": "pepperpy.cloud.spec.stack",
    "ManagedAIService": "pepperpy.cloud.ai.service",
    "ModelDeployment": "pepperpy.cloud.ai.service",
    "EndpointConfig": "pepperpy.cloud.ai.config",
    "CloudMonitor": "pepperpy.cloud.monitor.monitor",
    "TimeRange": "pepperpy.cloud.monitor.timerange",
    "PepperpyCloudError": "pepperpy.cloud.errors",
    "InputError": "pepperpy.cloud.errors",
    "NotFoundError": "pepperpy.cloud.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from pepperpy.cloud.ai.config import EndpointConfig
    from pepperpy.cloud.ai.service import ManagedAIService, ModelDeployment
    from pepperpy.cloud.catalog.query import InstanceQuery
    from pepperpy.cloud.catalog.row import PriceRow
    from pepperpy.cloud.catalog.store import Catalog
    from pepperpy.cloud.cost.estimator import CostEstimator
    from pepperpy.cloud.cost.model import Estimate, LineItem
    from pepperpy.cloud.deploy.deployment import CloudDeployment, CloudManager
    from pepperpy.cloud.errors import InputError, NotFoundError, PepperpyCloudError
    from pepperpy.cloud.monitor.monitor import CloudMonitor
    from pepperpy.cloud.monitor.timerange import TimeRange
    from pepperpy.cloud.providers.aws import AWSProvider
    from pepperpy.cloud.providers.azure import AzureProvider
    from pepperpy.cloud.providers.base import CloudProvider
    from pepperpy.cloud.providers.gcp import GCPProvider
    from pepperpy.cloud.providers.kubernetes import KubernetesProvider
    from pepperpy.cloud.providers.local import LocalProvider
    from pepperpy.cloud.resources.manager import ResourceManager
    from pepperpy.cloud.resources.models import ComputeResource, DatabaseResource, Resource, StorageResource
    from pepperpy.cloud.spec.cloud_config import (
        CloudConfig,
        CostOptimizationConfig,
        MonitoringConfig,
        NetworkConfig,
        SecurityConfig,
    )
    from pepperpy.cloud.spec.deployment import DeploymentConfig, ScalingConfig
    from pepperpy.cloud.spec.stack import Stack


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pepperpy.cloud' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
