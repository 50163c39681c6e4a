"""A stack on Google Cloud: its services on Cloud Run v2, deployed, scaled and destroyed, recorded in the state store.

Apply, in order: the app's ``${SECRET:name}`` values into Secret Manager
(``<stack>-<name>``; a secret that already has a version there is used as is, a
missing one is copied from the local secret store, and when neither has it the
deploy is refused before anything is made, naming every missing secret), the
stack's Artifact Registry repository when a service is built from source, then
one Cloud Run service per service (:mod:`.cloudrun`: min/max instances, port,
probes, secrets as ``secretKeyRef``). Each part is written to the state store as
soon as Google has it; a failed apply deletes what that run created, newest
first, and records anything it could not delete.

Images: a service built from ``source`` runs ``<region>-docker.pkg.dev/<project>/<stack>/<service>:<version>``.
Docker is not driven here: until that tag exists the service runs Google's public
placeholder (``us-docker.pkg.dev/cloudrun/container/hello``, so Cloud Run accepts the
revision and ``.url`` answers), the result says ``image_pushed=False`` and gives the
``push_commands``; deploying again after the push switches to the real image.

Before the secrets, the stack's service account (:mod:`.iam`, ``<stack[:24]>-app``) that every
Cloud Run service runs as; it is granted ``roles/secretmanager.secretAccessor`` on each secret a
service reads, ``roles/artifactregistry.reader`` on the repository, ``roles/storage.objectUser`` on
each bucket and, with a Cloud SQL component, ``roles/cloudsql.client`` on the project (each a
read-modify-write of the policy with its etag).

Components, before the services: ``buckets`` → GCS buckets (:mod:`.buckets`); a managed
``postgres`` → a Cloud SQL instance ``<stack>-<component>`` with database ``app`` and user
``pepperpy`` (passwords generated into Secret Manager, as ``ResourceManager`` does), mounted in
the services at ``/cloudsql``; a managed ``redis`` → a Memorystore instance (AUTH and TLS), reached
through direct VPC egress on the ``default`` network. The services get ``<COMPONENT>_HOST``,
``_PORT``, ``_USER``, ``_DB`` / ``_TLS`` as plain variables and ``<COMPONENT>_PASSWORD`` and
``<COMPONENT>_URL`` as Secret Manager references (``<stack>-<component>-password`` / ``-auth`` /
``-url``): the values are only ever in the secret version adds. ``<BUCKET>_BUCKET`` names each
bucket. Other component kinds, and unmanaged ones, are refused before anything is made.

Destroy finds the parts by label (``managed-by=pepperpy-cloud``, ``stack=<name>``),
so it works without the state row, and never deletes what is not labelled ours; bindings on things
that stay (the project, a secret that was not ours) are taken out again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pepperpy.cloud.deploy.state import StateStore
from pepperpy.cloud.errors import DeployError, InputError, NotFoundError, NotSupportedError, PepperpyCloudError
from pepperpy.cloud.providers.gcp import (
    artifact_registry,
    buckets,
    cloudrun,
    cloudsql,
    iam,
    memorystore,
    secret_manager,
)
from pepperpy.cloud.providers.gcp.cloudrun import Wiring
from pepperpy.cloud.providers.gcp.naming import (
    GcpTarget,
    check_region,
    is_ours,
    redis_instance,
    run_service,
    secret_id,
    sql_instance,
)
from pepperpy.cloud.providers.gcp.rest import Applied, GcpClient, GcpRequest, GcpResource, Lro, SecretRef, labels_of
from pepperpy.cloud.render.terraform_common import bucket_names
from pepperpy.cloud.spec.secrets import split_env
from pepperpy.cloud.spec.stack import Component, Replicas, Service, Stack

if TYPE_CHECKING:
    from pepperpy.cloud.providers.gcp import GCPProvider

LEASE_TTL = 3600.0
PLACEHOLDER_IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
DATABASE = "app"
DB_USER = "pepperpy"
NETWORK = "default"
Progress = Callable[[str], None]


def env_prefix(name: str) -> str:
    """``kv-store`` -> ``KV_STORE``: the prefix of a component's connection variables (as on AWS)."""
    import re

    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass(frozen=True)
