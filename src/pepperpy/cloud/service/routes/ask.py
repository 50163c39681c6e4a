"""/v1/ask: plain-language pricing questions answered by the agent, cached (LRU, then Redis)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.service.errors import UnavailableError
from pepperpy.cloud.service.models import ERROR_RESPONSES, AskRequest, ErrorOut
from pepperpy.cloud.service.state import authorize, cached_json, service

router = APIRouter(prefix="/v1", tags=["agent"], dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)
_SPACES = re.compile(r"\s+")


def _agent(request: Request) -> Any:
    """One agent per app, built on first use (the agent module may be heavy, or not there yet)."""
    extras = service(request).extras
    if "agent" not in extras:
        try:
            from pepperpy.cloud.agent import Agent

            extras["agent"] = Agent()
        except ImportError as exc:
            raise UnavailableError("the pricing agent is not available in this installation",
                                   hint=f"{type(exc).__name__}: {exc}") from None
    return extras["agent"]


@router.post("/ask", response_model=dict[str, Any], summary="Ask a pricing question",
             responses={503: {"model": ErrorOut, "description": "the agent is not available"}})
async def ask(body: AskRequest, request: Request) -> Response:
    """The agent's answer (``Answer.model_dump(mode="json")``); every figure cites a catalog row."""
    question = _SPACES.sub(" ", body.question).strip()
    limit = service(request).settings.max_question_chars
    if not question:
        raise InputError("question", "is empty")
    if len(question) > limit:
        raise InputError("question", f"is longer than {limit} characters")
    agent = _agent(request)

    async def compute() -> dict[str, Any]:
        answer = await run_in_threadpool(agent.ask, question)
        data: dict[str, Any] = answer.model_dump(mode="json")
        tools = data.get("tools_used")
        if isinstance(tools, list):
            request.state.tools_used = tools
        return data

    return await cached_json(request, "ask", {"question": question}, compute)
