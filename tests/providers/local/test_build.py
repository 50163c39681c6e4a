"""Per-requirements virtualenvs: real builds with the configured pip index, cache hits, failures leave nothing."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from pepperpy.cloud.errors import BuildError, InputError
from pepperpy.cloud.providers.local import build
from pepperpy.cloud.providers.local.build import BuildResult, build_environment, environment_key, read_manifest


def _app(tmp_path: Path, requirements: str | None) -> Path:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    if requirements is not None:
        (app / "requirements.txt").write_text(requirements)
    return app


def _leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "venvs").iterdir() if p.is_dir())


def test_empty_requirements_build_then_cache_hit(tmp_path: Path, home: Path) -> None:
    app = _app(tmp_path, "# nothing yet\n\n")
    lines: list[str] = []
    first = build_environment(app, "requirements.txt", progress=lines.append)
    assert not first.cache_hit
    assert first.venv == home / "venvs" / first.key
    assert first.key == environment_key(b"# nothing yet\n\n")
    assert subprocess.run([first.python, "-c", "import sys; assert sys.prefix != sys.base_prefix"],
                          check=False).returncode == 0
    manifest = read_manifest(first.venv)
    assert manifest["key"] == first.key
    assert {"python", "requirements_sha256", "created_at"} <= set(manifest)
    assert any("building" in line for line in lines)

    second = build_environment(app, "requirements.txt")
    assert second.cache_hit
    assert second.venv == first.venv
    assert _leftovers(home) == [first.key]


def test_small_package_installed_isolated_and_relocated(tmp_path: Path, home: Path) -> None:
    app = _app(tmp_path, "six\n")
    lines: list[str] = []
    result = build_environment(app, "requirements.txt", progress=lines.append)
    assert not result.cache_hit
    assert any("six" in line for line in lines)  # the installer's own output is streamed
    probe = subprocess.run(
        [result.python, "-c", "import six, importlib.util as u; print(u.find_spec('psutil') is None)"],
        capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "True"  # isolated: nothing from the CLI's environment leaks in
    for path in result.bin_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            assert b".tmp-" not in path.read_bytes(), path  # scripts point at the final directory

    again = build_environment(app, "requirements.txt")
    assert again.cache_hit and again.key == result.key
    # Another requirements file is another environment.
    other = build_environment(_app(tmp_path, "six  # same package, other bytes\n"), "requirements.txt")
    assert other.key != result.key and not other.cache_hit


def test_failing_requirement_raises_with_pip_output_and_leaves_nothing(tmp_path: Path, home: Path) -> None:
    app = _app(tmp_path, "this-package-does-not-exist-xyz==0\n")
    with pytest.raises(BuildError) as caught:
        build_environment(app, "requirements.txt")
    error = caught.value
    assert "this-package-does-not-exist-xyz" in str(error)
    assert "No matching distribution" in str(error)
    assert 0 < len(error.output_tail) <= 20
    assert _leftovers(home) == []


def test_missing_requirements_file_names_it(tmp_path: Path) -> None:
    app = _app(tmp_path, None)
    with pytest.raises(InputError) as caught:
        build_environment(app, "requirements-prod.txt")
    assert "requirements-prod.txt" in str(caught.value)


def test_no_requirements_file_gives_bare_env(tmp_path: Path) -> None:
    result = build_environment(_app(tmp_path, None), None)
    assert result.python.exists() and not result.cache_hit


def test_uv_requested_but_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda _name: None)
    with pytest.raises(BuildError, match="uv"):
        build_environment(_app(tmp_path, ""), "requirements.txt", installer="uv")


def test_concurrent_builds_of_one_key_build_once(tmp_path: Path, home: Path) -> None:
    app = _app(tmp_path, "six\n")
    results: list[BuildResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(build_environment(app, "requirements.txt"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(r.cache_hit for r in results) == [False, True]
    assert len({r.venv for r in results}) == 1


def test_leftover_from_killed_build_is_cleared(tmp_path: Path, home: Path) -> None:
    app = _app(tmp_path, "")
    key = environment_key(b"")
    stale = home / "venvs" / f"{key}.tmp-999999"
    (stale / "bin").mkdir(parents=True)
    half = home / "venvs" / key  # a final dir without manifest: never a cache hit
    (half / "bin").mkdir(parents=True)
    result = build_environment(app, "requirements.txt")
    assert not result.cache_hit
    assert not stale.exists()
    assert _leftovers(home) == [key]


def test_fallback_without_outer_pip_has_working_console_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the CLI's own interpreter has no usable pip, the venv gets its own; its scripts survive the rename."""
    monkeypatch.setattr(build, "_pip_supports_python_flag", lambda: False)
    result = build_environment(_app(tmp_path, "six\n"), "requirements.txt", installer="pip")
    script = result.bin_dir / "pip"
    assert script.read_text().splitlines()[0].startswith(f"#!{result.bin_dir}/python")
    assert subprocess.run([script, "--version"], capture_output=True, check=False).returncode == 0
