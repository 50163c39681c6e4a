"""Seed 000's managed-AI snippet and the local backend, against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from pepperpy.cloud.ai.backends.base import EndpointBusyError, EndpointTimeoutError, EndpointUnreachableError
from pepperpy.cloud.errors import InputError, NotFoundError, NotSupportedError, SpecError
from tests.ai.conftest import OpenAIServer

SEED_SNIPPET = '''
from pepperpy.cloud import (
    ManagedAIService,
    ModelDeployment,
    EndpointConfig
)

# Configurar serviço gerenciado de IA
ai_service = ManagedAIService(provider=LocalProvider())

# Implantar modelo em serviço gerenciado
model_deployment = ai_service.deploy_model(
    model_id="gpt-4",
    deployment_name="pepperpy-gpt4",
    config=EndpointConfig(
        instance_type="Standard_DS3_v2",
        instance_count=1,
        timeout_ms=30000,
        max_concurrent_requests=10
    )
)

# Usar o modelo implantado
response = model_deployment.generate(
    prompt="Explique como o RAG funciona de forma simples.",
    max_tokens=500
)
print(response.text)

# Listar implantações de modelos
deployments = ai_service.list_deployments()
for deployment in deployments:
    print(f"{deployment.name}: {deployment.status}")

# Excluir implantação
ai_service.delete_deployment("pepperpy-gpt4")
'''


@pytest.fixture
def service(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from pepperpy.cloud import LocalProvider, ManagedAIService

    monkeypatch.setenv("PEPPERPY_AI_BASE_URL", openai_server.url)
    return ManagedAIService(provider=LocalProvider())


def test_seed_000_snippet_runs_as_written(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud import LocalProvider, ManagedAIService

    monkeypatch.setenv("PEPPERPY_AI_BASE_URL", openai_server.url)
    out = io.StringIO()
    scope = {"LocalProvider": LocalProvider}
    with redirect_stdout(out):
        exec(compile(SEED_SNIPPET, "seed000_managed_ai", "exec"), scope)
    assert out.getvalue().splitlines() == ["echo: Explique como o RAG funciona de forma simples.",
                                           "pepperpy-gpt4: ready"]
    sent = openai_server.requests[0]
    assert sent["model"] == "gpt-4" and sent["max_tokens"] == 500
    assert sent["messages"] == [{"role": "user", "content": "Explique como o RAG funciona de forma simples."}]
    assert ManagedAIService(provider=LocalProvider()).list_deployments() == []
    response = scope["response"]
    assert response.usage == {"prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17}  # type: ignore[attr-defined]
    assert response.finish_reason == "stop" and response.latency_ms > 0  # type: ignore[attr-defined]


def test_endpoint_config_errors_name_the_field() -> None:
    from pepperpy.cloud import EndpointConfig

    cases = {"timeout_ms": {"timeout_ms": 0}, "max_concurrent_requests": {"max_concurrent_requests": "lots"},
             "instance_count": {"instance_count": -1}, "api_key": {"api_key": "sk-live-1234567890"},
             "endpoint_url": {"endpoint_url": "localhost:8000"}, "max_instance_count": {"instance_count": 3,
                                                                                     "max_instance_count": 2},
             "max_concurrent": {"max_concurrent": 3}}
    for field, kwargs in cases.items():
        with pytest.raises(SpecError) as err:
            EndpointConfig(**kwargs)
        assert str(err.value).startswith(f"EndpointConfig: {field}:"), str(err.value)
    assert "sk-live" not in str(SpecError)
    assert EndpointConfig(api_key="${SECRET:llm-key}").api_key == "${SECRET:llm-key}"


def test_concurrency_limit_holds_server_side(service, openai_server: OpenAIServer) -> None:  # type: ignore[no-untyped-def]
    from pepperpy.cloud import EndpointConfig

    openai_server.delay = 0.3
    deployment = service.deploy_model("gpt-4", "limited", EndpointConfig(max_concurrent_requests=2, timeout_ms=10_000))
    twin = service.get_deployment("limited")  # another object for the same endpoint shares the slots
    results: list[object] = []

    def call(target: object, i: int) -> None:
        results.append(target.generate(f"question {i}", max_tokens=8))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=call, args=(deployment if i % 2 else twin, i)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 5 and openai_server.peak == 2
    assert max(r.queued_ms for r in results) >= 250  # type: ignore[attr-defined]
    assert deployment.in_flight == 0


def test_busy_and_timeout_are_clear_errors(service, openai_server: OpenAIServer) -> None:  # type: ignore[no-untyped-def]
    from pepperpy.cloud import EndpointConfig

    deployment = service.deploy_model("gpt-4", "slow", EndpointConfig(max_concurrent_requests=1, timeout_ms=300))
    openai_server.delay = 1.0
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as err:
        deployment.generate("hello", max_tokens=4)
    assert time.monotonic() - start < 0.9
    assert str(err.value).startswith("deployment 'slow' did not answer within 0.3 s (EndpointConfig.timeout_ms)")

    while openai_server.in_flight:  # the server finishes the abandoned request on its own time
        time.sleep(0.01)
    openai_server.peak = 0
    holder = threading.Thread(target=deployment.generate, args=("hold",), kwargs={"timeout_ms": 3000})
    holder.start()
    while deployment.in_flight == 0:
        time.sleep(0.01)
    with pytest.raises(EndpointBusyError) as busy:
        deployment.generate("hello", max_tokens=4, timeout_ms=200)
    holder.join()
    assert "1 requests in flight" in str(busy.value) and "max_concurrent_requests" in str(busy.value)
    assert openai_server.peak == 1


def test_unreachable_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud import EndpointConfig, LocalProvider, ManagedAIService

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = ManagedAIService(LocalProvider())
    with pytest.raises(EndpointUnreachableError) as err:
        service.deploy_model("gpt-4", "nowhere", EndpointConfig(endpoint_url=f"http://127.0.0.1:{port}"))
    message = str(err.value)
    assert "\n" not in message and f"cannot reach the OpenAI-compatible server at http://127.0.0.1:{port}/v1/models" \
        in message and "start the server or fix the endpoint URL" in message
    assert service.list_deployments() == []

    monkeypatch.delenv("PEPPERPY_AI_BASE_URL", raising=False)
    with pytest.raises(InputError, match="endpoint_url: no OpenAI-compatible server URL given.*PEPPERPY_AI_BASE_URL"):
        service.deploy_model("gpt-4", "nourl")


def test_model_must_be_served(service) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match=r"model_id: unknown model 'llama3'; closest: gpt-4, llama-3.2-1b-instruct; "
                                            r"the server at http://127\.0\.0\.1:\d+/v1 does not serve it"):
        service.deploy_model("llama3", "llama")


def test_api_key_from_secret_store_never_shown(openai_server: OpenAIServer, home: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from pepperpy.cloud import EndpointConfig, LocalProvider, ManagedAIService
    from pepperpy.cloud.deploy.secrets import SecretStore

    caplog.set_level(logging.DEBUG)
    key = "sk-local-test-9f8e7d6c5b4a"
    openai_server.api_key = key
    SecretStore().set("local-llm-key", key)
    service = ManagedAIService(LocalProvider(ai_base_url=openai_server.url + "/v1/"))
    config = EndpointConfig(api_key="${SECRET:local-llm-key}")
    deployment = service.deploy_model("gpt-4", "keyed", config)
    assert deployment.generate("hi", max_tokens=3).text == "echo: hi"
    assert openai_server.headers[-1]["authorization"] == f"Bearer {key}"
    registry = (home / "ai" / "deployments.json").read_text()
    assert json.loads(registry)["deployments"]["local:local/keyed"]["config"]["api_key"] == "${SECRET:local-llm-key}"
    shown = " ".join([registry, repr(deployment), repr(config), repr(service), repr(service.list_deployments()),
                      caplog.text])
    assert key not in shown

    SecretStore().set("local-llm-key", "sk-wrong-key-000000000000")
    with pytest.raises(Exception, match="HTTP 401: Incorrect API key provided; check the API key") as err:
        deployment.generate("hi")
    assert "sk-wrong" not in str(err.value)
    SecretStore().delete("local-llm-key")
    assert service.get_deployment("keyed").refresh() == "secret-missing"


def test_list_and_delete(service, openai_server: OpenAIServer) -> None:  # type: ignore[no-untyped-def]
    from pepperpy.cloud import EndpointConfig, LocalProvider, ManagedAIService

    service.deploy_model("gpt-4", "one")
    service.deploy_model("llama-3.2-1b-instruct", "two", EndpointConfig(max_concurrent_requests=3))
    listed = service.list_deployments()
    assert [(d.name, d.model_id, d.status, d.backend) for d in listed] == [
        ("one", "gpt-4", "ready", "local"), ("two", "llama-3.2-1b-instruct", "ready", "local")]
    assert listed[1].config.max_concurrent_requests == 3 and listed[1].endpoint == openai_server.url + "/v1"
    other_region = ManagedAIService(LocalProvider(region="elsewhere"))
    assert other_region.list_deployments() == []

    service.delete_deployment("one")
    assert [d.name for d in service.list_deployments()] == ["two"]
    with pytest.raises(NotFoundError, match="deployment_name: unknown model deployment 'one'"):
        service.get_deployment("one")
    with pytest.raises(NotFoundError, match="closest: two"):
        service.delete_deployment("twoo")

    openai_server.close()
    assert [d.status for d in service.list_deployments()] == ["unreachable"]


def test_bad_arguments_and_unsupported_providers(service) -> None:  # type: ignore[no-untyped-def]
    from pepperpy.cloud import KubernetesProvider, ManagedAIService

    with pytest.raises(InputError, match="deployment_name: 'bad name!' is not a valid name"):
        service.deploy_model("gpt-4", "bad name!")
    with pytest.raises(InputError, match="config: must be an EndpointConfig"):
        service.deploy_model("gpt-4", "x", config={"timeout_ms": 5})
    deployment = service.deploy_model("gpt-4", "args")
    with pytest.raises(InputError, match="max_tokens: must be a positive integer"):
        deployment.generate("hi", max_tokens=0)
    with pytest.raises(InputError, match="prompt: must be a non-empty string"):
        deployment.generate("  ")
    with pytest.raises(InputError, match="frequency: unknown generate"):
        deployment.generate("hi", frequency=2)
    assert deployment.generate("hi", max_tokens=5, system="be brief", temperature=0).text == "echo: hi"
    with pytest.raises(NotSupportedError, match="cannot run managed AI endpoints"):
        ManagedAIService(provider=KubernetesProvider())
