"""Seed 000's resources on AWS: an S3 bucket, an RDS PostgreSQL instance, a Lambda function.

Every name is derived from the resource name, so running ``create_resource``
again finds what exists and converges to the spec instead of creating twice;
every AWS object is tagged ``managed-by=pepperpy-cloud`` plus
``pepperpy-cloud:name=<resource>``; a thing with the right name but without our
tags is never adopted or deleted, it is reported. A first create that fails
half-way removes what that call made (an undo stack), so a failure leaves
nothing behind; ``delete`` removes every part, including what AWS creates
beside it (object versions, log groups).

- **object_storage** → S3 bucket ``<name>``; when that global name belongs to
  someone else, ``<name>-<account id>`` (the record keeps the bucket used).
  Public access blocked (``private``) or public reads through a bucket policy
  (``public-read``), default encryption SSE-S3 (AES256), ACLs disabled
  (BucketOwnerEnforced), versioning when ``versioning=True`` (suspended, as S3
  cannot turn it off, when later asked without). S3 has no quota: ``size`` is recorded.
- **postgres** → RDS instance ``<name>`` (engine postgres, the spec's major
  version, class by ``size`` as in the Terraform renderer, gp3 storage,
  encrypted, not public, 7 days of backups) with its own parameter group
  ``<name>-pg<major>`` (TLS required, DDL logged). The master password is
  generated here and kept only in Secrets Manager (``pepperpy-cloud/<name>/master``);
  the handle's ``connection_string`` reads it from there each time. pgvector needs
  no preloading on RDS: the extension is available and is created by the app with
  ``CREATE EXTENSION IF NOT EXISTS vector`` (recorded as ``extensions_to_create``).
- **serverless** → Lambda ``<name>`` (python3.12, memory from the spec, timeout
  ≤ 900 s) with an execution role ``<name>-exec`` (may only write its own log group) and its log
  group ``/aws/lambda/<name>`` (30-day retention). The code is a small bootstrap
  that runs ``entry_point`` with the payload on stdin and returns stdout, the
  same contract as the local provider's ``invoke``; without ``entry_point`` it
  answers that nothing is deployed yet.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.providers.aws.session import AWSError, AWSInputError, AWSSession
from pepperpy.cloud.resources.models import (
    ComputeResource,
    DatabaseResource,
    Resource,
    ResourceRecord,
    ResourceSpec,
    StorageResource,
)
from pepperpy.cloud.spec.quantities import parse_size_gb

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws import AWSProvider

MANAGED_BY = ("managed-by", "pepperpy-cloud")
NAME_TAG = "pepperpy-cloud:name"
TYPE_TAG = "pepperpy-cloud:type"
DB_BY_SIZE = {"small": "db.t3.medium", "medium": "db.m5.large", "large": "db.m5.xlarge",
              "xlarge": "db.m5.2xlarge"}  # the same classes as render/terraform_aws.py
DB_USER = "pepperpy"
DB_DEFAULT_STORAGE_GB = 20
LAMBDA_RUNTIME = "python3.12"
LAMBDA_MAX_TIMEOUT = 900
LOG_POLICY = "pepperpy-cloud-logs"
_BUCKET_RESERVED = (("xn--", "sthree-", "amzn-s3-demo-"), ("-s3alias", "--ol-s3", "--x-s3", ".mrap"))
_NOT_FOUND = {"NoSuchBucket", "404", "NotFound", "DBInstanceNotFound", "DBInstanceNotFoundFault",
              "DBParameterGroupNotFound", "ResourceNotFoundException", "NoSuchEntity"}
_BOOTSTRAP = '''"""pepperpy-cloud Lambda bootstrap: run ENTRY_POINT with the payload on stdin, return its stdout."""
import base64, os, subprocess, sys

ENTRY_POINT = {entry!r}


def handler(event, context):
    if ENTRY_POINT is None:
        return {{"error": "no entry_point deployed; create the resource again with entry_point and source_dir"}}
    payload = base64.b64decode((event or {{}}).get("payload_b64", ""))
    left = max(1.0, context.get_remaining_time_in_millis() / 1000 - 1) if context else None
    done = subprocess.run([sys.executable, ENTRY_POINT], input=payload, capture_output=True,
                          cwd=os.path.dirname(os.path.abspath(__file__)), timeout=left, check=False)
    if done.returncode != 0:
        return {{"error": f"exited with {{done.returncode}}", "stderr": done.stderr.decode(errors="replace")[-800:]}}
    return {{"stdout_b64": base64.b64encode(done.stdout).decode()}}
'''


# --------------------------------------------------------------------------- helpers


def tags_for(name: str, type_: str) -> dict[str, str]:
    """The tags every AWS object of resource ``name`` carries."""
    return {MANAGED_BY[0]: MANAGED_BY[1], NAME_TAG: name, TYPE_TAG: type_}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _as_dict(tags: Any) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (or ``TagList``/``Tags`` variants) as a dict."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(t.get("Key")): str(t.get("Value")) for t in tags or []}


def is_ours(tags: Any, name: str) -> bool:
    found = _as_dict(tags)
    return found.get(MANAGED_BY[0]) == MANAGED_BY[1] and found.get(NAME_TAG) == name


def derived_name(name: str, suffix: str, limit: int) -> str:
    """``<name><suffix>`` within ``limit`` characters; a short hash keeps shortened names distinct."""
    full = f"{name}{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{name[: limit - len(suffix) - 9].rstrip('-')}-{digest}{suffix}"


def validate_bucket_name(name: str) -> str:
    """S3's rules beyond the resource-name rule every provider shares (reserved prefixes and suffixes)."""
    prefixes, suffixes = _BUCKET_RESERVED
    bad = next((p for p in prefixes if name.startswith(p)), None) or next((s for s in suffixes if name.endswith(s)),
                                                                          None)
    if bad:
        raise InputError("name", f"{name!r} is not a valid S3 bucket name: S3 reserves {bad!r}",
                         hint="pick a name without it")
    return name


