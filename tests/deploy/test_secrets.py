"""The local secret store: private files, ciphertext at rest, resolution, redaction and the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pepperpy.cloud.cli.secrets import app
from pepperpy.cloud.deploy.secrets import Redactor, SecretStore, validate_name
from pepperpy.cloud.errors import InputError, NotFoundError, PepperpyCloudError

VALUE = "sk-test-9f8e7d6c5b4a3210"
OTHER = "p@ss word/with:specials"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def every_file_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_files_are_private(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    root = home / "secrets"
    assert store.root == root
    assert mode(root) == 0o700
    assert mode(root / "key") == 0o600 and mode(root / "store.json") == 0o600
    assert all(mode(p) == 0o600 for p in every_file_under(root))


def test_loosened_modes_are_fixed_on_open(home: Path) -> None:
    SecretStore().set("openai", VALUE)
    root = home / "secrets"
    root.chmod(0o755)
    (root / "key").chmod(0o644)
    (root / "store.json").chmod(0o666)
    SecretStore()
    assert mode(root) == 0o700 and mode(root / "key") == 0o600 and mode(root / "store.json") == 0o600


def test_a_symlinked_key_is_refused(home: Path, tmp_path: Path) -> None:
    root = home / "secrets"
    root.mkdir(parents=True)
    elsewhere = tmp_path / "planted-key"
    elsewhere.write_bytes(b"x")
    (root / "key").symlink_to(elsewhere)
    with pytest.raises(PepperpyCloudError, match="not a regular file"):
        SecretStore()


def test_values_are_encrypted_at_rest(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    store.set("db", OTHER)
    data = json.loads((home / "secrets" / "store.json").read_text())
    assert sorted(data["secrets"]) == ["db", "openai"]
    for path in every_file_under(home):
        raw = path.read_bytes()
        assert VALUE.encode() not in raw and OTHER.encode() not in raw, path
    assert SecretStore().get("openai") == VALUE  # a fresh store decrypts with the key on disk


def test_set_get_names_delete(home: Path) -> None:
    store = SecretStore()
    multiline = "-----BEGIN KEY-----\nabc\n-----END KEY-----"
    store.set("tls.key", multiline)
    store.set("openai", VALUE)
    store.set("openai", VALUE + "-rotated")
    assert store.names() == ["openai", "tls.key"]
    assert store.get("tls.key") == multiline and store.get("openai") == VALUE + "-rotated"
    assert "openai" in store and "nope" not in store
    store.delete("openai")
    assert store.names() == ["tls.key"]
    with pytest.raises(NotFoundError):
        store.delete("openai")


def test_missing_secret_lists_names_never_values(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    store.set("db-password", OTHER)
    with pytest.raises(NotFoundError) as err:
        store.get("opneai")
    text = str(err.value)
    assert "'opneai'" in text and "closest: openai" in text and "known secrets: db-password, openai" in text
    assert "pepperpy-cloud secrets set opneai" in text
    assert VALUE not in text and OTHER not in text


def test_resolve_replaces_references_only(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    store.set("db", OTHER)
    env = {"OPENAI_API_KEY": "${SECRET:openai}", "DB_PASSWORD": " ${SECRET:db} ", "MODE": "prod"}
    assert store.resolve(env) == {"OPENAI_API_KEY": VALUE, "DB_PASSWORD": OTHER, "MODE": "prod"}
    assert store.resolve({}) == {}


def test_resolve_names_every_missing_secret_and_no_value(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    with pytest.raises(NotFoundError) as err:
        store.resolve({"OPENAI_API_KEY": "${SECRET:openai}", "HF_TOKEN": "${SECRET:hf}",
                       "DB_PASSWORD": "${SECRET:db}"})
    text = str(err.value)
    assert "environment variable HF_TOKEN: unknown secret 'hf'" in text
    assert "also missing: db (for DB_PASSWORD)" in text and "known secrets: openai" in text
    assert VALUE not in text


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "x" * 129, "${SECRET:x}", "a/b", "ünï"])
def test_bad_names_are_refused(home: Path, name: str) -> None:
    with pytest.raises(InputError, match="not a valid secret name"):
        SecretStore().set(name, VALUE)


def test_good_names_match_spec_references() -> None:
    for name in ("openai", "OPENAI_KEY", "db.password", "a-1", "9lives", "x" * 128):
        assert validate_name(name) == name


def test_empty_value_is_refused(home: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        SecretStore().set("openai", "")


def test_repr_and_str_never_show_values(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    assert VALUE not in repr(store) and VALUE not in str(store) and "1 secrets" in repr(store)
    redactor = store.redactor()
    assert VALUE not in repr(redactor)


def test_redactor_masks_every_known_value(home: Path) -> None:
    redactor = Redactor([VALUE, OTHER, "sk-test", ""])
    text = (f"calling api with {VALUE} failed; dsn=postgresql://u:p%40ss%20word%2Fwith%3Aspecials@h/db "
            f"raw={OTHER} and a prefix sk-test alone")
    out = redactor.redact(text)
    assert VALUE not in out and OTHER not in out and "p%40ss" not in out and "sk-test" not in out
    assert out == ("calling api with *** failed; dsn=postgresql://u:***@h/db raw=*** and a prefix *** alone")
    assert redactor("nothing secret here") == "nothing secret here"
    assert Redactor([]).redact("text") == "text"


def test_store_redactor_covers_stored_values(home: Path) -> None:
    store = SecretStore()
    store.set("openai", VALUE)
    assert store.redactor()(f"Authorization: Bearer {VALUE}") == "Authorization: Bearer ***"


def test_a_replaced_key_is_reported_without_values(home: Path) -> None:
    SecretStore().set("openai", VALUE)
    key = home / "secrets" / "key"
    from cryptography.fernet import Fernet

    key.write_bytes(Fernet.generate_key())
    with pytest.raises(PepperpyCloudError, match="cannot be decrypted") as err:
        SecretStore().get("openai")
    assert VALUE not in str(err.value)


def test_concurrent_writers_lose_nothing(home: Path) -> None:
    import threading

    SecretStore()  # create the key once
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            store = SecretStore()
            for j in range(10):
                store.set(f"s{i}-{j}", f"value-{i}-{j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(SecretStore().names()) == 40


# --- the CLI ------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_set_from_stdin_ls_rm(home: Path) -> None:
    result = runner.invoke(app, ["set", "openai", "--value-stdin"], input=VALUE + "\n")
    assert result.exit_code == 0, result.output
    assert "${SECRET:openai}" in result.output and VALUE not in result.output
    assert SecretStore().get("openai") == VALUE  # the trailing newline was dropped

    runner.invoke(app, ["set", "db", "--value-stdin"], input=OTHER)
    listed = runner.invoke(app, ["ls"])
    assert listed.exit_code == 0 and listed.stdout.split() == ["db", "openai"]
    assert VALUE not in listed.output and OTHER not in listed.output
    as_json = runner.invoke(app, ["ls", "--json"])
    assert json.loads(as_json.stdout) == {"secrets": ["db", "openai"]}
    assert VALUE not in as_json.output and OTHER not in as_json.output

    removed = runner.invoke(app, ["rm", "openai"])
    assert removed.exit_code == 0 and SecretStore().names() == ["db"]
    again = runner.invoke(app, ["rm", "openai"])
    assert again.exit_code != 0 and isinstance(again.exception, NotFoundError)


def test_cli_prompt_hides_the_value(home: Path) -> None:
    result = runner.invoke(app, ["set", "openai"], input=f"{VALUE}\n{VALUE}\n")
    assert result.exit_code == 0, result.output
    assert VALUE not in result.output
    assert SecretStore().get("openai") == VALUE


def test_cli_refuses_a_bad_name_before_reading_a_value(home: Path) -> None:
    result = runner.invoke(app, ["set", "bad name", "--value-stdin"], input=VALUE)
    assert isinstance(result.exception, InputError)
    assert SecretStore().names() == []


def test_cli_ls_when_empty(home: Path) -> None:
    result = runner.invoke(app, ["ls"])
    assert result.exit_code == 0 and result.stdout == "" and "secrets set" in result.output

