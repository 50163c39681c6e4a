"""What every AWS stack module shares: deterministic names, the deployment's tags, and the journal.

Names are derived from the stack and the part (``<stack>-<part>``, the same
names the Terraform renderer gives), so running ``deploy_stack`` again finds
what exists instead of creating twice. Every AWS object carries
``managed-by=pepperpy-cloud`` and ``pepperpy-cloud:deployment=<stack>``;
teardown finds parts by those tags, never by name alone, so something that
merely shares a name is never deleted.

The :class:`Journal` writes each part into the state store the moment AWS
has accepted it (the deployment row's spec plus one event), so a run that
dies half-way leaves a record of exactly what exists; a failed apply undoes
what that call created, newest first, and records what it could not undo.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.providers.aws.resources import MANAGED_BY, derived_name
from pepperpy.cloud.providers.aws.session import AWSError

if TYPE_CHECKING:
    from pepperpy.cloud.deploy.state import StateStore
    from pepperpy.cloud.providers.aws.network import Network
    from pepperpy.cloud.providers.aws.session import AWSSession
    from pepperpy.cloud.spec.stack import Stack

DEPLOYMENT_TAG = "pepperpy-cloud:deployment"
PART_TAG = "pepperpy-cloud:part"
ROLE_PATH = "/pepperpy-cloud/"
Progress = Callable[[str], None]


def stack_tags(deployment: str, part: str) -> dict[str, str]:
    """The tags of one part of deployment ``deployment``."""
    return {MANAGED_BY[0]: MANAGED_BY[1], DEPLOYMENT_TAG: deployment, PART_TAG: part}


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """``[{"Key": k, "Value": v}]``, or ECS's ``key``/``value`` spelling."""
    return [{key: k, value: v} for k, v in tags.items()]