def validate_rds_identifier(name: str) -> str:
    if "--" in name:
        raise InputError("name", f"{name!r} is not a valid RDS identifier: it may not contain '--'",
                         hint="use single hyphens")
    return name


def _skipped(relative: Path) -> bool:
    """Files that never belong in a function's code: VCS and tool folders, virtualenvs, caches."""
    return any(part.startswith(".") or part in {"__pycache__", "node_modules", "venv"} for part in relative.parts)


class _Undo:
    """What a create made so far, removed in reverse order if the create fails."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def push(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    @contextlib.contextmanager
    def guard(self) -> Iterator[_Undo]:
        try:
            yield self
        except BaseException:
            for step in reversed(self.steps):
                with contextlib.suppress(Exception):
                    step()
            raise


# --------------------------------------------------------------------------- the backend


class AWSResources:
    """The AWS provider's :class:`~pepperpy.cloud.resources.manager.ResourceBackend`."""

    def __init__(self, provider: AWSProvider) -> None:
        self.provider_name = provider.name
        self.aws: AWSSession = provider.session()
        self.region = provider.region
        self.wait_delay = int(provider.options.get("wait_delay", 30))

    # -- the contract

    def create(self, spec: ResourceSpec, previous: ResourceRecord | None) -> ResourceRecord:
        if isinstance(spec, StorageResource):
            details = self._create_bucket(spec, previous)
        elif isinstance(spec, DatabaseResource):
            details = self._create_postgres(spec)
        elif isinstance(spec, ComputeResource):
            details = self._create_lambda(spec)
        else:
            raise InputError("type", f"AWS cannot create {spec.type!r} resources")
        details["region"] = self.region
        details["tags"] = tags_for(spec.name, spec.type)
        return ResourceRecord(name=spec.name, type=spec.type, provider=self.provider_name,
                              spec=spec.model_dump(mode="json"), details=details)

    def handle(self, record: ResourceRecord) -> Resource:
        common = {"name": record.name, "type": record.type, "provider": record.provider}
        details = dict(record.details)
        if record.type == "object_storage":
            bucket = str(details.get("bucket") or record.name)
            found = self.aws.call("s3", "head_bucket", Bucket=bucket, ignore=_NOT_FOUND)
            if found is None:
                return Resource(status="missing", details=details, **common)
            return Resource(status="available", url=f"s3://{bucket}", details=details, **common)
        if record.type == "postgres":
            return self._postgres_handle(record, details, common)
        if record.type == "serverless":
            fn = self.aws.call("lambda", "get_function", FunctionName=record.name, ignore=_NOT_FOUND)
            if fn is None:
                return Resource(status="missing", details=details, **common)
            state = str(fn["Configuration"].get("State") or "Active")
            return Resource(status="ready" if state == "Active" else state.lower(), endpoint=None, details=details,
                            **common)
        return Resource(status="unknown", details=details, **common)

    def delete(self, record: ResourceRecord) -> None:
        if record.type == "object_storage":
            self._delete_bucket(str(record.details.get("bucket") or record.name), record.name)
        elif record.type == "postgres":
            self._delete_postgres(record.name, record.details)
        elif record.type == "serverless":
            self._delete_lambda(record.name)

    # ----------------------------------------------------------------------- S3

    def _bucket_state(self, bucket: str, name: str) -> str:
        """``free``, ``ours``, ``unmanaged`` (this account, not our tags) or ``forbidden``.

        HeadBucket answers 403 both for another account's bucket and for a caller
        without s3:ListBucket, so ``forbidden`` is settled by trying to create it.
        """
        try:
            self.aws.client("s3").head_bucket(Bucket=bucket, ExpectedBucketOwner=self.aws.account_id())
        except Exception as exc:
            from pepperpy.cloud.providers.aws.session import error_code

            code = error_code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return "free"
            if code in {"403", "AccessDenied", "Forbidden"}:
                return "forbidden"
            raise self.aws.translate(exc, "s3.HeadBucket") from None
        return self._tag_state(bucket, name)

    def _tag_state(self, bucket: str, name: str) -> str:
        tagging = self.aws.call("s3", "get_bucket_tagging", Bucket=bucket, ignore={"NoSuchTagSet"})
        return "ours" if tagging and is_ours(tagging.get("TagSet"), name) else "unmanaged"

    def _try_create_bucket(self, bucket: str, name: str) -> str:
        """Create ``bucket``: ``created``, ``taken`` (another account has it) or the state of ours."""
        params: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.aws.client("s3").create_bucket(**params)
        except Exception as exc:
            from pepperpy.cloud.providers.aws.session import error_code

            code = error_code(exc)
            if code == "BucketAlreadyExists":
                return "taken"
            if code == "BucketAlreadyOwnedByYou":
                return self._tag_state(bucket, name)
            raise self.aws.translate(exc, "s3.CreateBucket") from None
        return "created"

    def _claim_bucket(self, name: str, previous: ResourceRecord | None) -> tuple[str, bool]:
        """The bucket used for ``name`` (created now when missing) and whether this call created it."""
        candidates = [str(previous.details["bucket"])] if previous and previous.details.get("bucket") else []
        candidates += [name, f"{name}-{self.aws.account_id()}"]
        for bucket in dict.fromkeys(c for c in candidates if len(c) <= 63):
            state = self._bucket_state(bucket, name)
            if state in {"free", "forbidden"}:
                state = self._try_create_bucket(bucket, name)
            if state in {"ours", "created"}:
                return bucket, state == "created"
            if state == "unmanaged":
                raise AWSInputError("s3.HeadBucket", f"bucket {bucket!r} exists in this account and is not managed "
                                    "by pepperpy-cloud", f"pick another name, or tag it {MANAGED_BY[0]}="
                                    f"{MANAGED_BY[1]} and {NAME_TAG}={name} to adopt it", field="name")
        raise AWSInputError("s3.CreateBucket", f"S3 bucket names {candidates[-2]!r} and {candidates[-1]!r} are taken "
                            "by other accounts", "pick another resource name (S3 bucket names are global)",
                            field="name")

    def _create_bucket(self, spec: StorageResource, previous: ResourceRecord | None) -> dict[str, Any]:
        validate_bucket_name(spec.name)
        bucket, fresh = self._claim_bucket(spec.name, previous)
        with _Undo().guard() as undo:
            if fresh:
                undo.push(lambda: self._delete_bucket(bucket, spec.name, check_tags=False))
            self.aws.call("s3", "put_bucket_tagging", Bucket=bucket,
                          Tagging={"TagSet": _tag_list(tags_for(spec.name, spec.type))})
            self._bucket_access(bucket, spec.access_policy)
            self.aws.call("s3", "put_bucket_encryption", Bucket=bucket, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                           "BucketKeyEnabled": True}]})
            versioning = self._bucket_versioning(bucket, spec.versioning)
        size = parse_size_gb(spec.size, "size") if spec.size is not None else None
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "access_policy": spec.access_policy,
                "versioning": versioning, "encryption": "AES256", "size_gb": str(size) if size is not None else None}

    def _bucket_access(self, bucket: str, policy: str) -> None:
        private = policy == "private"
        self.aws.call("s3", "put_public_access_block", Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": private,
            "RestrictPublicBuckets": private})
        if private:
            self.aws.call("s3", "delete_bucket_policy", Bucket=bucket, ignore={"NoSuchBucketPolicy"})
            return
        statement = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/*"}
        self.aws.call("s3", "put_bucket_policy", Bucket=bucket,
                      Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))

    def _bucket_versioning(self, bucket: str, wanted: bool) -> str:
        current = (self.aws.call("s3", "get_bucket_versioning", Bucket=bucket) or {}).get("Status")
        if wanted and current != "Enabled":
            self.aws.call("s3", "put_bucket_versioning", Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            return "Enabled"
        if not wanted and current == "Enabled":
            self.aws.call("s3", "put_bucket_versioning", Bucket=bucket,
                          VersioningConfiguration={"Status": "Suspended"})
            return "Suspended"
        return str(current or "Disabled") if not wanted else "Enabled"

    def _delete_bucket(self, bucket: str, name: str, *, check_tags: bool = True) -> None:
        """Every object version, delete marker and unfinished upload, then the bucket."""
        if check_tags:
            state = self._bucket_state(bucket, name)
            if state == "free":
                return
            if state == "forbidden":
                raise AWSError("s3.HeadBucket", f"bucket {bucket!r} cannot be read (403)",
                               "grant s3:ListBucket on it, or check it was not taken over by another account")
            if state != "ours":
                raise AWSInputError("s3.DeleteBucket", f"bucket {bucket!r} is not managed by pepperpy-cloud for "
                                    f"{name!r}; it was left alone", "delete it yourself if it is yours", field="name")
        batch: list[dict[str, str]] = []
        for key in ("Versions", "DeleteMarkers"):
            for item in self.aws.pages("s3", "list_object_versions", key, Bucket=bucket):
                batch.append({"Key": item["Key"], "VersionId": item["VersionId"]})
        for item in self.aws.pages("s3", "list_objects_v2", "Contents", Bucket=bucket):
            batch.append({"Key": item["Key"]})
        for start in range(0, len(batch), 1000):
            self.aws.call("s3", "delete_objects", Bucket=bucket,
                          Delete={"Objects": batch[start:start + 1000], "Quiet": True})
        for upload in self.aws.pages("s3", "list_multipart_uploads", "Uploads", Bucket=bucket):
            self.aws.call("s3", "abort_multipart_upload", Bucket=bucket, Key=upload["Key"],
                          UploadId=upload["UploadId"], ignore={"NoSuchUpload"})
        self.aws.call("s3", "delete_bucket", Bucket=bucket, ignore={"NoSuchBucket"})

    # ----------------------------------------------------------------------- RDS

    def _db_names(self, name: str, version: str) -> dict[str, str]:
        major = version.split(".")[0]
        return {"identifier": name, "parameter_group": derived_name(name, f"-pg{major}", 255),
                "family": f"postgres{major}", "secret": f"pepperpy-cloud/{name}/master",
                "database": name.replace("-", "_")}

    def _describe_db(self, identifier: str) -> dict[str, Any] | None:
        found = self.aws.call("rds", "describe_db_instances", DBInstanceIdentifier=identifier, ignore=_NOT_FOUND)
        return found["DBInstances"][0] if found and found.get("DBInstances") else None

    def _create_postgres(self, spec: DatabaseResource) -> dict[str, Any]:
        validate_rds_identifier(spec.name)
        names = self._db_names(spec.name, spec.version)
        instance = self._describe_db(spec.name)
        if instance is not None:
            self._check_db(instance, spec, names)
        with _Undo().guard() as undo:
            self._parameter_group(spec.name, names, undo)
            password, fresh_secret = self._master_password(spec.name, names["secret"], undo)
            storage = int(parse_size_gb(spec.storage, "storage")) if spec.storage is not None else None
            if instance is None:
                instance = self._create_db_instance(spec, names, password, storage or DB_DEFAULT_STORAGE_GB)
                undo.push(lambda: self._delete_db_instance(spec.name))
            else:
                self._converge_db(instance, spec, storage, password if fresh_secret else None)
            instance = self._wait_db(spec.name)
        endpoint = instance.get("Endpoint") or {}
        wanted = ["vector" if e == "pgvector" else e for e in spec.extensions]
        return {"identifier": spec.name, "engine": "postgres", "engine_version": instance.get("EngineVersion"),
                "requested_version": spec.version, "instance_class": instance.get("DBInstanceClass"),
                "allocated_storage_gb": instance.get("AllocatedStorage"), "host": endpoint.get("Address"),
                "port": endpoint.get("Port"), "database": names["database"], "user": DB_USER,
                "parameter_group": names["parameter_group"], "password_secret": names["secret"],
                "arn": instance.get("DBInstanceArn"), "extensions_to_create": wanted}

    def _check_db(self, instance: dict[str, Any], spec: DatabaseResource, names: dict[str, str]) -> None:
        if not is_ours(instance.get("TagList"), spec.name):
            raise AWSInputError("rds.CreateDBInstance", f"RDS instance {spec.name!r} exists and is not managed by "
                                "pepperpy-cloud", "pick another name", field="name")
        running_major = str(instance.get("EngineVersion", "")).split(".")[0]
        if running_major and running_major != spec.version.split(".")[0]:
            raise InputError("version", f"{spec.name!r} runs PostgreSQL {instance.get('EngineVersion')}; a major "
                             f"upgrade to {spec.version} is not done by create_resource",
                             hint="keep the version, or upgrade it with RDS and then change the spec")

    def _parameter_group(self, name: str, names: dict[str, str], undo: _Undo) -> None:
        created = self.aws.call("rds", "create_db_parameter_group", ignore={"DBParameterGroupAlreadyExists"},
                                DBParameterGroupName=names["parameter_group"],
                                DBParameterGroupFamily=names["family"],
                                Description=f"pepperpy-cloud {name}: TLS required, DDL logged",
                                Tags=_tag_list(tags_for(name, "postgres")))
        if created is not None:
            undo.push(lambda: self.aws.call("rds", "delete_db_parameter_group", ignore=_NOT_FOUND,
                                            DBParameterGroupName=names["parameter_group"]))
        params = [("rds.force_ssl", "1"), ("log_statement", "ddl"), ("log_min_duration_statement", "1000")]
        self.aws.call("rds", "modify_db_parameter_group", DBParameterGroupName=names["parameter_group"],
                      Parameters=[{"ParameterName": k, "ParameterValue": v, "ApplyMethod": "pending-reboot"}
                                  for k, v in params])

    def _master_password(self, name: str, secret_id: str, undo: _Undo) -> tuple[str, bool]:
        """The stored master password, or a new one stored first; ``True`` when new."""
        found = self.aws.call("secretsmanager", "get_secret_value", SecretId=secret_id,
                              ignore={"ResourceNotFoundException"})
        if found is not None:
            return str(found["SecretString"]), False
        password = secrets.token_urlsafe(24)
        self.aws.call("secretsmanager", "create_secret", Name=secret_id, SecretString=password,
                      Description=f"master password of the pepperpy-cloud database {name}",
                      Tags=_tag_list(tags_for(name, "postgres")))
        undo.push(lambda: self.aws.call("secretsmanager", "delete_secret", SecretId=secret_id,
                                        ForceDeleteWithoutRecovery=True, ignore=_NOT_FOUND))
        return password, True

    def _create_db_instance(self, spec: DatabaseResource, names: dict[str, str], password: str,
                            storage: int) -> dict[str, Any]:
        created = self.aws.call(
            "rds", "create_db_instance", DBInstanceIdentifier=spec.name, Engine="postgres",
            EngineVersion=spec.version, DBInstanceClass=DB_BY_SIZE[spec.size], AllocatedStorage=storage,
            StorageType="gp3", StorageEncrypted=True, MasterUsername=DB_USER, MasterUserPassword=password,
            DBName=names["database"], DBParameterGroupName=names["parameter_group"], PubliclyAccessible=False,
            BackupRetentionPeriod=7, CopyTagsToSnapshot=True, AutoMinorVersionUpgrade=True,
            Tags=_tag_list(tags_for(spec.name, spec.type)))
        return dict(created["DBInstance"])

    def _converge_db(self, instance: dict[str, Any], spec: DatabaseResource, storage: int | None,
                     new_password: str | None) -> None:
        changes: dict[str, Any] = {}
        if instance.get("DBInstanceClass") != DB_BY_SIZE[spec.size]:
            changes["DBInstanceClass"] = DB_BY_SIZE[spec.size]
        if storage and storage > int(instance.get("AllocatedStorage") or 0):
            changes["AllocatedStorage"] = storage
        if new_password:  # the secret was lost: the database gets the newly stored password
            changes["MasterUserPassword"] = new_password
        if changes:
            self.aws.call("rds", "modify_db_instance", DBInstanceIdentifier=spec.name, ApplyImmediately=True,
                          **changes)

    def _wait_db(self, identifier: str) -> dict[str, Any]:
        self.aws.wait("rds", "db_instance_available", delay=self.wait_delay, attempts=120,
                      DBInstanceIdentifier=identifier)
        instance = self._describe_db(identifier)
        if instance is None:
            raise AWSError("rds.DescribeDBInstances", f"{identifier!r} vanished while starting",
                           "create the resource again")
        return instance

    def _postgres_handle(self, record: ResourceRecord, details: dict[str, Any], common: dict[str, Any]) -> Resource:
        instance = self._describe_db(record.name)
        if instance is None:
            return Resource(status="missing", details=details, **common)
        endpoint = instance.get("Endpoint") or {}
        details.update(host=endpoint.get("Address"), port=endpoint.get("Port"))
        conn = None
        secret_id = details.get("password_secret")
        found = self.aws.call("secretsmanager", "get_secret_value", SecretId=secret_id,
                              ignore={"ResourceNotFoundException"}) if secret_id else None
        if found is not None and endpoint.get("Address"):
            password = quote(str(found["SecretString"]), safe="")
            conn = (f"postgresql://{details['user']}:{password}@{endpoint['Address']}:{endpoint.get('Port', 5432)}/"
                    f"{details['database']}?sslmode=require")
        return Resource(status=str(instance.get("DBInstanceStatus", "unknown")), connection_string=conn,
                        details=details, **common)

    def _delete_db_instance(self, identifier: str) -> None:
        instance = self._describe_db(identifier)
        if instance is None:
            return
        if not is_ours(instance.get("TagList"), identifier):
            raise AWSInputError("rds.DeleteDBInstance", f"RDS instance {identifier!r} is not managed by "
                                "pepperpy-cloud; it was left alone", "delete it yourself if it is yours",
                                field="name")
        if instance.get("DBInstanceStatus") != "deleting":
            self.aws.call("rds", "delete_db_instance", DBInstanceIdentifier=identifier, SkipFinalSnapshot=True,
                          DeleteAutomatedBackups=True, ignore=_NOT_FOUND)
        self.aws.wait("rds", "db_instance_deleted", delay=self.wait_delay, attempts=120,
                      DBInstanceIdentifier=identifier)

    def _delete_postgres(self, name: str, details: dict[str, Any]) -> None:
        """The instance (no final snapshot: delete means delete), then its parameter group and secret."""
        self._delete_db_instance(name)
        group = details.get("parameter_group")
        if group:
            self.aws.call("rds", "delete_db_parameter_group", DBParameterGroupName=group, ignore=_NOT_FOUND)
        secret_id = details.get("password_secret") or f"pepperpy-cloud/{name}/master"
        self.aws.call("secretsmanager", "delete_secret", SecretId=secret_id, ForceDeleteWithoutRecovery=True,
                      ignore=_NOT_FOUND)

    # ----------------------------------------------------------------------- Lambda

    def _create_lambda(self, spec: ComputeResource) -> dict[str, Any]:
        if spec.timeout_seconds > LAMBDA_MAX_TIMEOUT:
            raise InputError("timeout_seconds", f"{spec.timeout_seconds} s is more than AWS Lambda allows "
                             f"({LAMBDA_MAX_TIMEOUT} s)", hint="lower it, or run the job as a deployment")
        memory_mb = max(128, int(parse_size_gb(spec.memory, "memory") * 1024))
        if memory_mb > 10240:
            raise InputError("memory", f"{spec.memory} is more than AWS Lambda allows (10Gi)")
        code = self._lambda_zip(spec)
        existing = self.aws.call("lambda", "get_function", FunctionName=spec.name, ignore=_NOT_FOUND)
        if existing is not None and not is_ours(existing.get("Tags"), spec.name):
            raise AWSInputError("lambda.CreateFunction", f"Lambda function {spec.name!r} exists and is not managed "
                                "by pepperpy-cloud", "pick another name", field="name")
        with _Undo().guard() as undo:
            role_arn = self._lambda_role(spec.name, undo)
            self._log_group(spec.name, undo)
            if existing is None:
                fn = self._create_function(spec, role_arn, code, memory_mb)
                undo.push(lambda: self.aws.call("lambda", "delete_function", FunctionName=spec.name,
                                                ignore=_NOT_FOUND))
            else:
                deployed = existing["Configuration"].get("CodeSha256")
                if deployed != base64.b64encode(hashlib.sha256(code).digest()).decode():
                    self.aws.call("lambda", "update_function_code", FunctionName=spec.name, ZipFile=code)
                    self._wait_lambda(spec.name)
                fn = self.aws.call("lambda", "update_function_configuration", FunctionName=spec.name,
                                   MemorySize=memory_mb, Timeout=spec.timeout_seconds, Role=role_arn)
        return {"function": spec.name, "arn": fn.get("FunctionArn"), "role": role_arn.rsplit("/", 1)[-1],
                "log_group": f"/aws/lambda/{spec.name}", "memory_mb": memory_mb, "cpu": spec.cpu,
                "timeout_seconds": spec.timeout_seconds, "runtime": LAMBDA_RUNTIME,
                "code_sha256": hashlib.sha256(code).hexdigest(),
                "runs": "on demand: ResourceManager.invoke(name, payload)"}

    def _lambda_zip(self, spec: ComputeResource) -> bytes:
        """The bootstrap plus, when given, the files of ``source_dir`` (stable order and times: same code, same zip)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            def add(arcname: str, data: bytes) -> None:
                info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)

            add("pepperpy_bootstrap.py", _BOOTSTRAP.format(entry=spec.entry_point).encode())
            if spec.source_dir is not None:
                source = Path(spec.source_dir).expanduser().resolve()
                if not source.is_dir():
                    raise InputError("source_dir", f"{spec.source_dir!r} is not a directory")
                for path in sorted(p for p in source.rglob("*") if p.is_file() and not _skipped(p.relative_to(source))):
                    add(path.relative_to(source).as_posix(), path.read_bytes())
            if spec.entry_point is not None and spec.entry_point not in archive.namelist():
                raise InputError("entry_point", f"{spec.entry_point!r} not found in source_dir "
                                 f"{spec.source_dir or '(none given)'}")
        return buffer.getvalue()

    def _lambda_role(self, name: str, undo: _Undo) -> str:
        role = derived_name(name, "-exec", 64)
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        created = self.aws.call("iam", "create_role", ignore={"EntityAlreadyExists"}, RoleName=role,
                                AssumeRolePolicyDocument=json.dumps(trust),
                                Description=f"pepperpy-cloud: execution role of Lambda {name}",
                                Tags=_tag_list(tags_for(name, "serverless")))
        if created is not None:
            undo.push(lambda: self._delete_role(role))
        else:
            tags = self.aws.call("iam", "list_role_tags", RoleName=role)
            if not is_ours(tags.get("Tags"), name):
                raise AWSInputError("iam.CreateRole", f"IAM role {role!r} exists and is not managed by "
                                    "pepperpy-cloud", "pick another resource name", field="name")
        found = self.aws.call("iam", "get_role", RoleName=role)
        arn = str(found["Role"]["Arn"])
        account = arn.split(":")[4]
        group = f"arn:aws:logs:{self.region}:{account}:log-group:/aws/lambda/{name}"
        logs = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, f"{group}:*"]}]}
        self.aws.call("iam", "put_role_policy", RoleName=role, PolicyName=LOG_POLICY, PolicyDocument=json.dumps(logs))
        return arn

    def _log_group(self, name: str, undo: _Undo) -> None:
        group = f"/aws/lambda/{name}"
        created = self.aws.call("logs", "create_log_group", ignore={"ResourceAlreadyExistsException"},
                                logGroupName=group, tags=tags_for(name, "serverless"))
        if created is not None:
            undo.push(lambda: self.aws.call("logs", "delete_log_group", logGroupName=group, ignore=_NOT_FOUND))
        self.aws.call("logs", "put_retention_policy", logGroupName=group, retentionInDays=30)

    def _create_function(self, spec: ComputeResource, role_arn: str, code: bytes, memory_mb: int) -> dict[str, Any]:
        """Create the function; a role made seconds ago may not be assumable yet (IAM propagation), so retry that."""
        params: dict[str, Any] = {"FunctionName": spec.name, "Runtime": LAMBDA_RUNTIME, "Role": role_arn,
                  "Handler": "pepperpy_bootstrap.handler", "Code": {"ZipFile": code}, "Timeout": spec.timeout_seconds,
                  "MemorySize": memory_mb, "Tags": tags_for(spec.name, spec.type),
                  "Description": f"pepperpy-cloud serverless resource {spec.name}"}
        for attempt in range(6):
            try:
                fn: dict[str, Any] = self.aws.call("lambda", "create_function", **params)
                return fn
            except AWSInputError as exc:
                if attempt == 5 or not re.search(r"cannot be assumed|role", exc.problem, re.I):
                    raise
                time.sleep(2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _wait_lambda(self, name: str) -> None:
        self.aws.wait("lambda", "function_updated_v2", delay=2, attempts=60, FunctionName=name)

    def _delete_role(self, role: str) -> None:
        """Inline and attached policies first: IAM refuses to delete a role that still has any."""
        for policy in self.aws.pages("iam", "list_role_policies", "PolicyNames", RoleName=role):
            self.aws.call("iam", "delete_role_policy", RoleName=role, PolicyName=policy, ignore=_NOT_FOUND)
        for attached in self.aws.pages("iam", "list_attached_role_policies", "AttachedPolicies", RoleName=role):
            self.aws.call("iam", "detach_role_policy", RoleName=role, PolicyArn=attached["PolicyArn"],
                          ignore=_NOT_FOUND)
        self.aws.call("iam", "delete_role", RoleName=role, ignore=_NOT_FOUND)

    def _delete_lambda(self, name: str) -> None:
        existing = self.aws.call("lambda", "get_function", FunctionName=name, ignore=_NOT_FOUND)
        if existing is not None:
            if not is_ours(existing.get("Tags"), name):
                raise AWSInputError("lambda.DeleteFunction", f"Lambda function {name!r} is not managed by "
                                    "pepperpy-cloud; it was left alone", "delete it yourself if it is yours",
                                    field="name")
            self.aws.call("lambda", "delete_function", FunctionName=name, ignore=_NOT_FOUND)
        self.aws.call("logs", "delete_log_group", logGroupName=f"/aws/lambda/{name}", ignore=_NOT_FOUND)
        role = derived_name(name, "-exec", 64)
        tags = self.aws.call("iam", "list_role_tags", RoleName=role, ignore=_NOT_FOUND)
        if tags is not None and is_ours(tags.get("Tags"), name):
            self._delete_role(role)

    def invoke(self, record: ResourceRecord, payload: bytes = b"") -> bytes:
        """Run the function once: the payload reaches ``entry_point`` on stdin; its stdout comes back."""
        if record.type != "serverless":
            raise InputError("name", f"{record.name!r} is a {record.type} resource; only serverless ones run")
        event = json.dumps({"payload_b64": base64.b64encode(payload).decode()}).encode()
        answer = self.aws.call("lambda", "invoke", FunctionName=record.name, Payload=event)
        body = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError") or "error" in body:
            raise AWSError("lambda.Invoke", f"{record.name}: {body.get('error') or body.get('errorMessage')}",
                           f"see the log group /aws/lambda/{record.name}")
        return base64.b64decode(body.get("stdout_b64", ""))
