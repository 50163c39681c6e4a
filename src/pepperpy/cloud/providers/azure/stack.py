"""A stack on Azure Container Apps: deploy (create or converge), scale and destroy, recorded in the state store.

Deploy, in order, each through :meth:`.arm.ArmClient.ensure` (refused when a resource of
that name is not ours): the stack's resource group, its Key Vault, the app's
``${SECRET:name}`` values copied into the vault from the local secret store (a secret
already in the vault is kept; one in neither place refuses the deploy before anything
is created, naming every missing one), the stack's user-assigned managed identity
``<stack>-id`` with ``Key Vault Secrets User`` on the vault, the container registry with
``AcrPull`` for the identity when a service is built from source, the buckets as blob
containers of the stack's storage account (``Storage Blob Data Contributor`` for the
identity), each managed PostgreSQL as a flexible server (:mod:`.postgres`; its admin
password generated into the vault), each managed Redis as Azure Cache for Redis
(:mod:`.redis`; Entra ID data access for the identity, no access keys), the Container
Apps environment, then one container app per service running as the identity (replicas
and scale rules from ``ScalingConfig``, ingress, probes, Key Vault references).

The apps get each component's connection as environment variables, named as on AWS:
``<NAME>_HOST``, ``_PORT``, ``_USER``, ``_DB``, ``_SSLMODE`` and ``<NAME>_PASSWORD`` as a
Key Vault reference for PostgreSQL; ``<NAME>_HOST``, ``_PORT`` (6380), ``_TLS`` and
``_USERNAME`` (the identity's principal id; the password is an Entra ID token) for Redis;
``AZURE_STORAGE_ACCOUNT_URL`` and ``<BUCKET>_BUCKET`` for buckets; ``AZURE_CLIENT_ID`` (the
identity) for Entra ID sign-in. No secret value is in any request but the vault's secret PUTs.

Departure from the Terraform (private endpoints in the stack's VNet): Container Apps on the
consumption profile without a VNet reach the data stores over their public endpoints, so
those are enabled, with TLS and Entra ID / vault-held passwords; PostgreSQL admits Azure's
own addresses only (the 0.0.0.0 "Azure services" firewall rule).

Every part is written to the state store (the deployment row's ``parts`` and an event)
as soon as ARM has it; a failed deploy deletes what that run created, newest first, and
records what it could not delete. Destroy deletes the recorded parts in reverse order
(role assignments, which take no tags, when their description says they are ours) and
then the resource group when it is ours. Images are not built here (no Docker engine):
results say ``image_pushed=False`` and give the ``az acr login`` / ``docker build`` /
``docker push`` commands.

Refused before any call, with the reason: managed MySQL and RabbitMQ, self-hosted components.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.azure import container_apps, foundation, identity, keyvault, postgres, redis, registry
from pepperpy.cloud.providers.azure.arm import Applied, ArmClient, ArmRequest, SecretRef, subscription_of
from pepperpy.cloud.providers.azure.keyvault import KeyVaultSecrets
from pepperpy.cloud.providers.azure.naming import (
    AzureTarget,
    container_app,
    is_ours,
    key_vault,
    kv_secret,
    storage_account,
)
from pepperpy.cloud.providers.azure.resources import DATABASE, tenant_of
from pepperpy.cloud.render.terraform_common import bucket_names, container_services, managed
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure import AzureProvider

LEASE_TTL = 3600.0
Progress = Callable[[str], None]
Build = Callable[[dict[str, Any]], ArmRequest]  # a request made from the identity's ARM answer
PlanItem = tuple[str | None, ArmRequest | Build]
_ZERO = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_IDENTITY: dict[str, Any] = {"properties": {"principalId": _ZERO, "clientId": _ZERO}}
REDIS_ALIAS = "pepperpy-apps"


def refused_components(stack: Stack) -> list[str]:
    """What ``deploy_stack`` on Azure does not make, each with its reason (empty when everything is made)."""
    out = []
    for name, comp in stack.components.items():
        if comp.kind in ("postgres", "redis") and comp.managed:
            continue
        if comp.kind in ("mysql", "rabbitmq") and comp.managed:
            out.append(f"components.{name}: managed {comp.kind} is not made on Azure yet")
        else:
            out.append(f"components.{name}: a self-hosted {comp.kind} would need its own container app or VM; "
                       "not made on Azure yet")
    return out


def env_prefix(name: str) -> str:
    """``kv-store`` -> ``KV_STORE``: the prefix of a component's connection variables (as on AWS)."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _principal(answer: dict[str, Any]) -> str:
    return str((answer.get("properties") or {}).get("principalId") or "")


