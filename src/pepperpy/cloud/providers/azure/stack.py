"""A stack on Azure Container Apps: deploy (create or converge), scale and destroy, recorded in the state store.

Deploy, in order, each through :meth:`.arm.ArmClient.ensure` (refused when a resource of
that name is not ours): the stack's resource group, its Key Vault, the app's
``${SECRET:name}`` values copied into the vault from the local secret store (a secret
already in the vault is kept; one in neither place refuses the deploy before anything
is created, naming every missing one), the container registry when a service is built
from source, the Container Apps environment, then one container app per service
(replicas and scale rules from ``ScalingConfig``, ingress, probes, Key Vault references).

Every part is written to the state store (the deployment row's ``parts`` and an event)
as soon as ARM has it; a failed deploy deletes what that run created, newest first, and
records what it could not delete. Destroy deletes the recorded parts in reverse order and
then the resource group when it is ours. Images are not built here (no Docker engine):
results say ``image_pushed=False`` and give the ``az acr login`` / ``docker build`` /
``docker push`` commands.

Not yet: managed components and buckets of a stack (refused with the reason), granting the
apps' identities ``AcrPull`` / ``Key Vault Secrets User`` (role assignments; until then
the first revision waits for an administrator to grant them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.azure import container_apps, foundation, keyvault, registry
from pepperpy.cloud.providers.azure.arm import Applied, ArmClient, ArmRequest, SecretRef, subscription_of
from pepperpy.cloud.providers.azure.keyvault import KeyVaultSecrets
from pepperpy.cloud.providers.azure.naming import AzureTarget, container_app, is_ours, key_vault, kv_secret
from pepperpy.cloud.providers.azure.resources import tenant_of
from pepperpy.cloud.render.terraform_common import container_services
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Service, Stack

if TYPE_CHECKING:
    from pepperpy.cloud.providers.azure import AzureProvider

LEASE_TTL = 3600.0
Progress = Callable[[str], None]


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

    def _plan(self, stack: Stack, target: AzureTarget) -> list[tuple[str | None, ArmRequest]]:
        """The requests in order, each with the service it is the app of (None for shared parts)."""
        extra = [f"components.{n}" for n in stack.components] + [f"buckets.{n}" for n in stack.buckets]
        if extra:
            raise NotSupportedError(f"Azure deploy_stack creates container apps only; {', '.join(extra)} not yet",
                                    hint="create databases with ResourceManager(provider=AzureProvider(...)) and "
                                         "pass their connection strings as ${SECRET:name}")
        services = container_services(stack)
        plan: list[tuple[str | None, ArmRequest]] = [(None, foundation.resource_group(target)),
                                                     (None, keyvault.vault(target))]
        if any(not svc.image for _, svc in services):
            plan.append((None, registry.registry(target)))
        plan.append((None, container_apps.environment(target)))
        for name, svc in services:
            built = svc.image is None
            runs = svc if not built else svc.model_copy(update={"image": self._image(stack, name, svc)})
            plan.append((name, container_apps.app(target, name, runs,
                                                  registry=registry.login_server(stack.name) if built else None)))
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

    def _apply(self, plan: list[tuple[str | None, ArmRequest]], stack: Stack, arm: ArmClient, journal: Journal,
               applied: Applied) -> dict[str, dict[str, Any]]:
        answers: dict[str, dict[str, Any]] = {}
        names = sorted({s for _, svc in container_services(stack) for s in split_env(svc.env)[1].values()})
        for service, request in plan:
            before = len(applied.created)
            answer = arm.ensure(request, stack.name, applied) or {}
            journal.record(request, created=len(applied.created) > before)
            if request.what == "create Key Vault":
                for secret in names:  # copied now that the vault exists; a value already there is kept
                    if arm.resolve is not None:
                        arm.resolve(SecretRef(secret))
            if service is not None:
                answers[service] = answer
        return answers

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
        if found is None or not is_ours(found.get("tags"), stack):
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
