"""The pricing agent: a question in, a structured :class:`Answer` out, every figure from the catalog.

Offline by default (parser + read-only tools). With an LLM configured the same
tools are offered through tool calling; a timeout, an open circuit breaker, a
refused tool or a figure the tools did not produce all fall back to the
offline answer (seed 002's graceful degradation).
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import TYPE_CHECKING

from pepperpy.cloud.agent.answer import Answer, cite
from pepperpy.cloud.errors import InputError

if TYPE_CHECKING:
    from pepperpy.cloud.agent.llm import LLMClient
    from pepperpy.cloud.catalog.store import Catalog

MAX_QUESTION = 2000
_SPACES = re.compile(r"\s+")


def sanitize(question: object) -> str:
    """Drop control and format characters, collapse whitespace; refuse empty or over-long input."""
    if not isinstance(question, str):
        raise InputError("question", f"must be text, got {type(question).__name__}")
    if len(question) > MAX_QUESTION:
        raise InputError("question", f"{len(question)} characters is over the {MAX_QUESTION}-character limit",
                         hint="ask a shorter question")
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in question)
    text = _SPACES.sub(" ", kept).strip()
    if not text:
        raise InputError("question", "is empty; ask e.g. 'cheapest GPU with at least 24 GB in a US region'")
    return text


class Agent:
    """``Agent(catalog=None, llm=None).ask(question) -> Answer``.

    ``catalog`` defaults to the bundled snapshot plus the user's cache; ``llm``
    defaults to the one configured by ``PEPPERPY_LLM_*`` environment variables,
    or none (offline). Pass ``llm=False`` to force offline answers.
    """

    def __init__(self, catalog: Catalog | None = None, llm: LLMClient | bool | None = None) -> None:
        from pepperpy.cloud.agent.tools import ToolContext
        from pepperpy.cloud.catalog.store import default_catalog

        self.catalog = catalog if catalog is not None else default_catalog()
        self.context = ToolContext(self.catalog)
        if llm is None:
            from pepperpy.cloud.agent.llm import client_from_env

            llm = client_from_env()
        self.llm: LLMClient | None = llm if llm not in (None, False, True) else None  # type: ignore[assignment]

    def ask(self, question: str) -> Answer:
        """Answer one question; raises InputError only for empty, non-text or over-long input."""
        start = time.perf_counter()
        text = sanitize(question)
        answer = self._offline(text)
        if self.llm is not None:
            from pepperpy.cloud.agent.llm import answer_with_llm

            answer = answer_with_llm(self.llm, text, self.context, fallback=answer)
        answer.duration_ms = round((time.perf_counter() - start) * 1000, 3)
        return answer

    def _offline(self, text: str) -> Answer:
        from pepperpy.cloud.agent.offline import answer_offline
        from pepperpy.cloud.agent.parser import parse

        parsed = parse(text, self.catalog)
        draft = answer_offline(parsed, self.context)
        return Answer(question=text, text=draft.text, table=draft.table, citations=cite(draft.rows),
                      tools_used=list(dict.fromkeys(draft.tools)), source="offline", unknown=draft.unknown)
