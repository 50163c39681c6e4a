"""Seed 001's configuration: env variables over config/<environment>.yaml; production refuses unsafe defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepperpy.cloud.errors import InputError, SpecError
from pepperpy.cloud.service.settings import DEFAULT_SECRET_KEY, load_settings

GOOD_KEY = "k" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "ENVIRONMENT", "LOG_LEVEL", "SECRET_KEY", "ALLOWED_ORIGINS", "REDIS_URL", "CACHE_TTL",
                 "PEPPERPY_SERVICE_CONFIG_DIR", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_packaged_yaml_per_environment() -> None:
    dev = load_settings()
    assert dev.environment == "development" and "http://localhost:3000" in dev.allowed_origins
    test = load_settings(environment="test")
    assert test.environment == "testing" and test.allowed_origins == ["http://allowed.test"]
    assert test.log_level == "warning"


def test_environment_variables_override_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("ALLOWED_ORIGINS", "http://localhost:3000, https://seudominio.com/")
    monkeypatch.setenv("CACHE_TTL", "42")
    monkeypatch.setenv("REDIS_URL", "redis://:pw-123456@localhost:6379")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdef")
    s = load_settings()
    assert (s.port, s.log_level, s.cache_ttl) == (9123, "debug", 42)
    assert s.allowed_origins == ["http://localhost:3000", "https://seudominio.com"]
    assert "sk-test-abcdef" not in repr(s) and "pw-123456" not in repr(s)
    assert {"sk-test-abcdef", "pw-123456"} <= set(s.secret_values())


def test_config_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dev.yaml").write_text("port: 7001\nrate_limit_per_key: 3\n")
    monkeypatch.setenv("PEPPERPY_SERVICE_CONFIG_DIR", str(tmp_path))
    s = load_settings()
    assert (s.port, s.rate_limit_per_key) == (7001, 3)
    (tmp_path / "dev.yaml").write_text("port: 1\nport: 2\n")
    with pytest.raises(InputError, match="duplicate key"):
        load_settings()


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SpecError) as info:
        load_settings()
    assert info.value.errors[0][0] == "port"
    with pytest.raises(InputError, match="ENVIRONMENT"):
        load_settings(environment="staging")


def test_production_refuses_the_default_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    with pytest.raises(SpecError, match="SECRET_KEY"):
        load_settings(environment="production")
    monkeypatch.setenv("SECRET_KEY", DEFAULT_SECRET_KEY)
    with pytest.raises(SpecError, match="SECRET_KEY"):
        load_settings(environment="prod")
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(SpecError, match="SECRET_KEY"):
        load_settings(environment="prod")


def test_production_refuses_star_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com,*")
    with pytest.raises(SpecError, match=r"ALLOWED_ORIGINS.*\*"):
        load_settings(environment="production")


def test_production_with_real_values_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    s = load_settings(environment="production")
    assert s.environment == "production" and s.allowed_origins == ["https://app.example.com"]
    assert s.cache_ttl == 3600  # from prod.yaml


def test_secrets_mounted_as_files_are_read_from_name_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pepperpy.cloud.errors import InputError
    from pepperpy.cloud.service.settings import load_settings

    secret = tmp_path / "secret_key"
    secret.write_text("k" * 40 + "\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    settings = load_settings(environment="production")
    assert settings.secret_key.get_secret_value() == "k" * 40
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="SECRET_KEY_FILE: cannot read"):
        load_settings(environment="production")
