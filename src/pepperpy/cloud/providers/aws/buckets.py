"""The stack's S3 buckets, named and configured like the ``terraform-aws`` render's buckets.

One bucket per entry of ``buckets`` (plus ``backups`` when ``usage.object_storage_gb``
stores data, as the renderer does), named ``<stack>-<bucket>-<account id>`` so the
global name is the account's. Owner-enforced (no ACLs), public access blocked
(a ``public-read`` bucket allows only its own read policy), default encryption
(SSE-S3: no KMS key is created by the provider), versioned unless the stack says
otherwise, TLS required, unfinished uploads and old versions expire. Teardown
removes every object version and delete marker first (the same code as
``ResourceManager``'s S3 buckets).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pepperpy.cloud.providers.aws.parts import Ctx, Part, not_ours, owned_by, tag_list
from pepperpy.cloud.providers.aws.resources import AWSResources
from pepperpy.cloud.providers.aws.session import AWSSession, error_code
from pepperpy.cloud.render.terraform_common import bucket_names


def bucket_name(ctx: Ctx, name: str) -> str:
    return f"{ctx.name}-{name}-{ctx.aws.account_id()}"[:63].rstrip("-")


def _tags(aws: AWSSession, bucket: str) -> object:
    found = aws.call("s3", "get_bucket_tagging", Bucket=bucket, ignore={"NoSuchTagSet", "NoSuchBucket"})
    return (found or {}).get("TagSet", [])


def _exists(aws: AWSSession, bucket: str) -> bool:
    try:
        aws.client("s3").head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
            return False
        raise aws.translate(exc, "s3.HeadBucket") from None
    return True


def ensure_all(ctx: Ctx, backend: AWSResources) -> list[str]:
    """Every bucket of the stack, created or converged; returns their names."""
    made = []
    for name, versioning, private in bucket_names(ctx.stack):
        bucket = bucket_name(ctx, name)
        if _exists(ctx.aws, bucket):
            if not owned_by(_tags(ctx.aws, bucket), ctx.name):
                raise not_ours("s3.CreateBucket", f"bucket {bucket!r}", ctx.name)
            ctx.journal.record(Part("s3-bucket", bucket, {"bucket": name}), created=False)
        else:
            params: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
            if ctx.aws.region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": ctx.aws.region}
            ctx.aws.call("s3", "create_bucket", **params)
            ctx.journal.record(Part("s3-bucket", bucket, {"bucket": name}), created=True,
                               undo=_undo_bucket(backend, bucket))
        _configure(ctx, bucket, name, versioning, private, backend)
        made.append(bucket)
    return made


def _undo_bucket(backend: AWSResources, bucket: str) -> Callable[[], None]:
    return lambda: backend._delete_bucket(bucket, bucket, check_tags=False)


def _configure(ctx: Ctx, bucket: str, name: str, versioning: bool, private: bool, backend: AWSResources) -> None:
    aws = ctx.aws
    aws.call("s3", "put_bucket_tagging", Bucket=bucket, Tagging={"TagSet": tag_list(ctx.tags(f"s3-bucket/{name}"))})
    aws.call("s3", "put_public_access_block", Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": private,
        "RestrictPublicBuckets": private})
    aws.call("s3", "put_bucket_encryption", Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    backend._bucket_versioning(bucket, versioning)
    aws.call("s3", "put_bucket_lifecycle_configuration", Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "tidy", "Status": "Enabled", "Filter": {},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]})
    arn = f"arn:aws:s3:::{bucket}"
    statements: list[dict[str, object]] = [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    if not private:
        statements.append({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"{arn}/*"})
    aws.call("s3", "put_bucket_policy", Bucket=bucket,
             Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def destroy(aws: AWSSession, deployment: str, backend: AWSResources) -> list[str]:
    """Every bucket tagged as part of ``deployment``, with all its object versions."""
    gone = []
    for bucket in aws.call("s3", "list_buckets").get("Buckets", []):
        name = str(bucket["Name"])
        if name.startswith(f"{deployment}-") and owned_by(_tags(aws, name), deployment):
            backend._delete_bucket(name, name, check_tags=False)
            gone.append(f"s3-bucket:{name}")
    return gone