class GCPDeploymentResult:
    """One service of a stack on Cloud Run: its URL (the service's ``uri``), what runs, and what is still to do."""

    name: str
    service: str
    url: str
    revision: str
    replicas: int
    max_replicas: int
    image: str
    image_pushed: bool
    push_commands: tuple[str, ...] = ()
    running_image: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GCPDeploymentResult:
        return cls(**{**data, "push_commands": tuple(data.get("push_commands") or ())})


def _silent(_message: str) -> None:
    return None


class Journal:
    """The state-store record of one apply: the deployment row's ``parts`` and one event per part, as they appear.

    Like the AWS provider's journal (which writes ``aws`` rows); undo itself is :meth:`GcpClient.undo`.
    """

    def __init__(self, state: StateStore, deployment: str, spec: dict[str, Any], progress: Progress) -> None:
        self.state = state
        self.deployment = deployment
        self.spec = spec
        self.progress = progress
        self.parts: dict[str, dict[str, Any]] = dict(spec.get("parts", {}))

    def save(self, status: str) -> None:
        self.spec["parts"] = self.parts
        self.state.upsert_deployment(self.deployment, "gcp", self.spec, status=status)

    def event(self, kind: str, message: str) -> None:
        self.state.record_event(f"gcp.{kind}", message, deployment=self.deployment)

    def record(self, kind: str, ident: str, *, created: bool, **details: Any) -> None:
        self.parts[f"{kind}:{ident}"] = {"kind": kind, "id": ident, **details}
        self.save("deploying")
        if created:
            self.event("created", f"{kind} {ident}")
            self.progress(f"created {kind} {ident}")

    def failed(self, error: str, undone: list[str], left: list[str]) -> None:
        """After a failed apply: forget what was undone, keep (and say) what was not."""
        self.event("failed", error)
        for key in [k for k, v in self.parts.items() if any(v.get("path") == p for p in undone)]:
            self.parts.pop(key)
            self.event("rolled-back", key)
        for path in left:
            self.event("rollback-failed", path)
        self.save("failed")


