"""Managed AI endpoints (seed 000 "Serviços Gerenciados de IA"): ManagedAIService, ModelDeployment, EndpointConfig.

Imported lazily like :mod:`pepperpy.cloud`, so ``import pepperpy.cloud.ai`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "EndpointBusyError": "pepperpy.cloud.ai.backends.base",
    "EndpointConfig": "pepperpy.cloud.ai.config",
    "EndpointError": "pepperpy.cloud.ai.backends.base",
    "EndpointTimeoutError": "pepperpy.cloud.ai.backends.base",
    "EndpointUnreachableError": "pepperpy.cloud.ai.backends.base",
    "GenerationResult": "pepperpy.cloud.ai.backends.base",
    "ManagedAIService": "pepperpy.cloud.ai.service",
    "ModelDeployment": "pepperpy.cloud.ai.service",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from pepperpy.cloud.ai.backends.base import (  # noqa: F401
        EndpointBusyError,
        EndpointError,
        EndpointTimeoutError,
        EndpointUnreachableError,
        GenerationResult,
    )
    from pepperpy.cloud.ai.config import EndpointConfig  # noqa: F401
    from pepperpy.cloud.ai.service import ManagedAIService, ModelDeployment  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pepperpy.cloud.ai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