def as_dict(tags: Any) -> dict[str, str]:
    """Tags in any of AWS's shapes (dict, ``Key``/``Value`` or ``key``/``value`` lists) as a dict."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    for item in tags or []:
        out[str(item.get("Key", item.get("key")))] = str(item.get("Value", item.get("value")))
    return out


def owned_by(tags: Any, deployment: str) -> bool:
    """Whether ``tags`` mark a part of ``deployment`` made by this tool."""
    found = as_dict(tags)
    return found.get(MANAGED_BY[0]) == MANAGED_BY[1] and found.get(DEPLOYMENT_TAG) == deployment


def part_name(stack: str, part: str, limit: int) -> str:
    """``<stack>-<part>`` within ``limit`` characters (a short hash keeps shortened names distinct)."""
    return derived_name(stack, f"-{part}", limit)


def not_ours(operation: str, what: str, deployment: str) -> AWSError:
    return AWSError(operation, f"{what} exists and is not tagged as part of {deployment!r}; it was left alone",
                    "pick another stack name, or delete or tag that object yourself")


@dataclass
class Ctx:
    """What every step of one apply needs: the session, the stack, its network, the journal, the poll pace."""

    aws: AWSSession
    stack: Stack
    net: Network
    journal: Journal
    wait_delay: float = 30

    @property
    def name(self) -> str:
        return self.stack.name

    def tags(self, part: str) -> dict[str, str]:
        return stack_tags(self.stack.name, part)


@dataclass
class Part:
    """One AWS object of a deployment, as recorded in state (ids and ARNs only, never a secret)."""

    kind: str
    id: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, **self.details}


class Journal:
    """The record of one apply: parts written to state as they appear; undo steps for what this call made."""

    def __init__(self, state: StateStore, deployment: str, spec: dict[str, Any], progress: Progress) -> None:
        self.state = state
        self.deployment = deployment
        self.spec = spec
        self.progress = progress
        self.parts: dict[str, dict[str, Any]] = dict(spec.get("parts", {}))
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def _save(self, status: str) -> None:
        self.spec["parts"] = self.parts
        self.state.upsert_deployment(self.deployment, "aws", self.spec, status=status)

    def begin(self) -> None:
        self._save("deploying")
        self.state.record_event("aws.apply", "apply started", deployment=self.deployment)

    def record(self, part: Part, *, created: bool, undo: Callable[[], None] | None = None) -> None:
        """Remember ``part``; when this call ``created`` it, ``undo`` removes it if the apply fails."""
        key = f"{part.kind}:{part.id}"
        self.parts[key] = part.to_dict()
        self._save("deploying")
        if created:
            self.state.record_event("aws.created", f"{part.kind} {part.id}", deployment=self.deployment)
            self.progress(f"created {part.kind} {part.id}")
            if undo is not None:
                self._undo.append((key, undo))

    def finish(self, status: str = "deployed") -> None:
        self._save(status)
        self.state.record_event("aws.apply", f"apply finished: {status}", deployment=self.deployment)

    def rollback(self, error: str) -> list[str]:
        """Undo what this call created, newest first; returns the parts that could not be removed."""
        self.state.record_event("aws.failed", error, deployment=self.deployment)
        left: list[str] = []
        for key, step in reversed(self._undo):
            try:
                step()
            except Exception as exc:  # keep going: every part we can remove, we remove
                left.append(key)
                self.state.record_event("aws.rollback-failed", f"{key}: {exc}", deployment=self.deployment)
                continue
            self.parts.pop(key, None)
            self.state.record_event("aws.rolled-back", key, deployment=self.deployment)
        self._save("failed")
        return left


def poll(check: Callable[[], bool], *, what: str, delay: float, attempts: int) -> None:
    """Call ``check`` until it answers True; a timeout names what was awaited."""
    for attempt in range(attempts):
        if check():
            return
        if attempt < attempts - 1:
            time.sleep(delay)
    raise AWSError("wait", f"{what} did not happen in {delay * attempts:.0f} s",
                   "check it in the AWS console, then run the command again (it converges)")


@contextlib.contextmanager
def ignoring(*codes: str) -> Iterator[None]:
    """Swallow an AWS error whose code is one of ``codes`` (a part already gone is not a failure)."""
    try:
        yield
    except AWSError as exc:
        if exc.code not in codes:
            raise


def generated_secret(ctx: Ctx, secret_id: str, part: str, description: str) -> str:
    """The ARN of a password this tool generates and keeps only in Secrets Manager (made on first use).

    The value never leaves AWS through us except into the create call of the
    service that needs it; tasks read it by ARN (``valueFrom``).
    """
    import secrets as random

    found = ctx.aws.call("secretsmanager", "describe_secret", SecretId=secret_id,
                         ignore={"ResourceNotFoundException"})
    if found is not None:
        if not owned_by(found.get("Tags"), ctx.name):
            raise not_ours("secretsmanager.CreateSecret", f"secret {secret_id!r}", ctx.name)
        ctx.journal.record(Part("secret", secret_id, {"arn": found["ARN"]}), created=False)
        return str(found["ARN"])
    created = ctx.aws.call("secretsmanager", "create_secret", Name=secret_id, Description=description,
                           SecretString=random.token_urlsafe(24), Tags=tag_list(ctx.tags(part)))
    arn = str(created["ARN"])
    ctx.journal.record(Part("secret", secret_id, {"arn": arn}), created=True,
                       undo=lambda: delete_secret(ctx.aws, secret_id))
    return arn


def read_secret(aws: AWSSession, secret_id: str) -> str:
    """A generated password, read at the moment a create call needs it (never stored by us)."""
    return str(aws.call("secretsmanager", "get_secret_value", SecretId=secret_id)["SecretString"])


def delete_secret(aws: AWSSession, secret_id: str) -> None:
    aws.call("secretsmanager", "delete_secret", SecretId=secret_id, ForceDeleteWithoutRecovery=True,
             ignore={"ResourceNotFoundException"})


def find_secrets(aws: AWSSession, deployment: str) -> list[str]:
    """Secrets tagged as part of ``deployment`` (generated passwords; the app's own secrets are not)."""
    found = aws.pages("secretsmanager", "list_secrets", "SecretList", Filters=[
        {"Key": "tag-key", "Values": [DEPLOYMENT_TAG]}, {"Key": "tag-value", "Values": [deployment]}])
    return [str(s["Name"]) for s in found if owned_by(s.get("Tags"), deployment)]


def env_prefix(name: str) -> str:
    """``kv-store`` -> ``KV_STORE``: the prefix of a component's connection variables."""
    import re

    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass
class Connection:
    """How a service reaches a component: plain settings and ``{variable: valueFrom ARN}`` for secrets."""

    component: str
    plain: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
