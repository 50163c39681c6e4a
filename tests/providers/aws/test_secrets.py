"""``${SECRET:name}`` resolved from AWS Secrets Manager (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.providers.aws import AWSProvider
from tests.providers.aws.conftest import REGION, tagged_leftovers


def store(**options: Any) -> Any:
    return AWSProvider(region=REGION, credentials={"access_key_id": "AKIATESTKEY0001",
                                                   "secret_access_key": "s3cr3t-aws-value"}, **options).secret_store()


def test_references_resolve_from_secrets_manager(aws: str, raw: Any) -> None:
    secrets = store()
    secrets.set("openai-api-key", "sk-test-0123456789")
    raw("secretsmanager").create_secret(Name="team-token", SecretString="made-elsewhere")  # not ours, still readable
    env = {"OPENAI_API_KEY": "${SECRET:openai-api-key}", "TOKEN": "${SECRET:team-token}", "LOG_LEVEL": "INFO"}
    assert secrets.resolve(env) == {"OPENAI_API_KEY": "sk-test-0123456789", "TOKEN": "made-elsewhere",
                                    "LOG_LEVEL": "INFO"}
    assert secrets.names() == ["openai-api-key"]  # only what pepperpy-cloud set
    assert "openai-api-key" in secrets and "nothing-here" not in secrets
    secrets.set("openai-api-key", "sk-rotated-9876543210")
    assert secrets.get("openai-api-key") == "sk-rotated-9876543210"
    assert secrets.redactor()("key=sk-rotated-9876543210") == "key=***"
    assert "sk-rotated" not in repr(secrets)


def test_a_missing_secret_names_the_variable(aws: str) -> None:
    secrets = store()
    secrets.set("openai-api-key", "sk-test-0123456789")
    with pytest.raises(NotFoundError) as caught:
        secrets.resolve({"OPENAI_API_KEY": "${SECRET:openai-api-kee}"})
    text = str(caught.value)
    assert text.startswith("environment variable OPENAI_API_KEY: unknown secret 'openai-api-kee'; closest: "
                           "openai-api-key")
    assert "sk-test" not in text


def test_prefix_and_delete_leave_nothing_behind(aws: str, raw: Any) -> None:
    secrets = store(secrets_prefix="pepperpy/")
    secrets.set("db-url", "postgresql://u:pw-123456@h/db")
    assert raw("secretsmanager").describe_secret(SecretId="pepperpy/db-url")["Name"] == "pepperpy/db-url"
    secrets.delete("db-url")
    assert tagged_leftovers(raw) == []
    with pytest.raises(NotFoundError):
        secrets.get("db-url")


def test_secrets_not_set_by_us_are_not_deleted_and_bad_names_are_refused(aws: str, raw: Any) -> None:
    raw("secretsmanager").create_secret(Name="team-token", SecretString="made-elsewhere")
    with pytest.raises(InputError, match="was not set by pepperpy-cloud"):
        store().delete("team-token")
    with pytest.raises(InputError) as caught:
        store().set("bad name!", "value")
    assert caught.value.field == "secret name"
    with pytest.raises(InputError, match="is empty"):
        store().set("empty", "")
