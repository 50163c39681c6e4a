"""Providers by name: ``@register("aws", "amazon")`` on the class, ``get_provider("aws")`` to use it."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from pepperpy.cloud.errors import NotFoundError
from pepperpy.cloud.providers.base import CloudProvider

P = TypeVar("P", bound=type[CloudProvider])
_PROVIDERS: dict[str, type[CloudProvider]] = {}
_ALIASES: dict[str, str] = {}
_BUILTIN = {
    "aws": "pepperpy.cloud.providers.aws",
    "azure": "pepperpy.cloud.providers.azure",
    "gcp": "pepperpy.cloud.providers.gcp",
    "local": "pepperpy.cloud.providers.local",
    "kubernetes": "pepperpy.cloud.providers.kubernetes",
}


def register(name: str, *aliases: str) -> Callable[[P], P]:
    def decorate(cls: P) -> P:
        _PROVIDERS[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        return cls

    return decorate


def names() -> list[str]:
    return sorted(_BUILTIN)


def provider_class(name: str) -> type[CloudProvider]:
    import importlib

    key = _ALIASES.get(name, name)
    if key not in _PROVIDERS and key in _BUILTIN:
        importlib.import_module(_BUILTIN[key])
    if key not in _PROVIDERS:
        for module in _BUILTIN.values():
            importlib.import_module(module)
        key = _ALIASES.get(name, name)
    if key not in _PROVIDERS:
        raise NotFoundError("provider", name, "provider",
                            suggestions=difflib.get_close_matches(name, names(), 3, 0.3) or names())
    return _PROVIDERS[key]


def get_provider(name: str, **kwargs: Any) -> CloudProvider:
    return provider_class(name)(**kwargs)
