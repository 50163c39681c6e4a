"""Credentials, endpoints and failures: each bad input gives one line naming AWS, the operation and the fix."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pepperpy.cloud.errors import InputError, MissingDependencyError, PepperpyCloudError
from pepperpy.cloud.providers.aws import AWSProvider
from pepperpy.cloud.providers.aws.session import AWSCredentialsError, AWSError, AWSInputError, AWSPermissionError
from pepperpy.cloud.resources.manager import ResourceManager
from pepperpy.cloud.resources.models import StorageResource
from tests.providers.aws.conftest import REGION, moto_post


def one_line(exc: BaseException, operation: str) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"AWS {operation}: ") and " — " in text
    return text


def test_import_pepperpy_cloud_does_not_import_boto3() -> None:
    code = "import sys, pepperpy.cloud; from pepperpy.cloud import AWSProvider; AWSProvider(region='us-west-2'); " \
           "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_boto3_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an absent package looks like to import
    with pytest.raises(MissingDependencyError, match=r"boto3 is not installed; .*pepperpy-cloud\[aws\]"):
        AWSProvider(region=REGION).session().client("s3")


def test_seed_credentials_dict_is_used_and_never_shown(aws: str) -> None:
    provider = AWSProvider(region=REGION, credentials={"access_key_id": "AKIAEXAMPLE00001",
                                                       "secret_access_key": "wJalr-very-secret"})
    creds = provider.session().session.get_credentials()
    assert (creds.access_key, creds.secret_key) == ("AKIAEXAMPLE00001", "wJalr-very-secret")
    shown = " ".join([repr(provider), str(provider.describe()), repr(provider.session())])
    assert "wJalr-very-secret" not in shown and "AKIAEXAMPLE00001" not in shown


def test_empty_credentials_dict_falls_back_to_the_default_chain(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # seed 000's complete example passes os.environ.get(...), which may be None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRON01")
    provider = AWSProvider(region=REGION, credentials={"access_key_id": None, "secret_access_key": None})
    assert provider.session().session.get_credentials().access_key == "AKIAFROMENVIRON01"
    assert provider.session().account_id() == "123456789012"


@pytest.mark.parametrize(("credentials", "words"), [
    ({"access_key_id": "AKIAONLYHALF0001"}, "secret_access_key is missing"),
    ({"access_key": "x", "secret_access_key": "y"}, "unknown AWS credential key 'access_key'"),
])
def test_malformed_credentials_name_the_field(credentials: dict[str, str], words: str) -> None:
    with pytest.raises(InputError, match=words) as caught:
        AWSProvider(region=REGION, credentials=credentials)
    assert caught.value.field == "credentials"


def test_profile_from_a_credentials_file(aws: str, raw: Any, tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[ci]\naws_access_key_id = AKIAPROFILE00001\naws_secret_access_key = from-the-file\n")
    provider = AWSProvider(region=REGION, profile="ci", credentials_file=creds)
    assert provider.session().session.get_credentials().secret_key == "from-the-file"
    ResourceManager(provider=provider).create_resource(StorageResource(name="from-a-profile"))
    assert [b["Name"] for b in raw("s3").list_buckets()["Buckets"]] == ["from-a-profile"]


def test_unknown_profile(aws: str, tmp_path: Path) -> None:
    with pytest.raises(AWSCredentialsError) as caught:
        AWSProvider(region=REGION, profile="nope", credentials_file=tmp_path / "none").session().client("s3")
    assert "profile 'nope' is not in" in one_line(caught.value, "session")


def test_no_credentials_anywhere(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AWSCredentialsError) as caught:
        ResourceManager(provider=AWSProvider(region=REGION)).create_resource(StorageResource(name="no-creds"))
    text = one_line(caught.value, "sts.GetCallerIdentity")
    assert "no usable AWS credentials" in text and "AWS_ACCESS_KEY_ID" in text
    assert caught.value.exit_code == 2


def test_an_unreachable_endpoint(aws: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    provider = AWSProvider(region=REGION, endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1,
                           connect_timeout=2)
    with pytest.raises(AWSError) as caught:
        ResourceManager(provider=provider).create_resource(StorageResource(name="unreachable"))
    text = one_line(caught.value, "sts.GetCallerIdentity")
    assert f"cannot reach http://127.0.0.1:{port}" in text and "AWS_ENDPOINT_URL" in text


def test_a_region_the_service_does_not_exist_in(aws: str, raw: Any) -> None:
    with pytest.raises(AWSInputError) as caught:
        ResourceManager(provider=AWSProvider(region="us-wset-2")).create_resource(StorageResource(name="typo"))
    text = str(caught.value)
    assert text.startswith("AWS sts: region 'us-wset-2' does not offer sts; closest: us-west-2")
    assert caught.value.field == "region"
    assert raw("s3").list_buckets()["Buckets"] == []
    # an emulator or private cloud with its own region names can turn the check off
    assert AWSProvider(region="my-lab-1", check_region=False).session().account_id() == "123456789012"


def _iam_user(raw: Any, policy: dict[str, Any] | None) -> dict[str, str]:
    iam = raw("iam")
    iam.create_user(UserName="limited")
    if policy is not None:
        iam.put_user_policy(UserName="limited", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="limited")["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def test_credentials_aws_rejects(aws: str, raw: Any) -> None:
    _iam_user(raw, None)
    moto_post(aws, "/moto-api/reset-auth", b"0")  # from now on moto checks signatures and IAM policies
    provider = AWSProvider(region=REGION, credentials={"access_key_id": "AKIAWRONGKEY00001",
                                                       "secret_access_key": "not-the-right-secret"})
    with pytest.raises(AWSCredentialsError) as caught:
        ResourceManager(provider=provider).create_resource(StorageResource(name="wrong-creds"))
    text = one_line(caught.value, "sts.GetCallerIdentity")
    assert "AWS rejected the credentials (InvalidClientTokenId)" in text
    assert "not-the-right-secret" not in text and "AKIAWRONGKEY00001" not in text


def test_permission_denied_names_the_iam_action(aws: str, raw: Any) -> None:
    creds = _iam_user(raw, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "s3:ListBucket", "s3:GetBucketTagging"],
         "Resource": "*"}]})
    moto_post(aws, "/moto-api/reset-auth", b"0")
    with pytest.raises(AWSPermissionError) as caught:
        ResourceManager(provider=AWSProvider(region=REGION, credentials=creds)).create_resource(
            StorageResource(name="not-allowed"))
    text = one_line(caught.value, "s3.CreateBucket")
    assert "grant s3:CreateBucket to this identity in IAM" in text
    assert creds["secret_access_key"] not in text
    moto_post(aws, "/moto-api/reset-auth", b"inf")
    assert raw("s3").list_buckets()["Buckets"] == []


def test_every_aws_error_is_a_pepperpy_error() -> None:
    for cls in (AWSError, AWSCredentialsError, AWSPermissionError, AWSInputError):
        assert issubclass(cls, PepperpyCloudError)
    assert issubclass(AWSInputError, InputError)