def _grant(target: AzureTarget, scope: str, role: str) -> Build:
    return lambda answer: identity.role_assignment(target, scope, role, _principal(answer))


def _redis_access(target: AzureTarget, name: str) -> Build:
    return lambda answer: redis.access_policy_assignment(target, name, _principal(answer), REDIS_ALIAS)


def _app(target: AzureTarget, name: str, svc: Service, ident: str, server: str | None, env: dict[str, str],
         secrets: dict[str, str], entra_users: list[str]) -> Build:
    """The container app, running as the stack's identity; ``AZURE_CLIENT_ID`` picks it for Entra ID sign-in
    (blobs, Redis); ``<REDIS>_USERNAME`` is the identity's principal id, as Entra ID Redis wants."""
    def build(answer: dict[str, Any]) -> ArmRequest:
        client_id = str((answer.get("properties") or {}).get("clientId") or "")
        plain = {**env, "AZURE_CLIENT_ID": client_id}
        plain |= {f"{prefix}_USERNAME": _principal(answer) for prefix in entra_users}
        return container_apps.app(target, name, svc, identity_id=ident, registry=server, connection_env=plain,
                                  connection_secrets=secrets)
    return build


@dataclass(frozen=True)
class AzureDeploymentResult:
    """One service of a stack on Container Apps: its URL (the app's FQDN), what runs, and what is still to do."""

    name: str
    service: str
    url: str
    revision: str
    replicas: int
    image: str
    image_pushed: bool
    push_commands: tuple[str, ...] = ()
    autoscaling: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AzureDeploymentResult:
        return cls(**{**data, "push_commands": tuple(data.get("push_commands") or ())})


class Journal:
    """Parts written to the state store as ARM accepts them (same pattern as ``providers/aws/parts.Journal``).

    That journal writes provider ``aws`` and ``aws.*`` events, so it is not reused as is; this one keeps
    the ARM path of each part, in creation order, which is also the order destroy reverses.
    """

    def __init__(self, state: StateStore, deployment: str, spec: dict[str, Any], progress: Progress) -> None:
        self.state, self.deployment, self.spec, self.progress = state, deployment, spec, progress
        self.parts: dict[str, dict[str, Any]] = dict(spec.get("parts", {}))

    def _save(self, status: str) -> None:
        self.spec["parts"] = self.parts
        self.state.upsert_deployment(self.deployment, "azure", self.spec, status=status)

    def begin(self) -> None:
        self._save("deploying")
        self.state.record_event("azure.apply", "apply started", deployment=self.deployment)

    def record(self, request: ArmRequest, *, created: bool) -> None:
        """Remember the part behind ``request`` (its path and api-version: enough to read or delete it)."""
        key = f"{request.host}{request.path}"
        last = max((p.get("seq", 0) for p in self.parts.values()), default=0)
        self.parts[key] = {"seq": self.parts.get(key, {}).get("seq", last + 1), "kind": request.what.split(" ", 1)[-1],
                           "name": request.target, "path": request.path, "host": request.host,
                           "api_version": request.api_version}
        self._save("deploying")
        if created:
            self.state.record_event("azure.created", f"{self.parts[key]['kind']} {request.target}",
                                    deployment=self.deployment)
            self.progress(f"created {self.parts[key]['kind']} {request.target}")

    def rollback(self, error: str, undone: list[ArmRequest], left: list[str]) -> None:
        """After a failed apply: forget what was deleted again, record what could not be."""
        self.state.record_event("azure.failed", error, deployment=self.deployment)
        for request in undone:
            if request.path in left:
                self.state.record_event("azure.rollback-failed", request.path, deployment=self.deployment)
                continue
            self.parts.pop(f"{request.host}{request.path}", None)
            self.state.record_event("azure.rolled-back", request.path, deployment=self.deployment)
        self._save("failed")

    def finish(self, status: str = "deployed") -> None:
        self._save(status)
        self.state.record_event("azure.apply", f"apply finished: {status}", deployment=self.deployment)


