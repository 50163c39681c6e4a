"""The pricing agent (issue 7): plain-language pricing questions answered from the catalog.

``Agent().ask("cheapest GPU with at least 24 GB in a US region")`` returns an
:class:`Answer` (text, table, cited catalog rows, tools used). Imports are lazy
so ``import pepperpy.cloud.agent`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pepperpy.cloud.agent.agent import Agent
    from pepperpy.cloud.agent.answer import Answer

__all__ = ["Agent", "Answer"]


def __getattr__(name: str) -> Any:
    if name == "Agent":
        from pepperpy.cloud.agent.agent import Agent

        return Agent
    if name == "Answer":
        from pepperpy.cloud.agent.answer import Answer

        return Answer
    raise AttributeError(f"module 'pepperpy.cloud.agent' has no attribute {name!r}")
