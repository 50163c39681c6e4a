"""The OpenAI HTTP API as vLLM, llama.cpp's server, Ollama and Azure OpenAI speak it: pure request builders + parsers.

Only ``/models`` and ``/chat/completions`` are used: every one of those servers
implements both, and chat applies the model's own prompt template (raw
``/completions`` would not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pepperpy.cloud.ai.backends.base import EndpointError, GenerationResult, HTTPRequest
from pepperpy.cloud.errors import InputError

#: generate() keyword arguments passed on (``system`` becomes a system message).
PARAMS = ("temperature", "top_p", "stop", "seed", "system")


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def models_request(base_url: str, api_key: str | None = None) -> HTTPRequest:
    """``GET <base>/models``: what the server serves."""
    return HTTPRequest("GET", f"{base_url}/models", headers=auth_headers(api_key))


def messages(prompt: str, options: Mapping[str, Any]) -> list[dict[str, str]]:
    system = options.get("system")
    return ([{"role": "system", "content": str(system)}] if system else []) + [{"role": "user", "content": prompt}]


def check_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(PARAMS))
    if unknown:
        raise InputError(unknown[0], f"unknown generate() parameter; allowed: {', '.join(PARAMS)}")


def chat_body(model: str | None, prompt: str, max_tokens: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions body; ``model`` is None for Azure, where the URL names the deployment."""
    check_options(options)
    body: dict[str, Any] = {"messages": messages(prompt, options), "max_tokens": max_tokens, "stream": False}
    if model is not None:
        body = {"model": model, **body}
    body.update({k: v for k, v in options.items() if k != "system" and v is not None})
    return body


def chat_request(base_url: str, model: str, prompt: str, max_tokens: int, api_key: str | None = None,
                 options: Mapping[str, Any] | None = None) -> HTTPRequest:
    """``POST <base>/chat/completions`` with one user message."""
    return HTTPRequest("POST", f"{base_url}/chat/completions", chat_body(model, prompt, max_tokens, options or {}),
                       headers=auth_headers(api_key))


def model_ids(data: Any) -> list[str]:
    """Model ids from a ``/models`` answer (OpenAI's ``data``; Ollama's older ``models`` too)."""
    items = (data.get("data") or data.get("models") or []) if isinstance(data, dict) else []
    ids = [str(m.get("id") or m.get("name") or m.get("model")) for m in items if isinstance(m, dict)]
    return [i for i in ids if i and i != "None"]


def parse_chat(data: Any, what: str) -> GenerationResult:
    """A GenerationResult from a chat-completions answer, or EndpointError naming what is missing."""
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"{what} answered without choices[0].message; is it an OpenAI-compatible "
                            "chat-completions API?") from None
    usage = data.get("usage") or {}
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return GenerationResult(text=text, model=str(data.get("model") or ""),
                            usage={k: int(usage[k]) for k in keys if isinstance(usage.get(k), int)},
                            finish_reason=choice.get("finish_reason"))