def _silent(_message: str) -> None:
    return None


def part_request(part: dict[str, Any]) -> ArmRequest:
    """The GET of a recorded part."""
    return ArmRequest("GET", part["path"], part["api_version"], None, f"read {part['kind']}", part["name"],
                      part["host"])


class AzureStack:
    """Deploy, scale and destroy stacks on Azure Container Apps; see the module docstring."""

    def __init__(self, provider: AzureProvider, *, progress: Progress | None = None,
                 state: StateStore | None = None, secrets: Callable[[str], str | None] | None = None) -> None:
        self.provider = provider
        self.progress = progress or _silent
        self.state = state or StateStore.open()
        self.secrets = secrets or _local_secret
        self._arm: ArmClient | None = None

    def arm(self, stack: str) -> ArmClient:
        if self._arm is None:
            self._arm = ArmClient.for_provider(self.provider)
        self._arm.resolve = KeyVaultSecrets(self._arm, stack, self.secrets)
        return self._arm

    def target(self, stack: str) -> AzureTarget:
        return AzureTarget(subscription_of(self.provider), self.provider.region, stack,
                           tenant_id=tenant_of(self.provider))

    # ----------------------------------------------------------------------- deploy

    def deploy(self, stack: Stack, stack_dir: Path) -> list[AzureDeploymentResult]:
        """Create or converge every part of ``stack``; one result per container service."""
        target = self.target(stack.name)
        plan = self._plan(stack, target)  # everything refusable is refused here, before any call
        arm = self.arm(stack.name)
        self._check_secrets(stack, arm)
        with self._lease(stack.name):
            previous = self.state.get_deployment(stack.name)
            if previous is not None and previous.provider != "azure":
                raise InputError("name", f"{stack.name!r} is already a {previous.provider} deployment",
                                 hint="destroy it there first, or rename the stack")
            spec: dict[str, Any] = {"stack": stack.model_dump(mode="json"), "region": target.location,
                                    "subscription_id": target.subscription_id, "stack_dir": str(stack_dir),
                                    "parts": dict(previous.spec.get("parts", {})) if previous else {}}
            journal = Journal(self.state, stack.name, spec, self.progress)
            journal.begin()
            applied = Applied()
            try:
                answers = self._apply(plan, stack, arm, journal, applied)
            except PepperpyCloudError as exc:
                left = arm.undo(applied)
                journal.rollback(str(exc), applied.created, left)
                kept = f"; could not remove {', '.join(left)} (recorded in state)" if left else ""
                why = getattr(exc, "problem", exc.message)  # the hint is given once, as the error's own
                raise DeployError(f"deploying {stack.name!r} to Azure failed: {why}; what this run created was "
                                  f"removed{kept}", hint=exc.hint) from exc
            results = [self._result(stack, stack_dir, name, svc, answers[name]) for name, svc in
                       container_services(stack)]
            spec["results"] = [r.to_dict() for r in results]
            journal.finish("deployed")
            for result in results:
                if not result.image_pushed:
                    self.state.record_event("azure.image-needed", " && ".join(result.push_commands),
                                            deployment=stack.name)
            return results

    def _plan(self, stack: Stack, target: AzureTarget) -> list[PlanItem]:
        """The requests in order, each with the service it is the app of (None for shared parts).

        Requests that need the identity's principal are builders called with the identity's ARM answer; each
        is built once here with a placeholder, so a bad name or size is refused before any call.
        """
        refused = refused_components(stack)
        if refused:
            raise NotSupportedError(f"Azure deploy_stack: {'; '.join(refused)}",
                                    hint="fix: mark postgres/redis components managed: true, or run the stack on "
                                         "AWS or Kubernetes")
        services = container_services(stack)
        vault_path = keyvault.vault(target).path
        plan: list[PlanItem] = [
            (None, foundation.resource_group(target)), (None, keyvault.vault(target)),
            (None, identity.identity(target)),
            (None, _grant(target, vault_path, identity.KEY_VAULT_SECRETS_USER)),
        ]
        if any(not svc.image for _, svc in services):
            acr = registry.registry(target)
            plan += [(None, acr), (None, _grant(target, acr.path, identity.ACR_PULL))]
        env: dict[str, str] = {}
        secrets: dict[str, str] = {}
        entra_users: list[str] = []
        buckets = bucket_names(stack)
        if buckets:
            account = foundation.storage_account_request(target, public_read=any(not p for _, _, p in buckets),
                                                         public_network=True)
            plan += [(None, account),
                     (None, foundation.blob_service(target, versioning=any(v for _, v, _ in buckets)))]
            plan += [(None, foundation.blob_container(target, name, public_read=not private))
                     for name, _, private in buckets]
            plan.append((None, _grant(target, account.path, identity.STORAGE_BLOB_DATA_CONTRIBUTOR)))
            env["AZURE_STORAGE_ACCOUNT_URL"] = f"https://{storage_account(stack.name)}.blob.core.windows.net"
            env |= {f"{env_prefix(name)}_BUCKET": name for name, _, _ in buckets}
        for name, comp in managed(stack, "postgres"):
            plan += [(None, r) for r in postgres.requests(target, name, comp, public_network=True)]
            plan.append((None, postgres.allow_azure_services(target, name)))
            prefix = env_prefix(name)
            env |= {f"{prefix}_HOST": postgres.host(stack.name, name), f"{prefix}_PORT": "5432",
                    f"{prefix}_USER": postgres.ADMIN_LOGIN, f"{prefix}_DB": DATABASE, f"{prefix}_SSLMODE": "require"}
            secrets[f"{prefix}_PASSWORD"] = postgres.admin_secret(target, name).name
        for name, comp in managed(stack, "redis"):
            plan.append((None, redis.cache(target, name, comp, public_network=True)))
            plan.append((None, _redis_access(target, name)))
            prefix = env_prefix(name)
            env |= {f"{prefix}_HOST": redis.host(stack.name, name), f"{prefix}_PORT": str(redis.SSL_PORT),
                    f"{prefix}_TLS": "true"}
            entra_users.append(prefix)
        plan.append((None, container_apps.environment(target)))
        ident = identity.identity_path(target)
        for name, svc in services:
            built = svc.image is None
            runs = svc if not built else svc.model_copy(update={"image": self._image(stack, name, svc)})
            plan.append((name, _app(target, name, runs, ident, registry.login_server(stack.name) if built else None,
                                    env, secrets, entra_users)))
        for _service, item in plan:  # every builder checked now, before any call
            if not isinstance(item, ArmRequest):
                item(PLACEHOLDER_IDENTITY)
        return plan

    def _check_secrets(self, stack: Stack, arm: ArmClient) -> None:
        """Refuse, in one line, every ``${SECRET:name}`` neither in the local store nor already in the vault."""
        names = sorted({s for _, svc in container_services(stack) for s in split_env(svc.env)[1].values()})
        missing = [n for n in names if not self.secrets(n)]
        if missing and arm.send(keyvault.vault(self.target(stack.name)).get()) is not None:
            missing = [n for n in missing if arm.send(keyvault.read_secret(stack.name, n)) is None]
        if missing:
            vault = key_vault(stack.name)
            raise InputError("secrets", f"Azure deploy {stack.name!r}: no value for {', '.join(missing)} in the local "
                             f"secret store or Key Vault {vault!r}",
                             hint=f"fix: pepperpy-cloud secrets set {missing[0]} (copied to the vault on deploy), or "
                                  f"az keyvault secret set --vault-name {vault} --name {kv_secret(missing[0])} "
                                  "--file VALUE_FILE")

    def _apply(self, plan: list[PlanItem], stack: Stack, arm: ArmClient, journal: Journal,
               applied: Applied) -> dict[str, dict[str, Any]]:
        answers: dict[str, dict[str, Any]] = {}
        names = sorted({s for _, svc in container_services(stack) for s in split_env(svc.env)[1].values()})
        made: dict[str, Any] = dict(PLACEHOLDER_IDENTITY)
        for service, item in plan:
            request = item if isinstance(item, ArmRequest) else item(made)
            before = len(applied.created)
            if identity.is_role_assignment(request.path):
                answer = self._ensure_grant(arm, request, stack.name, applied) or {}
            else:
                answer = arm.ensure(request, stack.name, applied) or {}
            journal.record(request, created=len(applied.created) > before)
            if request.what == "create Key Vault":
                for secret in names:  # copied now that the vault exists; a value already there is kept
                    if arm.resolve is not None:
                        arm.resolve(SecretRef(secret))
            if request.what == "create managed identity":
                made = answer
                if not (answer.get("properties") or {}).get("principalId"):
                    raise DeployError(f"Azure create managed identity {request.target!r}: ARM gave no principalId",
                                      hint="fix: check the identity in the portal, then deploy again")
            if service is not None:
                answers[service] = answer
        return answers

    @staticmethod
    def _ensure_grant(arm: ArmClient, request: ArmRequest, stack: str, applied: Applied) -> dict[str, Any] | None:
        """A role assignment: PUT once (assignments cannot be updated; the name says scope, role and principal)."""
        found = arm.send(request.get())
        if found is not None:
            if not identity.is_ours(found, stack):
                raise InputError("name", f"Azure {request.what} {request.target!r}: an assignment of that name "
                                 "exists and was not made by pepperpy-cloud for this stack",
                                 hint="fix: remove it with az role assignment delete --ids <id>")
            applied.updated.append(request)
            return found
        answer = arm.send(request)
        applied.created.append(request)
        return answer

    def _image(self, stack: Stack, name: str, svc: Service) -> str:
        return svc.image or registry.image(stack.name, name, stack.version)

    def _result(self, stack: Stack, stack_dir: Path, name: str, svc: Service,
                answer: dict[str, Any]) -> AzureDeploymentResult:
        props = answer.get("properties") or {}
        fqdn = ((props.get("configuration") or {}).get("ingress") or {}).get("fqdn") or ""
        image = self._image(stack, name, svc)
        commands: tuple[str, ...] = ()
        if not svc.image:
            context = (stack_dir / (svc.source or ".")).resolve()
            commands = (f"az acr login --name {image.split('.', 1)[0]}", f"docker build -t {image} {context}",
                        f"docker push {image}")
            self.progress(f"{name}: push the image before Container Apps can start it:\n  " + "\n  ".join(commands))
        deployment = stack.name if len(container_services(stack)) == 1 else f"{stack.name}-{name}"
        return AzureDeploymentResult(name=deployment, service=name, url=f"https://{fqdn}" if fqdn else "",
                                     revision=str(props.get("latestRevisionName") or ""),
                                     replicas=svc.replicas.min, image=image, image_pushed=bool(svc.image),
                                     push_commands=commands, autoscaling=container_apps.scale(name, svc))

    # ----------------------------------------------------------------------- scale

    def scale(self, name: str, replicas: int, service: str | None = None) -> AzureDeploymentResult:
        """Pin a service to ``replicas``: minReplicas = replicas, maxReplicas raised to it if lower."""
        if replicas < 0:
            raise InputError("replicas", f"{replicas} must be >= 0")
        record = self.state.get_deployment(name)
        if record is None or record.provider != "azure" or not record.spec.get("results"):
            known = [d.name for d in self.state.list_deployments() if d.provider == "azure"]
            raise NotFoundError("NAME", name, "Azure deployment", suggestions=known)
        results = [AzureDeploymentResult.from_dict(r) for r in record.spec["results"]]
        chosen = [r for r in results if service in (None, r.service)]
        if len(chosen) != 1:
            raise InputError("service", f"name one of the services of {name!r}: "
                             f"{', '.join(r.service for r in results)}")
        current = chosen[0]
        high = max(replicas, int(current.autoscaling.get("maxReplicas", replicas)))
        app_name = container_app(name, current.service)
        request = ArmRequest("PATCH", self.target(name).provider_path(container_apps.APP_TYPE, app_name),
                             container_apps.API_APPS,
                             {"properties": {"template": {"scale": {"minReplicas": replicas, "maxReplicas": high}}}},
                             "scale container app", app_name)
        with self._lease(name):
            self.arm(name).send(request)
            self.state.record_event("azure.scaled", f"{current.service}: {replicas}..{high} replicas",
                                    deployment=name)
        result = AzureDeploymentResult(**{**current.to_dict(), "replicas": replicas,
                                          "autoscaling": {**current.autoscaling, "minReplicas": replicas,
                                                          "maxReplicas": high}})
        record.spec["results"] = [result.to_dict() if r.service == result.service else r.to_dict() for r in results]
        self.state.upsert_deployment(name, "azure", record.spec, status=record.status)
        return result

    # ----------------------------------------------------------------------- destroy

    def destroy(self, name: str) -> list[str]:
        """Delete the deployment's recorded parts newest first, then its resource group if ours; what went."""
        record = self.state.get_deployment(name)
        if record is not None and record.provider != "azure":
            raise InputError("name", f"{name!r} is a {record.provider} deployment, not an Azure one")
        arm = self.arm(name)
        target = self.target(name)
        parts = sorted((record.spec.get("parts") or {}).values(), key=lambda p: p.get("seq", 0)) if record else []
        with self._lease(name):
            self.state.record_event("azure.destroy", "destroy started", deployment=name)
            gone: list[str] = []
            try:
                for part in reversed(parts):
                    if self._delete_part(arm, part, name):
                        gone.append(f"{part['kind']}:{part['name']}")
                group = arm.send(foundation.resource_group(target).get())
                if group is not None and is_ours(group.get("tags"), name) and not any(
                        g.startswith("resource group:") for g in gone):
                    arm.send(foundation.resource_group(target).delete())
                    gone.append(f"resource group:{target.resource_group}")
            except PepperpyCloudError as exc:
                self.state.record_event("azure.destroy-failed", f"{exc} (removed so far: {len(gone)})",
                                        deployment=name)
                raise
            if record is None and not gone:
                raise NotFoundError("NAME", name, "Azure deployment",
                                    suggestions=[d.name for d in self.state.list_deployments()
                                                 if d.provider == "azure"])
            self.state.record_event("azure.destroyed", ", ".join(gone) or "nothing was left", deployment=name)
            if record is not None:
                self.state.delete_deployment(name)
            return gone

    @staticmethod
    def _delete_part(arm: ArmClient, part: dict[str, Any], stack: str) -> bool:
        """Delete one recorded part if it is still there and ours; whether it was deleted."""
        request = part_request(part)
        found = arm.send(request)
        if found is None:
            return False
        ours = (identity.is_ours(found, stack) if identity.is_role_assignment(request.path)
                else is_ours(found.get("tags"), stack))
        if not ours:
            return False
        arm.send(request.delete())
        return True

    @contextlib.contextmanager
    def _lease(self, name: str) -> Iterator[None]:
        with self.state.lock(f"azure:{name}", ttl=LEASE_TTL):
            yield


def _local_secret(name: str) -> str | None:
    """A value from the local secret store (``pepperpy-cloud secrets set``), or None."""
    from pepperpy.cloud.deploy.secrets import SecretStore

    store = SecretStore.open()
    return store.get(name) if name in store else None
