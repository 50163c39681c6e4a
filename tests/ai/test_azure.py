"""Azure OpenAI: the exact ARM and data-plane requests, and seed 000's snippet as written (its azure_provider)
against a recording ARM + Azure OpenAI stand-in on 127.0.0.1."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from types import SimpleNamespace

import pytest

from pepperpy.cloud.ai.backends import azure_openai as az
from pepperpy.cloud.ai.config import EndpointConfig
from pepperpy.cloud.errors import InputError
from tests.ai.conftest import CloudFake, chat_answer
from tests.ai.test_local import SEED_SNIPPET

DEPLOYMENT = ("/subscriptions/sub-1/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/"
              "pepperpy-openai/deployments/pepperpy-gpt4")


class FakeCredential:
    """An azure-identity TokenCredential stand-in: one token per scope."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> SimpleNamespace:
        self.scopes += scopes
        return SimpleNamespace(token=f"token-for-{scopes[0].split('//')[1].split('/')[0]}")


def test_arm_deployment_request_is_exact() -> None:
    config = EndpointConfig(instance_type="Standard_DS3_v2", capacity=30, model_version="0613", sku="GlobalStandard")
    url = az.deployment_url(az.ARM, "sub-1", "rg-ai", "pepperpy-openai", "pepperpy-gpt4")
    request = az.create_deployment_request(url, "gpt-4", config, "tok")
    assert (request.method, request.url, request.params) == ("PUT", az.ARM + DEPLOYMENT, {"api-version": "2024-10-01"})
    assert request.body == {"sku": {"name": "GlobalStandard", "capacity": 30},
                            "properties": {"model": {"format": "OpenAI", "name": "gpt-4", "version": "0613"}}}
    assert az.deployment_body("gpt-4o", EndpointConfig())["sku"] == {"name": "Standard", "capacity": 10}


def test_data_plane_request_is_exact_and_masks_the_key() -> None:
    request = az.chat_request("https://pepperpy-openai.openai.azure.com", "pepperpy-gpt4", "Olá", 500, {},
                              api_key="azure-key-0123456789abcdef")
    assert request.url == "https://pepperpy-openai.openai.azure.com/openai/deployments/pepperpy-gpt4/chat/completions"
    assert request.params == {"api-version": "2024-10-21"}
    assert request.body == {"messages": [{"role": "user", "content": "Olá"}], "max_tokens": 500, "stream": False}
    assert request.headers == {"api-key": "azure-key-0123456789abcdef"}
    assert "azure-key-0123456789abcdef" not in repr(request) and "'api-key': '***'" in repr(request)
    assert az.chat_request("https://e", "d", "x", 1, {}, token="t").headers == {"Authorization": "Bearer t"}


def test_seed_000_snippet_on_azure_as_written(cloud_fake: CloudFake) -> None:
    from pepperpy.cloud import AzureProvider

    cloud_fake.routes[("PUT", DEPLOYMENT)] = [(201, {"id": DEPLOYMENT, "properties": {"provisioningState": "Creating"}})]
    cloud_fake.routes[("GET", DEPLOYMENT)] = [(200, {"properties": {"provisioningState": "Succeeded"}})]
    cloud_fake.routes[("POST", "/openai/deployments/pepperpy-gpt4/chat/completions")] = [
        (200, chat_answer("RAG busca documentos e gera a resposta."))]
    cloud_fake.routes[("DELETE", DEPLOYMENT)] = [(204, {})]
    credential = FakeCredential()
    azure_provider = AzureProvider(region="eastus", subscription_id="sub-1", endpoint_url=cloud_fake.url,
                                   resource_group="rg-ai", account_name="pepperpy-openai", credential=credential,
                                   openai_endpoint=cloud_fake.url, poll_interval_s=0)
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(SEED_SNIPPET.replace("LocalProvider()", "azure_provider"), "seed000_azure", "exec"),
             {"azure_provider": azure_provider})
    assert out.getvalue().splitlines() == ["RAG busca documentos e gera a resposta.", "pepperpy-gpt4: ready"]

    put, *_rest = cloud_fake.calls
    assert (put[0], put[1]) == ("PUT", DEPLOYMENT + "?api-version=2024-10-01")
    assert put[3] == {"sku": {"name": "Standard", "capacity": 10}, "properties": {"model": {"format": "OpenAI",
                                                                                            "name": "gpt-4"}}}
    assert put[2]["authorization"] == "Bearer token-for-management.azure.com"
    chat = next(c for c in cloud_fake.calls if c[0] == "POST")
    assert chat[1] == "/openai/deployments/pepperpy-gpt4/chat/completions?api-version=2024-10-21"
    assert chat[2]["authorization"] == "Bearer token-for-cognitiveservices.azure.com"
    assert chat[3] == {"messages": [{"role": "user", "content": "Explique como o RAG funciona de forma simples."}],
                       "max_tokens": 500, "stream": False}
    assert [c[0] for c in cloud_fake.calls] == ["PUT", "GET", "POST", "GET", "DELETE"]


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud import AzureProvider, ManagedAIService

    for var in ("AZURE_RESOURCE_GROUP", "AZURE_OPENAI_ACCOUNT", "AZURE_SUBSCRIPTION_ID"):
        monkeypatch.delenv(var, raising=False)
    service = ManagedAIService(AzureProvider(subscription_id="s"), credential=FakeCredential())
    with pytest.raises(InputError, match="resource_group: Azure OpenAI deployments need it; pass "
                                         r"ManagedAIService\(provider, resource_group=...\) or set AZURE_RESOURCE_GROUP"):
        service.deploy_model("gpt-4", "x")
