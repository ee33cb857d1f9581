"""Everything the run creates is readable by its owner only; the workbook keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from conftest import client, service, write_workbook

from automation.cli import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A machine where new files are world-readable by default (umask 022)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_runs_files_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    book = write_workbook(
        tmp_path / "service_log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )
    os.chmod(book, 0o644)
    (tmp_path / "invoices").mkdir(mode=0o755)  # left by an earlier version
    assert main(["--workbook", str(book), "--as-of", "2026-03-09", "--dry-run"]) == 0
    assert main(["--workbook", str(book), "--as-of", "2026-03-09"]) == 0
    made = [p for p in tmp_path.rglob("*") if p.name not in ("service_log.xlsx", "billing.toml")]
    kinds = {p.relative_to(tmp_path).parts[0] for p in made}
    assert {".billing", "invoices", "outbox", "preview", "reports"} <= kinds
    assert list((tmp_path / ".billing" / "backups").iterdir())
    assert list((tmp_path / ".billing" / "logs").iterdir())
    assert (tmp_path / ".billing" / "ledger.sqlite").is_file()
    wrong = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in made if mode(p) & 0o077}
    assert wrong == {}
    assert all(mode(p) == 0o700 for p in made if p.is_dir())
    assert mode(book) == 0o644  # the bookkeeper's own file keeps its mode
    assert os.umask(0o022) == 0o022  # the command put the umask back


def test_init_folder_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "books"
    assert main(["init", str(target)]) == 0
    assert mode(target) == 0o700 and mode(target / "billing.toml") == 0o600
