"""Service configuration, as seed 001 lays it out: environment variables over ``config/<environment>.yaml``.

Precedence, highest first: keyword arguments, environment variables (seed 001's names, no prefix: ``PORT``,
``ENVIRONMENT``, ``LOG_LEVEL``, ``SECRET_KEY``, ``ALLOWED_ORIGINS``, ``REDIS_URL``, ``CACHE_TTL``,
``OPENAI_API_KEY``, ...), the YAML file of the environment, then the defaults below. The YAML files live in
``--config-dir`` / ``$PEPPERPY_SERVICE_CONFIG_DIR``, else the ones shipped in this package
(``pepperpy/cloud/service/config/{dev,prod,test}.yaml``).

Production refuses to start with the default ``SECRET_KEY`` (or one shorter than 32 characters) or with
``*`` among the allowed origins: both are safe on a laptop and a hole on the internet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from pepperpy.cloud.errors import InputError, SpecError

PACKAGE_CONFIG_DIR = Path(__file__).parent / "config"
CONFIG_DIR_ENV = "PEPPERPY_SERVICE_CONFIG_DIR"
DEFAULT_SECRET_KEY = "insecure-development-secret-key-change-me"
Environment = Literal["development", "testing", "production"]
ALIASES = {"dev": "development", "develop": "development", "test": "testing", "prod": "production"}
FILE_OF = {"development": "dev.yaml", "testing": "test.yaml", "production": "prod.yaml"}


def normalize_environment(value: str) -> str:
    """``prod``/``production`` → ``production``; the file names and the long names both work."""
    name = value.strip().lower()
    return ALIASES.get(name, name)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads one ``config/<environment>.yaml`` (duplicate keys refused, keys case-insensitive)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.data = self._load(path) if path is not None else {}

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        from pepperpy.cloud.spec.loader import load_yaml

        if not path.exists():
            return {}
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise InputError(str(path), "a service config file must be a YAML mapping of setting: value")
        return {str(k).lower(): v for k, v in data.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k in self.settings_cls.model_fields}


class _FileSource(PydanticBaseSettingsSource):
    """``<NAME>_FILE=/path``: the value is the file's content (how Kubernetes and Compose mount secrets).

    The rendered artifacts mount ``SECRET_KEY`` and ``REDIS_URL`` as files; the plain variable wins
    when both are set. A named file that cannot be read is an error naming the variable.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        environ = {k.upper(): v for k, v in os.environ.items()}
        for name in self.settings_cls.model_fields:
            pointer = environ.get(f"{name.upper()}_FILE")
            if not pointer or name.upper() in environ:
                continue
            try:
                values[name] = Path(pointer).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InputError(f"{name.upper()}_FILE", f"cannot read {pointer}: {exc.strerror}",
                                 hint="mount the secret file or unset the variable") from None
        return values


_yaml_path: Path | None = None  # set by load_settings for the duration of one construction


class ServiceSettings(BaseSettings):
    """Every knob of the service; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore",
                                      env_file=None, validate_default=True)

    port: int = Field(8000, ge=1, le=65535)
    environment: Environment = "development"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_url: SecretStr | None = None
    redis_prefix: str = "pepperpy:svc:"
    cache_ttl: int = Field(3600, ge=0, description="seconds an answer stays in Redis; 0 disables Redis caching")
    cache_size: int = Field(1024, ge=0, description="entries of the in-process LRU; 0 disables it")
    rate_limit_per_key: float = Field(20, gt=0, description="requests per second one API key may sustain")
    rate_limit_per_key_burst: int = Field(40, ge=1)
    rate_limit_global: float = Field(500, gt=0, description="requests per second across all keys")
    rate_limit_global_burst: int = Field(1000, ge=1)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_question_chars: int = Field(2000, ge=1, le=2000)
    keys_db: Path | None = None
    docs: bool = True
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    default_provider: str | None = None
    default_model: str | None = None

    @field_validator("environment", mode="before")
    @classmethod
    def _env_alias(cls, v: Any) -> Any:
        return normalize_environment(v) if isinstance(v, str) else v

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        return v

    @model_validator(mode="after")
    def _production_is_safe(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        key = self.secret_key.get_secret_value()
        if key == DEFAULT_SECRET_KEY or len(key) < 32:
            raise ValueError("SECRET_KEY: production needs its own secret of at least 32 characters "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        if "*" in self.allowed_origins:
            raise ValueError("ALLOWED_ORIGINS: '*' is refused in production; list the dashboard's origins")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls), _YamlSource(settings_cls, _yaml_path)

    # -- derived -------------------------------------------------------------------------

    def keys_path(self) -> Path:
        from pepperpy.cloud.service.auth import default_keys_path

        return self.keys_db or default_keys_path()

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        values = [self.secret_key, self.redis_url, self.openai_api_key, self.anthropic_api_key]
        out = [v.get_secret_value() for v in values if v is not None]
        if self.redis_url is not None:
            from urllib.parse import urlsplit

            password = urlsplit(self.redis_url.get_secret_value()).password
            if password:
                out.append(password)
        return [v for v in out if len(v) >= 4]


def config_dir(explicit: str | Path | None = None) -> Path:
    """Where ``<environment>.yaml`` is read from: the argument, ``$PEPPERPY_SERVICE_CONFIG_DIR``, the package."""
    chosen = explicit or os.environ.get(CONFIG_DIR_ENV)
    return Path(chosen) if chosen else PACKAGE_CONFIG_DIR


def load_settings(config_dir_path: str | Path | None = None, environment: str | None = None,
                  **overrides: Any) -> ServiceSettings:
    """Build the settings for ``environment`` (argument, ``$ENVIRONMENT``, else development).

    Raises ``SpecError`` naming the setting when a value is invalid or production is unsafe.
    """
    global _yaml_path
    env_name = normalize_environment(environment or os.environ.get("ENVIRONMENT") or "development")
    if env_name not in FILE_OF:
        raise InputError("ENVIRONMENT", f"{env_name!r} is not one of development, testing, production")
    folder = config_dir(config_dir_path)
    if config_dir_path is not None and not folder.is_dir():
        raise InputError("--config-dir", f"{folder} is not a directory")
    _yaml_path = folder / FILE_OF[env_name]
    try:
        return ServiceSettings(environment=env_name, **overrides)
    except ValidationError as exc:
        from pepperpy.cloud.spec.loader import spec_errors

        raise SpecError(spec_errors(exc), source="service settings") from None
    finally:
        _yaml_path = None