class GcpStack:
    """Deploy, scale and destroy stacks on Cloud Run with one provider's credentials; see the module docstring."""

    def __init__(self, provider: GCPProvider, *, progress: Progress | None = None,
                 state: StateStore | None = None) -> None:
        self.provider = provider
        self.progress = progress or _silent
        self.state = state or StateStore.open()
        self._rest: tuple[GcpClient, str] | None = None
        self._new_kept: list[tuple[iam.PolicyOf, str, str]] = []

    def rest(self) -> tuple[GcpClient, str]:
        if self._rest is None:
            self._rest = GcpClient.for_provider(self.provider)
        return self._rest

    def target(self, name: str, region: str | None = None) -> GcpTarget:
        _, project = self.rest()
        return GcpTarget(project, check_region(region or self.provider.region, "Cloud Run"), name)

    # ----------------------------------------------------------------------- apply

    def deploy(self, stack: Stack, stack_dir: Path) -> list[GCPDeploymentResult]:
        """Create or converge every service of ``stack``; one result per service."""
        target = self.target(stack.name)
        services = self._preflight(stack, target)
        with self._lease(stack.name):
            previous = self.state.get_deployment(stack.name)
            if previous is not None and previous.provider != "gcp":
                raise InputError("name", f"{stack.name!r} is already a {previous.provider} deployment",
                                 hint="destroy it there first, or rename the stack")
            copies = self._secret_plan(target, services)
            spec: dict[str, Any] = {"stack": stack.model_dump(mode="json"), "region": target.region,
                                    "project": target.project, "stack_dir": str(stack_dir),
                                    "parts": dict(previous.spec.get("parts", {})) if previous else {}}
            journal = Journal(self.state, stack.name, spec, self.progress)
            journal.save("deploying")
            journal.event("apply", "apply started")
            client, _ = self.rest()
            applied = Applied()
            try:
                results = self._apply(stack, stack_dir, target, services, copies, journal, applied)
            except BaseException as exc:
                undone = [steps[-1].path for steps in applied.created]
                left = client.undo(applied)
                undone += self._revoke_new(left)
                journal.failed(str(exc), [p for p in undone if p not in left], left)
                if isinstance(exc, PepperpyCloudError):
                    kept = f"; could not remove {', '.join(left)} (recorded in state)" if left else ""
                    raise DeployError(f"deploying {stack.name!r} to GCP failed: {exc.message}; what this run created "
                                      f"was removed{kept}", hint=exc.hint) from exc
                raise
            spec["results"] = [r.to_dict() for r in results]
            journal.save("deployed")
            journal.event("apply", "apply finished: deployed")
            for result in results:
                if not result.image_pushed:
                    journal.event("image-needed", " && ".join(result.push_commands))
            return results

    def _preflight(self, stack: Stack, target: GcpTarget) -> list[tuple[str, Service]]:
        """What can be refused before anything exists: components, serverless services, names, Cloud Run sizes."""
        for name, comp in stack.components.items():
            self._check_component(target, name, comp)
        for name, _versioning, _private in bucket_names(stack):
            buckets.name_of(target, name)
        iam.account_id(stack.name)
        services = list(stack.services.items())
        for name, svc in services:
            if svc.runtime != "container":
                raise NotSupportedError(f"GCP deploy_stack: services.{name} has runtime {svc.runtime!r}; Cloud Run "
                                        "services run containers (set runtime: container)")
            run_service(stack.name, name)
            cloudrun.resources(name, svc)
            cloudrun.scaling(name, svc)
        return services

    @staticmethod
    def _check_component(target: GcpTarget, name: str, comp: Component) -> None:
        if not comp.managed or comp.colocate_with:
            raise NotSupportedError(f"GCP deploy_stack: components.{name} ({comp.kind}) is self-hosted (managed: false"
                                    " or colocate_with); Cloud Run runs only the services: set managed: true, or use "
                                    "KubernetesProvider")
        if comp.kind == "postgres":
            cloudsql.database_version(comp)
            sql_instance(target.stack, name, target.project)
        elif comp.kind == "redis":
            redis_instance(target.stack, name)
        else:
            alternative = {"vector_db": "use kind: postgres with extensions: [pgvector] (Cloud SQL)",
                           "mysql": "use kind: postgres, or create Cloud SQL for MySQL yourself",
                           "rabbitmq": "use Pub/Sub yourself, or KubernetesProvider",
                           "nginx": "Cloud Run serves HTTPS itself; drop the component"}.get(comp.kind, "")
            raise NotSupportedError(f"GCP deploy_stack: components.{name} ({comp.kind}) is not deployed on GCP; "
                                    f"managed postgres → Cloud SQL and redis → Memorystore are; {alternative}")
        for secret in _component_secrets(name, comp):
            secret_id(target.stack, secret)

    def _secret_plan(self, target: GcpTarget, services: list[tuple[str, Service]]) -> dict[str, str]:
        """{secret: value to copy from the local store}; refuses, naming them all, when some have no value anywhere."""
        client, _ = self.rest()
        wanted = sorted({s for _, svc in services for s in split_env(svc.env)[1].values()})
        missing: list[str] = []
        copies: dict[str, str] = {}
        local = None
        for name in wanted:
            if client.send(secret_manager.latest_version(target, name)) is not None:
                continue
            if local is None:
                from pepperpy.cloud.deploy.secrets import SecretStore

                local = SecretStore.open()
            if name in local:
                copies[name] = local.get(name)
            else:
                missing.append(name)
        if missing:
            ids = ", ".join(secret_id(target.stack, m) for m in missing)
            raise InputError("secrets", f"GCP deploy {target.stack!r}: no value for {', '.join(missing)} in the local "
                             f"secret store nor in Secret Manager ({ids})",
                             hint=f"fix: pepperpy-cloud secrets set {missing[0]} (then deploy again), or gcloud "
                                  f"secrets create {secret_id(target.stack, missing[0])} --data-file=VALUE_FILE")
        return copies

    def _ensure(self, resource: GcpResource, target: GcpTarget, applied: Applied) -> tuple[dict[str, Any] | None, bool]:
        """Ensure one part; whether this run created it."""
        client, _ = self.rest()
        before = len(applied.created)
        found = client.ensure(resource, target.stack, applied)
        return found, len(applied.created) > before

    def _apply(self, stack: Stack, stack_dir: Path, target: GcpTarget, services: list[tuple[str, Service]],
               copies: dict[str, str], journal: Journal, applied: Applied) -> list[GCPDeploymentResult]:
        client, _ = self.rest()
        account = iam.service_account(target)
        _, created = self._ensure(account, target, applied)
        journal.record("service-account", iam.account_id(target.stack), created=created, path=account.delete.path,
                       email=iam.account_email(target))
        for name, value in copies.items():
            resource = secret_manager.secret(target, name)
            _, created = self._ensure(resource, target, applied)
            client.send(secret_manager.add_version(target, name), resolve=_constant(value))
            journal.record("secret", secret_id(target.stack, name), created=created, path=resource.delete.path)
        wiring = self._components(stack, target, journal, applied)
        journal.spec["wiring"] = wiring.to_dict()
        journal.spec["service_account"] = iam.account_email(target)
        read = sorted({s for _, svc in services for s in split_env(svc.env)[1].values()} | set(wiring.secrets.values()))
        for name in read:
            found = client.read(secret_manager.secret(target, name)) or {}
            self._grant(iam.secret_policy(target, secret_id(target.stack, name)), iam.SECRET_ACCESSOR, journal,
                        keep=not is_ours(labels_of(found), target.stack))
        if any(not svc.image for _, svc in services):
            repo = artifact_registry.repository(target)
            _, created = self._ensure(repo, target, applied)
            journal.record("artifact-registry", artifact_registry.repository_id(target), created=created,
                           path=repo.delete.path)
            self._grant(iam.repository_policy(target, artifact_registry.repository_id(target)), iam.REGISTRY_READER,
                        journal)
        return [self._service(stack, stack_dir, target, name, svc, journal, applied, wiring)
                for name, svc in services]

    # ----------------------------------------------------------------------- components

    def _components(self, stack: Stack, target: GcpTarget, journal: Journal, applied: Applied) -> Wiring:
        """Buckets, Cloud SQL and Memorystore, in that order; what the services are handed to reach them."""
        plain: dict[str, str] = {}
        secrets: dict[str, str] = {}
        mounts: list[str] = []
        network = None
        for name, versioning, private in bucket_names(stack):
            resource = buckets.bucket(target, name, versioning=versioning, private=private)
            self.progress(f"GCS bucket {resource.create.target}")
            _, created = self._ensure(resource, target, applied)
            journal.record("bucket", resource.create.target, created=created, path=resource.delete.path)
            where = iam.bucket_policy(resource.create.target)
            self._grant(where, iam.BUCKET_USER, journal)
            if not private:
                self._grant(where, iam.PUBLIC_VIEWER, journal, who="allUsers")
            plain[f"{env_prefix(name)}_BUCKET"] = resource.create.target
        for name, comp in stack.components.items():
            prefix = env_prefix(name)
            if comp.kind == "postgres":
                connection = self._postgres(target, name, comp, journal, applied)
                mounts.append(connection)
                plain |= {f"{prefix}_HOST": f"/cloudsql/{connection}", f"{prefix}_PORT": "5432",
                          f"{prefix}_USER": DB_USER, f"{prefix}_DB": DATABASE}
                secrets |= {f"{prefix}_PASSWORD": f"{name}-password", f"{prefix}_URL": f"{name}-url"}
            else:
                host, port = self._redis(target, name, comp, journal, applied)
                network = NETWORK
                plain |= {f"{prefix}_HOST": host, f"{prefix}_PORT": str(port), f"{prefix}_TLS": "true"}
                secrets |= {f"{prefix}_PASSWORD": f"{name}-auth", f"{prefix}_URL": f"{name}-url"}
        if mounts:
            self._grant(iam.project_policy(target.project), iam.SQL_CLIENT, journal, keep=True)
        return Wiring(plain, secrets, tuple(mounts), network)

    def _postgres(self, target: GcpTarget, name: str, comp: Component, journal: Journal, applied: Applied) -> str:
        """The password secrets, the instance, its database and user; the URL secret. Returns the connection name."""
        client, project = self.rest()
        iid = sql_instance(target.stack, name, project)
        self.progress(f"Cloud SQL instance {iid} (several minutes the first time)")
        parts = [secret_manager.secret(target, f"{name}-admin"), secret_manager.secret(target, f"{name}-password"),
                 cloudsql.instance(target, name, comp, high_availability=comp.replicas > 1),
                 cloudsql.database(target, name, DATABASE), cloudsql.user(target, name, DB_USER)]
        client.resolve = secret_manager.SecretManagerSecrets(client, target)
        try:
            for part, kind in zip(parts, ("secret", "secret", "cloud-sql", None, None), strict=True):
                _, created = self._ensure(part, target, applied)
                if kind:
                    journal.record(kind, part.create.target, created=created, path=part.delete.path)
        finally:
            client.resolve = None
        found = client.read(parts[2]) or {}
        connection = str(found.get("connectionName") or f"{project}:{target.region}:{iid}")
        password = self._value(target, f"{name}-password") or ""
        self._put(target, f"{name}-url", f"postgresql://{DB_USER}:{quote(password, safe='')}@/{DATABASE}"
                                         f"?host=/cloudsql/{connection}", journal, applied)
        return connection

    def _redis(self, target: GcpTarget, name: str, comp: Component, journal: Journal,
               applied: Applied) -> tuple[str, int]:
        """The Memorystore instance, then its AUTH string and URL into Secret Manager. Returns (host, port)."""
        client, _ = self.rest()
        resource = memorystore.instance(target, name, comp)
        self.progress(f"Memorystore instance {resource.create.target} (several minutes the first time)")
        _, created = self._ensure(resource, target, applied)
        journal.record("memorystore", resource.create.target, created=created, path=resource.delete.path)
        found = client.read(resource) or {}
        host, port = str(found.get("host") or ""), int(found.get("port") or 6379)
        auth = str((client.send(memorystore.auth_string(target, name)) or {}).get("authString") or "")
        self._put(target, f"{name}-auth", auth, journal, applied)
        self._put(target, f"{name}-url", f"rediss://:{quote(auth, safe='')}@{host}:{port}/0", journal, applied)
        return host, port

    def _value(self, target: GcpTarget, name: str) -> str | None:
        import base64

        client, _ = self.rest()
        found = client.send(secret_manager.access_latest(target, name))
        data = ((found or {}).get("payload") or {}).get("data")
        return base64.b64decode(data).decode() if data else None

    def _put(self, target: GcpTarget, name: str, value: str, journal: Journal, applied: Applied) -> None:
        """Our secret ``name`` holding ``value``: a version is added only when the latest differs."""
        client, _ = self.rest()
        if not value:
            raise DeployError(f"GCP {target.stack!r}: Google returned no value for {secret_id(target.stack, name)!r}",
                              hint="fix: deploy again once the instance is ready")
        resource = secret_manager.secret(target, name)
        _, created = self._ensure(resource, target, applied)
        if created or self._value(target, name) != value:
            client.send(secret_manager.add_version(target, name), resolve=_constant(value))
        journal.record("secret", secret_id(target.stack, name), created=created, path=resource.delete.path)

    def _grant(self, where: iam.PolicyOf, role: str, journal: Journal, *, keep: bool = False,
               who: str | None = None) -> None:
        """Bind ``who`` (the stack's account) to ``role`` on ``where``; ``keep``: the resource outlives the stack,
        so destroy (or a failed first apply) takes the binding out again."""
        client, _ = self.rest()
        member = who or iam.member(self.target(journal.deployment))
        changed = iam.set_member(client, where, role, member)
        if changed and keep:
            self._new_kept.append((where, role, member))
        journal.record("iam-binding", f"{role}@{where.target}", created=changed, path=where.resource, role=role,
                       member=member, keep=keep, policy=asdict(where))

    def _revoke_new(self, left: list[str]) -> list[str]:
        """After a failed apply: take out the bindings it added on things that stay; their paths."""
        client, _ = self.rest()
        done = []
        for where, role, member in self._new_kept:
            try:
                iam.set_member(client, where, role, member, present=False)
            except PepperpyCloudError:
                left.append(f"{where.resource} ({role})")
                continue
            done.append(where.resource)
        self._new_kept.clear()
        return done

    def _service(self, stack: Stack, stack_dir: Path, target: GcpTarget, name: str, svc: Service, journal: Journal,
                 applied: Applied, wiring: Wiring) -> GCPDeploymentResult:
        client, _ = self.rest()
        image, pushed, commands = self._image(stack, stack_dir, target, name, svc)
        running = image if pushed else PLACEHOLDER_IMAGE
        self.progress(f"Cloud Run service {run_service(stack.name, name)} ({running})")
        resource = cloudrun.service(target, name, svc.model_copy(update={"image": running}),
                                    service_account=iam.account_email(target), wiring=wiring)
        _, created = self._ensure(resource, target, applied)
        found = client.read(resource) or {}
        journal.record("cloud-run", run_service(stack.name, name), created=created, path=resource.delete.path,
                       uri=found.get("uri"))
        if not pushed:
            self.progress(f"{name}: push the image, then deploy again:\n  " + "\n  ".join(commands))
        deployment = stack.name if len(stack.services) == 1 else f"{stack.name}-{name}"
        return GCPDeploymentResult(name=deployment, service=name, url=str(found.get("uri") or ""),
                                   revision=str(found.get("latestReadyRevision") or found.get("latestCreatedRevision")
                                                or ""), replicas=svc.replicas.min, max_replicas=svc.replicas.max,
                                   image=image, image_pushed=pushed, push_commands=() if pushed else commands,
                                   running_image=running)

    def _image(self, stack: Stack, stack_dir: Path, target: GcpTarget, name: str,
               svc: Service) -> tuple[str, bool, tuple[str, ...]]:
        """(image, whether it can be pulled, the commands that push it)."""
        if svc.image:
            return svc.image, True, ()
        client, _ = self.rest()
        service = name.replace("_", "-")
        ref = artifact_registry.image(target, service, stack.version)
        pushed = client.send(artifact_registry.tag(target, service, stack.version)) is not None
        context = str((stack_dir / (svc.source or ".")).resolve())
        return ref, pushed, artifact_registry.push_commands(target, ref, context)

    # ----------------------------------------------------------------------- scale

    def scale(self, name: str, replicas: int, service: str | None = None) -> GCPDeploymentResult:
        """Set a service's minimum instances to ``replicas`` (the maximum rises to it if lower): a PATCH."""
        if replicas < 0:
            raise InputError("replicas", f"{replicas} must be >= 0")
        record = self.state.get_deployment(name)
        if record is None or record.provider != "gcp" or not record.spec.get("results"):
            known = [d.name for d in self.state.list_deployments() if d.provider == "gcp"]
            raise NotFoundError("NAME", name, "GCP deployment", suggestions=known)
        results = [GCPDeploymentResult.from_dict(r) for r in record.spec["results"]]
        chosen = [r for r in results if service in (None, r.service)]
        if len(chosen) != 1:
            raise InputError("service", f"name one of the services of {name!r}: "
                             f"{', '.join(r.service for r in results)}")
        current = chosen[0]
        stack = Stack.model_validate(record.spec["stack"])
        bounds = Replicas(min=replicas, max=max(replicas, current.max_replicas, 1))
        svc = stack.services[current.service].model_copy(update={"replicas": bounds, "image": current.running_image})
        with self._lease(name):
            client, _ = self.rest()
            target = self.target(name, record.spec.get("region"))
            update = cloudrun.service(target, current.service, svc, service_account=record.spec.get("service_account"),
                                      wiring=Wiring.from_dict(record.spec.get("wiring"))).update
            assert update is not None  # Cloud Run services are always updatable
            client.send(update)
            self.state.record_event("gcp.scaled", f"{current.service}: {bounds.min}-{bounds.max} instances",
                                    deployment=name)
        result = GCPDeploymentResult.from_dict({**current.to_dict(), "replicas": bounds.min,
                                                "max_replicas": bounds.max})
        record.spec["results"] = [result.to_dict() if r.service == result.service else r.to_dict() for r in results]
        self.state.upsert_deployment(name, "gcp", record.spec, status=record.status)
        return result

    # ----------------------------------------------------------------------- destroy

    def destroy(self, name: str) -> list[str]:
        """Delete every part labelled as part of ``name`` (services first, the service account last)."""
        record = self.state.get_deployment(name)
        if record is not None and record.provider != "gcp":
            raise InputError("name", f"{name!r} is a {record.provider} deployment, not a GCP one")
        target = self.target(name, record.spec.get("region") if record else None)
        with self._lease(name):
            self.state.record_event("gcp.destroy", "destroy started", deployment=name)
            gone: list[str] = []
            try:
                gone += self._delete_listed(target, cloudrun_list(target), "services", "cloud-run", "google")
                gone += self._revoke_kept(record.spec.get("parts", {}) if record else {})
                gone += self._delete_listed(target, memorystore.list_instances(target), "instances", "memorystore",
                                            "google")
                gone += self._delete_sql(target)
                gone += self._delete_buckets(target)
                gone += self._delete_repository(target)
                gone += self._delete_listed(target, secret_manager.list_secrets(target), "secrets", "secret")
                gone += self._delete_account(target)
            except PepperpyCloudError as exc:
                self.state.record_event("gcp.destroy-failed", f"{exc} (removed so far: {len(gone)})",
                                        deployment=name)
                raise
            if record is None and not gone:
                raise NotFoundError("NAME", name, "GCP deployment",
                                    suggestions=[d.name for d in self.state.list_deployments()
                                                 if d.provider == "gcp"])
            self.state.record_event("gcp.destroyed", ", ".join(gone) or "nothing was left", deployment=name)
            if record is not None:
                self.state.delete_deployment(name)
            return gone

    def _delete_listed(self, target: GcpTarget, listing: GcpRequest, key: str, kind: str,
                       lro: Lro = "none") -> list[str]:
        """Delete each listed item labelled ours (by its full name); the rest is left alone."""
        client, _ = self.rest()
        gone = []
        version = listing.path.split("/")[1]
        for item in list(list_all(client, listing, key)):
            if not is_ours(labels_of(item), target.stack):
                continue
            client.send(GcpRequest("DELETE", listing.host, f"/{version}/{item['name']}", None, (), f"delete {kind}",
                                   item["name"].rsplit("/", 1)[-1], lro))
            gone.append(f"{kind}:{item['name'].rsplit('/', 1)[-1]}")
        return gone

    def _revoke_kept(self, parts: dict[str, Any]) -> list[str]:
        """Take the account out of the roles it got on things that outlive the stack (the project, others' secrets)."""
        client, _ = self.rest()
        gone = []
        for key, part in parts.items():
            if part.get("kind") == "iam-binding" and part.get("keep") and isinstance(part.get("policy"), dict):
                where = iam.PolicyOf(**part["policy"])
                iam.set_member(client, where, str(part["role"]), str(part["member"]), present=False)
                gone.append(key)
        return gone

    def _delete_sql(self, target: GcpTarget) -> list[str]:
        """Our Cloud SQL instances: deletion protection off, then the delete (databases and users go with them)."""
        client, project = self.rest()
        gone = []
        base = f"/v1/projects/{project}/instances"
        for item in list(list_all(client, cloudsql.list_instances(target), "items")):
            if not is_ours(labels_of(item), target.stack):
                continue
            iid = str(item["name"])
            client.send(GcpRequest("PATCH", cloudsql.HOST, f"{base}/{iid}",
                                   {"settings": {"deletionProtectionEnabled": False}}, (),
                                   "unprotect Cloud SQL instance", iid, "sql"))
            client.send(GcpRequest("DELETE", cloudsql.HOST, f"{base}/{iid}", None, (), "delete Cloud SQL instance",
                                   iid, "sql"))
            gone.append(f"cloud-sql:{iid}")
        return gone

    def _delete_buckets(self, target: GcpTarget) -> list[str]:
        """Our buckets, each emptied (every object generation) first."""
        client, _ = self.rest()
        gone = []
        for item in list(list_all(client, buckets.list_buckets(target), "items")):
            if not is_ours(labels_of(item), target.stack):
                continue
            bid = str(item["name"])
            for obj in list(list_all(client, buckets.list_objects(bid), "items")):
                client.send(buckets.delete_object(bid, str(obj["name"]), obj.get("generation")))
            client.send(GcpRequest("DELETE", buckets.HOST, f"{buckets.BASE}/{bid}", None, (), "delete bucket", bid))
            gone.append(f"bucket:{bid}")
        return gone

    def _delete_account(self, target: GcpTarget) -> list[str]:
        client, _ = self.rest()
        account = iam.service_account(target)
        found = client.read(account)
        if found is None or not is_ours(labels_of(found), target.stack):
            return []
        client.send(account.delete)
        return [f"service-account:{iam.account_id(target.stack)}"]

    def _delete_repository(self, target: GcpTarget) -> list[str]:
        client, _ = self.rest()
        repo = artifact_registry.repository(target)
        found = client.read(repo)
        if found is None or not is_ours(labels_of(found), target.stack):
            return []
        client.send(repo.delete)
        return [f"artifact-registry:{artifact_registry.repository_id(target)}"]

    @contextlib.contextmanager
    def _lease(self, name: str) -> Iterator[None]:
        with self.state.lock(f"gcp:{name}", ttl=LEASE_TTL):
            yield


def _constant(value: str) -> Callable[[SecretRef], str]:
    """A resolver that puts ``value`` (read from the local store) into the one request being sent."""
    return lambda _ref: value


def cloudrun_list(target: GcpTarget) -> GcpRequest:
    """The region's Cloud Run services (filtered by label on our side: the v2 list has no filter)."""
    return GcpRequest("GET", cloudrun.HOST, f"/v2/{target.parent}/services", None, (), "list Cloud Run services",
                      target.stack)


def list_all(client: GcpClient, request: GcpRequest, key: str) -> Iterator[dict[str, Any]]:
    """Every item of a Google list call, following ``nextPageToken``."""
    from dataclasses import replace

    token = None
    while True:
        query = request.query + ((("pageToken", token),) if token else ())
        page = client.send(replace(request, query=query)) or {}
        yield from (item for item in page.get(key) or [] if isinstance(item, dict))
        token = page.get("nextPageToken")
        if not token:
            return


def _component_secrets(name: str, comp: Component) -> tuple[str, ...]:
    """The Secret Manager secrets (without the stack prefix) a component's connection uses."""
    if comp.kind == "postgres":
        return (f"{name}-admin", f"{name}-password", f"{name}-url")
    return (f"{name}-auth", f"{name}-url")
