"""``${SECRET:name}`` on AWS: the secret ``<secrets_prefix><name>`` in AWS Secrets Manager.

The same surface as the local :class:`~pepperpy.cloud.deploy.secrets.SecretStore`
(``set``, ``get``, ``names``, ``delete``, ``resolve``, ``redactor``), so code that
resolves a deployment's environment does not care where the values live. A
secret set here is tagged ``managed-by=pepperpy-cloud``; ``names`` lists only
those, while ``get``/``resolve`` read any secret the credentials may read (a
team's existing ``openai-api-key`` works as is). Values never appear in
errors, ``repr`` or listings; deletion skips the recovery window so nothing
tagged is left behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pepperpy.cloud.catalog.store import closest
from pepperpy.cloud.deploy.secrets import CloudSecretStore, validate_name
from pepperpy.cloud.errors import InputError, NotFoundError
from pepperpy.cloud.providers.aws.resources import MANAGED_BY, _tag_list, is_ours

if TYPE_CHECKING:
    from pepperpy.cloud.providers.aws import AWSProvider

SECRET_TAG = "pepperpy-cloud:secret"
_MISSING = {"ResourceNotFoundException"}


class AWSSecretStore(CloudSecretStore):
    """Secrets Manager as the provider's secret store; see the module docstring."""

    def __init__(self, provider: AWSProvider) -> None:
        self.aws = provider.session()
        self.prefix = str(provider.options.get("secrets_prefix", ""))

    def __repr__(self) -> str:
        return f"AWSSecretStore(region={self.aws.region!r}, prefix={self.prefix!r})"

    def _id(self, name: str) -> str:
        return f"{self.prefix}{validate_name(name)}"

    def set(self, name: str, value: str) -> None:
        """Create or update the secret; tagged so ``names`` and teardown find it."""
        secret_id = self._id(name)
        if not isinstance(value, str) or not value:
            raise InputError("secret value", f"the value of {name!r} is empty")
        tags = _tag_list({MANAGED_BY[0]: MANAGED_BY[1], SECRET_TAG: name, "pepperpy-cloud:name": name})
        created = self.aws.call("secretsmanager", "create_secret", Name=secret_id, SecretString=value, Tags=tags,
                                ignore={"ResourceExistsException"})
        if created is None:
            self.aws.call("secretsmanager", "put_secret_value", SecretId=secret_id, SecretString=value)
            self.aws.call("secretsmanager", "tag_resource", SecretId=secret_id, Tags=tags)

    def get(self, name: str) -> str:
        found = self.aws.call("secretsmanager", "get_secret_value", SecretId=self._id(name), ignore=_MISSING)
        if found is None:
            raise self._missing(name)
        return str(found["SecretString"])

    def names(self) -> list[str]:
        """The secrets this tool set (tagged), by their ``${SECRET:name}`` name."""
        found = []
        for item in self.aws.pages("secretsmanager", "list_secrets", "SecretList",
                                   Filters=[{"Key": "tag-key", "Values": [SECRET_TAG]}]):
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            if tags.get(MANAGED_BY[0]) == MANAGED_BY[1] and SECRET_TAG in tags:
                found.append(tags[SECRET_TAG])
        return sorted(found)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.aws.call(
            "secretsmanager", "describe_secret", SecretId=self._id(name), ignore=_MISSING) is not None

    def delete(self, name: str) -> None:
        """Delete at once (no recovery window); only secrets this tool set."""
        described = self.aws.call("secretsmanager", "describe_secret", SecretId=self._id(name), ignore=_MISSING)
        if described is None:
            raise self._missing(name)
        if not is_ours(described.get("Tags"), name):
            raise InputError("secret name", f"{name!r} was not set by pepperpy-cloud; it was left alone",
                             hint="delete it in Secrets Manager yourself if it is yours")
        self.aws.call("secretsmanager", "delete_secret", SecretId=self._id(name), ForceDeleteWithoutRecovery=True)

    def _missing(self, name: str) -> NotFoundError:
        known = self.names()
        return NotFoundError("secret", name, "secret", suggestions=closest(name, known),
                             hint=f"create it in AWS Secrets Manager as {self.prefix}{name!s}, or with "
                                  "AWSProvider(...).secret_store().set(name, value)")
