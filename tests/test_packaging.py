"""What an install hands the bookkeeper: copies they may edit, one version, a whole source release.

A system-wide or administrator's install leaves the package read-only (files 0444);
`init` and `--demo` copy from it. The wheel itself is built and run in test_wheel.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest

from automation import __version__, bundled, cli
from automation.cli import main

REPO = Path(__file__).resolve().parent.parent
#: What a wheel is built from (test_wheel.SOURCES).
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "automation", "templates", "workbooks")
#: What the source archive holds besides: the project as a whole.
PROJECT_FOLDERS = ("automation", "templates", "workbooks", "tests", "docs", "scripts", "benchmarks")
PROJECT_FILES = ("pyproject.toml", "MANIFEST.in", "README.md", "run_billing.py", "constraints.txt")
CACHES = ("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".hypothesis", ".mypy_cache")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def read_only_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The bundled templates and sample as `chmod -R a-w` leaves an installed package."""
    installed = tmp_path / "site-packages" / "automation" / "bundled"
    shutil.copytree(bundled.TEMPLATES, installed / "templates")
    shutil.copytree(bundled.SAMPLE_WORKBOOK.parent, installed / "workbooks")
    for path in installed.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    monkeypatch.setattr(cli, "REPO_TEMPLATES", installed / "templates")
    monkeypatch.setattr(cli, "SAMPLE_WORKBOOK", installed / "workbooks" / "service_log.xlsx")
    monkeypatch.setattr(cli, "SAMPLE_CONFIG", installed / "workbooks" / "billing.toml")
    monkeypatch.setattr(cli, "DEMO_DIR", tmp_path / "demo")
    previous = os.umask(0o022)  # a machine where new files are world-readable by default
    try:
        yield installed
    finally:
        os.umask(previous)
        for path in installed.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)  # so that tmp_path can be removed


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_init_from_a_read_only_install_gives_files_the_owner_may_edit(
    read_only_install: Path, tmp_path: Path
) -> None:
    """init kept the installed 0444 (copy2): every starter template was read-only."""
    books = tmp_path / "books"
    assert main(["init", str(books)]) == 0
    made = [p for p in books.rglob("*") if p.is_file()]
    assert books / "templates" / "email" / "en" / "invoice.txt" in made
    assert len([p for p in made if p.suffix == ".docx"]) == 9
    assert {p.relative_to(books).as_posix(): oct(mode(p)) for p in made if mode(p) != 0o600} == {}
    with (books / "templates" / "email" / "en" / "invoice.txt").open("a") as own_wording:
        own_wording.write("# my wording\n")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_demo_from_a_read_only_install_runs_on_a_writable_copy(
    read_only_install: Path, tmp_path: Path
) -> None:
    """--demo stopped with exit 3, "service_log.xlsx ... is read-only for this user"."""
    assert main(["--demo", "--as-of", "2026-11-23"]) == 1  # the sample's two bad rows
    demo = tmp_path / "demo"
    assert mode(demo / "service_log.xlsx") == 0o600 and mode(demo / "billing.toml") == 0o600
    assert len(list((demo / "outbox").glob("*.eml"))) == 8
    assert mode(read_only_install / "workbooks" / "service_log.xlsx") == 0o444  # untouched


def source_copy(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """The named parts of the repository copied to a scratch folder: builds leave their
    egg-info there, not in the tree."""
    source = tmp_path / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns(*CACHES)
    for name in names:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        elif (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    return source


def build_hook(source: Path, call: str) -> Path:
    """setuptools' build backend `call` run in `source` (no network, no isolation): the
    folder `out` it writes to."""
    out = source / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.{call}('out')"],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def test_the_package_version_is_automation_version(tmp_path: Path) -> None:
    """pyproject.toml wrote the version again: bumping one left `pip show` and
    `run-billing --version` saying different versions."""
    source = source_copy(tmp_path, PACKAGE_SOURCES)
    init = source / "automation" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{__version__}"', '"9.8.7"'), encoding="utf-8")
    out = build_hook(source, "prepare_metadata_for_build_wheel")
    [metadata] = out.glob("*.dist-info/METADATA")
    assert "\nVersion: 9.8.7\n" in metadata.read_text(encoding="utf-8")


def test_the_source_archive_is_the_whole_project(tmp_path: Path) -> None:
    """The sdist held tests/test_*.py without conftest.py and the other helpers (70
    collection errors), and no docs/, run_billing.py or constraints.txt."""
    source = source_copy(tmp_path, PROJECT_FOLDERS + PROJECT_FILES)
    (source / "tests" / "__pycache__").mkdir(exist_ok=True)
    (source / "tests" / "__pycache__" / "conftest.cpython-311.pyc").write_bytes(b"stale")
    [archive] = build_hook(source, "build_sdist").glob("*.tar.gz")
    with tarfile.open(archive) as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    wanted = {
        path.relative_to(REPO).as_posix()
        for folder in PROJECT_FOLDERS
        for path in (REPO / folder).rglob("*")
        if path.is_file()
        and not any(
            fnmatch(part, cache) for part in path.relative_to(REPO).parts for cache in CACHES
        )
    }
    assert {"tests/conftest.py", "tests/smtp_servers.py", "docs/workbook.md"} <= wanted
    assert sorted(wanted - names) == []
    assert sorted(set(PROJECT_FILES) - names) == []
    assert [name for name in names if "__pycache__" in name or name.endswith(".pyc")] == []
