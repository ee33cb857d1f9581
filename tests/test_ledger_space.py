"""The ledger keeps no dead weight: message bytes dropped after delivery leave the file."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from conftest import Folder, client, service, write_workbook

from automation.ledger import Ledger

CLIENTS = [f"Client {i:02d}" for i in range(6)]


def pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def test_a_run_leaves_no_free_pages_and_an_empty_log(folder: Folder) -> None:
    write_workbook(folder.workbook, [client(n) for n in CLIENTS],
                   [service(date(2026, 3, 2), n, "Work " * 400) for n in CLIENTS])  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    ledger = folder.root / ".billing" / "ledger.sqlite"
    assert pragma(ledger, "auto_vacuum") == 2  # incremental
    assert pragma(ledger, "freelist_count") == 0
    wal = ledger.with_name("ledger.sqlite-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with Ledger.open(ledger) as opened:
        messages = opened.messages()
    assert len(messages) == len(CLIENTS) and all(m.raw is None for m in messages)
    backups = sorted((folder.root / ".billing" / "backups").glob("ledger-*.sqlite"))
    assert backups and pragma(backups[-1], "freelist_count") == 0


def test_a_ledger_from_before_is_converted_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(path)  # as earlier versions made it: no auto_vacuum
    old.execute("CREATE TABLE counters (scope TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
    old.execute("INSERT INTO counters VALUES ('2026', 41)")
    old.execute("CREATE TABLE junk (b BLOB)")
    old.executemany("INSERT INTO junk VALUES (?)", [(b"x" * 50_000,) for _ in range(40)])
    old.commit()
    old.execute("DELETE FROM junk")
    old.commit()
    old.close()
    assert pragma(path, "auto_vacuum") == 0 and pragma(path, "freelist_count") > 400
    before = path.stat().st_size  # 2 MB, nearly all of it free pages
    with Ledger.open(path) as ledger:
        ledger.reclaim()
        assert ledger.seq_for("INV-{year}-{seq:04d}", date(2026, 5, 1)) == 41
    assert pragma(path, "auto_vacuum") == 2 and pragma(path, "freelist_count") == 0
    assert path.stat().st_size < before / 10  # the schema's tables and indexes remain
