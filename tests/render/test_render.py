"""Rules for every renderer: deterministic, golden, no secret value anywhere, all-or-nothing writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pepperpy.cloud.errors import InputError, NotFoundError, SpecError
from pepperpy.cloud.render import TARGETS, render, write
from pepperpy.cloud.spec.stack import Stack
from tests.render.conftest import STACKS, load_stack

GOLDEN = Path(__file__).parent / "golden"
SECRET_VALUES = ("sk-live-3f9a1c2e-DO-NOT-LEAK", "hunter2-postgres-pw", "AKIAIOSFODNN7EXAMPLE")


@pytest.mark.parametrize("name", sorted(STACKS))
def test_same_stack_gives_byte_identical_files(name: str) -> None:
    assert render(load_stack(name)) == render(load_stack(name))


@pytest.mark.parametrize("name", sorted(STACKS))
def test_rendered_files_match_golden_copies(name: str) -> None:
    """Any change to a renderer shows up here; refresh with PEPPERPY_UPDATE_GOLDEN=1."""
    files = render(load_stack(name))
    folder = GOLDEN / name
    if os.environ.get("PEPPERPY_UPDATE_GOLDEN"):
        write(files, folder, force=True)
    on_disk = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert sorted(on_disk) == sorted(files)
    for path, text in files.items():
        assert on_disk[path] == text, path


def test_every_target_renders_for_every_example(rendered: Path) -> None:
    folders = {p.relative_to(rendered).parts[0] for p in rendered.rglob("*") if p.is_file()}
    assert {"compose", "kubernetes", "systemd", "terraform"} <= folders
    assert len(TARGETS) == 8


def test_no_secret_value_reaches_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret values live in the environment and the user's home; only references may be rendered."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_VALUES[0])
    monkeypatch.setenv("POSTGRES_PASSWORD", SECRET_VALUES[1])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SECRET_VALUES[2])
    home = Path(os.environ["PEPPERPY_CLOUD_HOME"])
    (home / "secrets").mkdir(parents=True)
    for i, value in enumerate(SECRET_VALUES):
        (home / "secrets" / f"s{i}").write_text(value)
    for name in STACKS:
        out = tmp_path / name
        write(render(load_stack(name)), out)
        for path in out.rglob("*"):
            if path.is_file():
                text = path.read_text()
                assert not any(v in text for v in SECRET_VALUES), path
    assert "${SECRET:openai-api-key}" in (STACKS["bsc-rag"]).read_text()


def test_a_secret_written_in_clear_is_refused() -> None:
    data = {"name": "leaky", "services": {"app": {"image": "x:1", "env": {"OPENAI_API_KEY": "sk-123"}}}}
    with pytest.raises(SpecError, match="services.app.env.*looks like a secret"):
        from pepperpy.cloud.spec.loader import validate

        validate(Stack, data)


def test_invalid_stack_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "pepperpy.yaml"
    bad.write_text("name: demo\nservices:\n  app: {image: 'x:1', replicas: {min: 3, max: 1}}\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", "render", str(bad),
                           "--target", "all", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "services.app.replicas: max (1) must be >= min (3)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_failed_write_leaves_no_partial_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(TypeError):
        write({"ok.txt": "fine", "bad.txt": None}, out)  # type: ignore[dict-item]
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_non_empty_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a.txt": "1"}, out)
    with pytest.raises(InputError, match="not empty"):
        write({"a.txt": "2"}, out)
    write({"b.txt": "2"}, out, force=True)
    assert [p.name for p in out.iterdir()] == ["b.txt"]


def test_unknown_target_lists_the_targets() -> None:
    with pytest.raises(NotFoundError, match="closest: kubernetes"):
        render(load_stack("bsc-rag"), "kubernets")


def test_cli_render_writes_each_target_folder(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    proc = subprocess.run([sys.executable, "-m", "pepperpy.cloud.cli.main", "render", str(STACKS["kv-store"]),
                           "-t", "compose", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "compose" / "compose.yaml").exists() and "wrote" in proc.stdout
