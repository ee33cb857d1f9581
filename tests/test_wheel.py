"""The installed tool: a wheel built from this tree, in a fresh venv, used from elsewhere.

The venv sees the machine's packages (`--system-site-packages`) so nothing is
downloaded; the wheel itself is installed with `--no-index`, and the runs use a
clean environment (no PYTHONPATH) from a folder outside the repository, so
only what the wheel carries can be found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from automation import __version__

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "MANIFEST.in", "README.md", "automation", "templates", "workbooks")


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the wheel, the venv's bin folder, the environment to run it in)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so building leaves no build/ in the tree
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    # What Word and LibreOffice leave beside a template open in them: never packed.
    (source / "templates" / "~$invoice.docx").write_bytes(b"lock")
    (source / "templates" / ".~lock.invoice.docx#").write_bytes(b"lock")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "TMPDIR": str(root / "tmp"),
    }
    (root / "tmp").mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(root / "dist"),
            str(source),
        ],
        check=True,
        env=env,
        cwd=root,
        timeout=240,
    )
    [wheel] = list((root / "dist").glob("*.whl"))
    venv.create(root / "venv", system_site_packages=True, with_pip=False)
    bin_dir = root / "venv" / "bin"
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        env=env,
        cwd=root,
        timeout=240,
    )
    return wheel, bin_dir, env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


def test_wheel_holds_every_module_template_and_the_sample(install) -> None:
    wheel, _bin, _env = install
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if "~$" in n or ".~lock." in n]  # editors' lock files
    for path in (REPO / "automation").rglob("*.py"):
        assert path.relative_to(REPO).as_posix() in names
    for folder, inside in (("templates", "templates"), ("workbooks", "workbooks")):
        for path in (REPO / folder).rglob("*"):
            if path.is_file():
                packaged = f"automation/bundled/{inside}/{path.relative_to(REPO / folder)}"
                assert packaged in names
    # The tests, docs and scripts go in the source archive (MANIFEST.in), not in the wheel.
    assert [n for n in names if n.split("/")[0] in ("tests", "docs", "scripts", "benchmarks")] == []


def test_installed_tool_runs_demo_init_and_a_folder_from_elsewhere(install, tmp_path) -> None:
    _wheel, bin_dir, env = install
    tool = str(bin_dir / "run-billing")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(
        [str(bin_dir / "python"), "-c", "import automation; print(automation.__file__)"],
        elsewhere,
        env,
    )
    assert where.stdout.strip().startswith(str(bin_dir.parent)), where.stdout
    # One version: what pip shows (the wheel's metadata) is what --version says.
    shown = run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('billing-automation'))",
        ],
        elsewhere,
        env,
    )
    said = run([tool, "--version"], elsewhere, env)
    assert shown.stdout.strip() == said.stdout.split()[-1] == __version__, said.stdout
    # The program is named as it was started: an install has no run_billing.py.
    assert said.stdout.split() == ["run-billing", __version__]
    assert run([tool, "--help"], elsewhere, env).stdout.startswith("usage: run-billing [run] ")
    module_help = run([str(bin_dir / "python"), "-m", "automation", "--help"], elsewhere, env)
    assert module_help.stdout.startswith("usage: python -m automation [run] "), module_help.stdout

    demo = run([tool, "--demo", "--as-of", "2026-11-23"], elsewhere, env)
    assert demo.returncode == 1, demo.stdout + demo.stderr  # the sample's two bad rows
    assert "INV-2026-0001" in demo.stdout and "Traceback" not in demo.stderr
    demo = Path(env["TMPDIR"]) / f"billing-demo-{os.getuid()}"
    assert len(list((demo / "outbox").glob("*.eml"))) == 8

    books = tmp_path / "books"
    made = run([tool, "init", str(books)], elsewhere, env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "run-billing --workbook" in made.stdout
    assert (books / "templates" / "invoice.docx").is_file()
    assert (books / "templates" / "email" / "en" / "invoice.txt").is_file()
    settings = (books / "billing.toml").read_text(encoding="utf-8")
    assert "`run-billing login`" in settings and "`run-billing payments FILE`" in settings

    from test_cli import make_the_example_real  # init's example client is never billed

    make_the_example_real(books / "service_log.xlsx")
    weekly = run([tool, "--workbook", str(books / "service_log.xlsx")], elsewhere, env)
    assert weekly.returncode == 0, weekly.stdout + weekly.stderr
    assert list((books / "invoices").rglob("*.docx")) and list((books / "outbox").glob("*.eml"))

    entries = run([tool, "schedule", "--workbook", str(books / "service_log.xlsx")], elsewhere, env)
    assert entries.returncode == 0 and " -m automation run" in entries.stdout
    module = run(
        [
            str(bin_dir / "python"),
            "-m",
            "automation",
            "check",
            "--workbook",
            str(books / "service_log.xlsx"),
        ],
        elsewhere,
        env,
    )
    assert module.returncode == 0, module.stdout + module.stderr
