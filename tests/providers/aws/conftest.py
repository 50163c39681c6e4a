"""A moto server (AWS emulator) on 127.0.0.1 for the whole session; every test starts from an empty cloud.

Tests reach it the way a user would reach an emulator: ``AWS_ENDPOINT_URL`` in
the environment, which boto3 honours natively, so seed 000's snippets run with
only ``region`` and ``credentials`` as written. The user's own AWS files,
profile and instance metadata are hidden so nothing real is ever called.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

REGION = "us-west-2"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per call otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def moto_post(endpoint: str, path: str, body: bytes = b"") -> None:
    request = urllib.request.Request(f"{endpoint}{path}", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """An empty emulated AWS behind AWS_ENDPOINT_URL, with no trace of the user's real AWS setup."""
    moto_post(moto_endpoint, "/moto-api/reset")
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    yield moto_endpoint
    moto_post(moto_endpoint, "/moto-api/reset-auth", b"inf")


@pytest.fixture
def raw(aws: str) -> Any:
    """Plain boto3 clients on the emulator, to check what our code left there."""
    import boto3

    session = boto3.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    return lambda service: session.client(service, endpoint_url=aws)


def tagged_leftovers(raw: Any) -> list[str]:
    """ARNs still tagged managed-by=pepperpy-cloud, by the tagging API and by each service's own listing."""
    found = [r["ResourceARN"] for r in raw("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "managed-by", "Values": ["pepperpy-cloud"]}])["ResourceTagMappingList"]]
    iam = raw("iam")
    for role in iam.list_roles()["Roles"]:
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
        if tags.get("managed-by") == "pepperpy-cloud":
            found.append(role["Arn"])
    logs = raw("logs")
    for group in logs.describe_log_groups()["logGroups"]:
        if logs.list_tags_for_resource(resourceArn=group["arn"].rstrip(":*")).get("tags", {}).get(
                "managed-by") == "pepperpy-cloud":
            found.append(group["arn"])
    for secret in raw("secretsmanager").list_secrets()["SecretList"]:
        found.append(secret["ARN"])
    return sorted(set(found))
