"""``runtime: serverless`` services on Lambda through ``deploy_stack``, against the moto server.

moto creates functions and Function URLs without Docker; invoking would need it, so
nothing here invokes: the tests check the package, the function's configuration, the
role's policy, the URL's auth type and that destroy leaves nothing.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws import AWSProvider, lambda_services
from pepperpy.cloud.spec.stack import Stack
from tests.providers.aws.conftest import REGION, tagged_leftovers

DEPLOYMENT_TAG = "pepperpy-cloud:deployment"
APP = 'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/health")\ndef health():\n    return {}\n'


def make_source(root: Path, requirements: bool = True) -> Path:
    (root / "api" / "app").mkdir(parents=True)
    (root / "api" / "app" / "__init__.py").write_text("")
    (root / "api" / "app" / "main.py").write_text(APP)
    (root / "api" / "app" / "__pycache__").mkdir()
    (root / "api" / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    if requirements:
        (root / "api" / "requirements.txt").write_text("fastapi\nmangum\n")
    return root


def stack(**extra: Any) -> Stack:
    return Stack.model_validate({
        "name": "fn", "provider": "aws", "services": {"api": {
            "source": "api", "entry_point": "app/main.py", "runtime": "serverless", "memory": "512Mi",
            "env": {"LOG_LEVEL": "INFO", "OPENAI_API_KEY": "${SECRET:openai-api-key}"}}}, **extra})


def provider() -> AWSProvider:
    return AWSProvider(region=REGION, wait_delay=0)


@pytest.fixture
def secret(aws: str, raw: Any) -> str:
    return str(raw("secretsmanager").create_secret(Name="openai-api-key", SecretString="sk-lambda-secret-123")["ARN"])


def test_package_holds_the_rendered_handler_the_entry_point_and_the_source_only(tmp_path: Path) -> None:
    root = make_source(tmp_path)
    svc = stack().services["api"]
    code = lambda_services.package(stack(), root, "api", svc)
    names = zipfile.ZipFile(io.BytesIO(code.data)).namelist()
    assert sorted(names) == ["app/__init__.py", "app/main.py", "handler.py", "pepperpy_entry.py", "requirements.txt"]
    handler = zipfile.ZipFile(io.BytesIO(code.data)).read("handler.py").decode()
    assert "from app.main import app" in handler and 'Mangum(app, lifespan="off")' in handler
    assert code.requirements == "requirements.txt"
    assert lambda_services.package(stack(), root, "api", svc).data == code.data  # reproducible


def test_serverless_service_becomes_a_function_with_a_private_url_a_narrow_role_and_tags(
        tmp_path: Path, raw: Any, secret: str) -> None:
    root = make_source(tmp_path)
    [result] = provider().deploy_stack(stack(), stack_dir=root)

    fn = raw("lambda").get_function(FunctionName="fn-api")
    config = fn["Configuration"]
    assert (config["Runtime"], config["Handler"], config["MemorySize"], config["Timeout"]) == (
        "python3.11", "pepperpy_entry.handler", 512, 30)
    variables = config["Environment"]["Variables"]
    assert variables["LOG_LEVEL"] == "INFO" and json.loads(variables["PEPPERPY_SECRETS"]) == {"OPENAI_API_KEY": secret}
    assert "sk-lambda-secret" not in json.dumps(fn, default=str)
    assert fn["Tags"]["managed-by"] == "pepperpy-cloud" and fn["Tags"][DEPLOYMENT_TAG] == "fn"

    url = raw("lambda").get_function_url_config(FunctionName="fn-api")
    assert url["AuthType"] == "AWS_IAM" and result.url == url["FunctionUrl"]
    assert config["Role"].endswith(":role/pepperpy-cloud/fn-api-fn")
    policy = raw("iam").get_role_policy(RoleName="fn-api-fn", PolicyName="pepperpy-cloud-function")["PolicyDocument"]
    resources = {a: s["Resource"] for s in policy["Statement"] for a in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert resources["logs:PutLogEvents"] == [f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/fn-api",
                                              f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/fn-api:*"]
    assert resources["secretsmanager:GetSecretValue"] == [secret] and len(resources) == 3
    [group] = raw("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/fn-api")["logGroups"]
    assert group["retentionInDays"] == 30

    assert (result.runtime, result.name, result.service, result.revision) == ("lambda", "fn", "api", 1)
    assert result.details["auth_type"] == "AWS_IAM" and "sam build" in result.details["dependencies"]
    record = StateStore.open().get_deployment("fn")
    assert record is not None and record.status == "deployed"
    assert {"lambda-function", "iam-role", "log-group"} <= {p["kind"] for p in record.spec["parts"].values()}

    # unchanged code: no new version; changed code: the next one
    [again] = provider().deploy_stack(stack(), stack_dir=root)
    assert again.revision == 1 and again.url == result.url
    (root / "api" / "app" / "main.py").write_text(APP + "\n# v2\n")
    [changed] = provider().deploy_stack(stack(), stack_dir=root)
    assert changed.revision == 2

    with pytest.raises(InputError, match="Lambda scales itself"):
        provider().scale("fn", 3)

    gone = provider().destroy_stack("fn")
    assert {"lambda-function:fn-api", "log-group:/aws/lambda/fn-api", "iam-role:fn-api-fn"} <= set(gone)
    assert raw("lambda").list_functions()["Functions"] == []
    assert [s["Name"] for s in raw("secretsmanager").list_secrets()["SecretList"]] == ["openai-api-key"]  # the user's
    assert [x for x in tagged_leftovers(raw) if "openai-api-key" not in x] == []


def test_public_url_only_when_the_stack_asks_for_a_public_entry_point(tmp_path: Path, raw: Any, secret: str) -> None:
    root = make_source(tmp_path, requirements=False)
    [result] = provider().deploy_stack(stack(load_balancer=True), stack_dir=root)
    assert raw("lambda").get_function_url_config(FunctionName="fn-api")["AuthType"] == "NONE"
    [statement] = json.loads(raw("lambda").get_policy(FunctionName="fn-api")["Policy"])["Statement"]
    assert statement["Action"] == "lambda:InvokeFunctionUrl" and statement["Principal"] in ("*", {"AWS": "*"})
    assert result.details["dependencies"] == "none declared"

    provider().deploy_stack(stack(load_balancer=True, cloud={"network": {"use_private_endpoints": True}}),
                            stack_dir=root)
    assert raw("lambda").get_function_url_config(FunctionName="fn-api")["AuthType"] == "AWS_IAM"
    provider().destroy_stack("fn")


def test_services_lambda_cannot_run_are_refused_before_anything_exists(tmp_path: Path, aws: str, raw: Any) -> None:
    bad = Stack.model_validate({"name": "fn", "provider": "aws", "services": {"ui": {
        "source": "ui", "entry_point": "app.py", "kind": "streamlit", "runtime": "serverless"}}})
    with pytest.raises(InputError, match="cannot run on Lambda: Streamlit"):
        provider().deploy_stack(bad, stack_dir=tmp_path)
    assert raw("lambda").list_functions()["Functions"] == [] and StateStore.open().get_deployment("fn") is None
