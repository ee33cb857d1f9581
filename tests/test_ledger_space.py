"""The ledger keeps no dead weight: message bytes dropped after delivery leave the file."""

from __future__ import annotations

import gzip
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from conftest import Folder, client, service, write_workbook

from automation.backups import backup_ledger, kept_copies
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
    (backup,) = (folder.root / ".billing" / "backups").glob("ledger-*.sqlite.gz")
    copy = folder.root / "restored.sqlite"
    copy.write_bytes(gzip.decompress(backup.read_bytes()))  # what gunzip gives back
    assert pragma(copy, "freelist_count") == 0
    with Ledger.open(copy) as restored:
        assert [m.message_id for m in restored.messages()] == [m.message_id for m in messages]


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


#: The tables whose shape version 1 changed, as earlier versions created them (`invoices`
#: as the first one did, before the columns and the index on `settled`).
VERSION_0 = """
CREATE TABLE invoices (
    invoice_no TEXT PRIMARY KEY, client_key TEXT NOT NULL, client TEXT NOT NULL,
    currency TEXT NOT NULL, terms TEXT NOT NULL, invoice_date TEXT NOT NULL,
    due_date TEXT NOT NULL, subtotal TEXT NOT NULL, tax_rate TEXT NOT NULL, tax TEXT NOT NULL,
    total TEXT NOT NULL, lines TEXT NOT NULL, sent_at TEXT, last_sent TEXT,
    reissue_count INTEGER NOT NULL DEFAULT 0, last_reissue TEXT, first_message_id TEXT,
    escalated INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '', run_id INTEGER);
CREATE TABLE lines (
    fingerprint TEXT NOT NULL, invoice_no TEXT NOT NULL, row_hint INTEGER,
    PRIMARY KEY (fingerprint, invoice_no));
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY, event TEXT NOT NULL UNIQUE, invoice_no TEXT NOT NULL,
    kind TEXT NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL,
    envelope_from TEXT, recipients TEXT, raw BLOB, reply TEXT NOT NULL DEFAULT '',
    created_run INTEGER, attempt_run INTEGER, sent_at TEXT, to_addresses TEXT, cc_addresses TEXT);
CREATE TABLE deliveries (
    message_id TEXT NOT NULL, address TEXT NOT NULL, state TEXT NOT NULL,
    reply TEXT NOT NULL DEFAULT '', run_id INTEGER, at TEXT,
    PRIMARY KEY (message_id, address));
INSERT INTO invoices (invoice_no, client_key, client, currency, terms, invoice_date, due_date,
    subtotal, tax_rate, tax, total, lines) VALUES ('INV-2', 'ames', 'Ames', 'USD', 'Net 30',
    '2026-03-09', '2026-04-08', '100', '0', '0', '100', '[]');
INSERT INTO lines VALUES ('f1', 'INV-1', 7), ('f2', 'INV-1', 8), ('f3', 'INV-2', 9);
INSERT INTO messages (message_id, event, invoice_no, kind, state, payload, envelope_from,
    recipients, raw, sent_at) VALUES
    ('<sent@x>', 'INV-1/invoice', 'INV-1', 'invoice', 'sent', '{}', 'b@x.kz', '["a@c.kz"]',
     NULL, '2026-03-09T09:00:00'),
    ('<owed@x>', 'INV-2/invoice', 'INV-2', 'invoice', 'failed', '{"as_of": "2026-03-09"}',
     'b@x.kz', '["a@c.kz", "cc@c.kz"]', x'0d0a626f6479', NULL);
INSERT INTO deliveries VALUES ('<sent@x>', 'a@c.kz', 'sent', '250 ok', 1, '2026-03-09'),
    ('<owed@x>', 'a@c.kz', 'sent', '250 ok', 1, '2026-03-09'),
    ('<owed@x>', 'cc@c.kz', 'temporary', '451 later', 1, '2026-03-09');
"""


def version_0_ledger(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_0)
    conn.close()


def without_rowid(path: Path, table: str) -> bool:
    conn = sqlite3.connect(path)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    finally:
        conn.close()
    return "WITHOUT ROWID" in sql


def test_a_version_0_ledger_is_migrated_once_and_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    version_0_ledger(path)
    assert pragma(path, "user_version") == 0 and not without_rowid(path, "lines")
    for _ in range(2):  # the second open finds nothing to do and changes nothing
        with Ledger.open(path) as ledger:
            assert ledger.invoiced_lines(["f1", "f2", "f3", "f4"]) == {
                "f1": [("INV-1", 7)], "f2": [("INV-1", 8)], "f3": [("INV-2", 9)]}  # fmt: skip
            sent, owed = ledger.messages()
            assert (sent.message_id, sent.state, sent.raw) == ("<sent@x>", "sent", None)
            assert (owed.message_id, owed.raw) == ("<owed@x>", b"\r\nbody")  # sent again as it was
            assert owed.recipients == ("a@c.kz", "cc@c.kz")
            assert ledger.delivered_to("<owed@x>") == {"a@c.kz"}
            assert ledger.deliveries("<owed@x>")["cc@c.kz"] == ("temporary", "451 later")
            stored = ledger.conn.execute("SELECT count(*) FROM messages WHERE raw IS NOT NULL")
            assert stored.fetchone() == (0,)  # the bytes live in message_bytes now
            assert ledger.unsettled_numbers() == {"INV-2"} and ledger.events(["INV-2"]) == {
                "INV-2/invoice"}  # fmt: skip
            plans = [
                ledger.conn.execute(f"EXPLAIN QUERY PLAN {query}", args).fetchall()[-1][-1]
                for query, args in [
                    ("SELECT invoice_no FROM invoices WHERE settled IS NULL", ()),
                    ("SELECT event FROM messages WHERE invoice_no IN (?, ?)", ("a", "b")),
                    ("SELECT 1 FROM messages WHERE state IN (?, ?)", ("planned", "failed")),
                ]
            ]
            assert all("USING" in plan and "INDEX" in plan for plan in plans), plans
        assert pragma(path, "user_version") == 1
        assert without_rowid(path, "lines") and without_rowid(path, "deliveries")


def test_a_version_0_ledger_gives_back_the_pages_its_sent_messages_emptied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # as version 0 made ledgers at the end
    conn.executescript(VERSION_0)
    # Bytes stored with each message, dropped once sent: the rows shrink to a tenth,
    # their pages stay, and no page is free for incremental vacuuming to give back.
    conn.executemany(
        "INSERT INTO messages (message_id, event, invoice_no, kind, state, payload, raw)"
        " VALUES (?, ?, ?, 'invoice', 'planned', '{}', ?)",
        [(f"<{n}@x>", f"INV-{n + 10}/invoice", f"INV-{n + 10}", bytes(1_500)) for n in range(3000)],
    )
    conn.commit()
    conn.execute("UPDATE messages SET state = 'sent', raw = NULL WHERE kind = 'invoice'"
                 " AND message_id LIKE '<%@x>' AND message_id != '<owed@x>'")  # fmt: skip
    conn.commit()
    conn.execute("PRAGMA incremental_vacuum")
    conn.close()
    assert pragma(path, "freelist_count") == 0
    before = path.stat().st_size
    with Ledger.open(path) as ledger:
        ledger.reclaim()
        assert len(ledger.messages()) == 3002
        assert [m.raw for m in ledger.messages(["failed"])] == [b"\r\nbody"]
    assert path.stat().st_size < before / 4


def test_message_bytes_follow_the_message_state(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    version_0_ledger(path)
    when = datetime(2026, 3, 16, 9)
    with Ledger.open(path) as ledger:
        ledger.start_run(date(2026, 3, 16))
        # Someone has it: a rebuild is refused, the same bytes go again.
        ledger.mark_failed("<owed@x>", "451 later", rebuild=True)
        ledger.replan_message("INV-2/invoice", {"as_of": "2026-03-16"})
        assert [m.raw for m in ledger.messages(["failed"])] == [b"\r\nbody"]
        ledger.mark_sent("<owed@x>", when)
        assert all(m.raw is None for m in ledger.messages())
        count = ledger.conn.execute("SELECT count(*) FROM message_bytes").fetchone()
        assert count == (0,)
        # Nobody has it: replanned, its bytes are dropped and it is built afresh.
        assert ledger.plan_message("<new@x>", "INV-3/invoice", "INV-3", "invoice", {})
        ledger.store_built("<new@x>", "b@x.kz", ["a@c.kz"], b"first")
        ledger.store_built("<new@x>", "b@x.kz", ["a@c.kz"], b"second")
        assert [m.raw for m in ledger.messages(["planned"])] == [b"second"]
        ledger.replan_message("INV-3/invoice", {"as_of": "2026-03-23"})
        (new,) = ledger.messages(["planned"])
        assert (new.raw, new.recipients, new.payload) == (None, (), {"as_of": "2026-03-23"})
        ledger.store_built("<new@x>", "b@x.kz", ["a@c.kz"], b"third")
        ledger.drop_message("<new@x>")
        count = ledger.conn.execute("SELECT count(*) FROM message_bytes").fetchone()
        assert count == (0,) and ledger.messages(["planned"]) == []


def test_ledger_copies_are_compressed_and_thinned_to_recent_runs_and_month_ends(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    earlier = folder / "ledger-20250301-100000-000000.sqlite"  # an earlier version's copy
    earlier.write_bytes(b"old copy")
    workbook = folder / "ledger-20250301-100000-000000.xlsx"  # a workbook named ledger.xlsx
    workbook.write_bytes(b"not ours")
    (folder / "ledger-20250302-100000-000000.sqlite.partial").write_bytes(b"a stopped run")
    made = []
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.start_run(date(2026, 1, 5))
        with ledger.transaction():
            ledger.allocate_number("INV-{year}-{seq:04d}", date(2026, 1, 5))
        day = datetime(2025, 3, 3, 10)
        for week in range(60):  # weekly runs from March 2025 to April 2026
            with mock.patch("automation.backups.datetime", wraps=datetime) as clock:
                clock.now.return_value = day + timedelta(weeks=week)
                made.append(backup_ledger(ledger, folder, keep=4, months=6))
    assert made[-1].name == "ledger-20260420-100000-000000.sqlite.gz"
    months = [f"ledger-{day}-100000-000000.sqlite.gz" for day in  # October's newest ... March's
              ("20251027", "20251124", "20251229", "20260126", "20260223", "20260330")]  # fmt: skip
    assert {p.name for p in folder.iterdir()} == {
        *(p.name for p in made[-4:]),
        *months,
        workbook.name,
    }  # the earlier version's copy was too old, the stopped run's file is gone
    restored = tmp_path / "restored.sqlite"
    restored.write_bytes(gzip.decompress(made[-1].read_bytes()))
    with Ledger.open(restored) as copy:
        assert copy.seq_for("INV-{year}-{seq:04d}", date(2026, 1, 5)) == 1


def test_kept_copies_counts_months_back_from_the_newest_copy() -> None:
    names = [f"ledger-{day}-100000-000000.sqlite.gz" for day in
             ("20240110", "20240120", "20240215", "20250105", "20250107")]  # fmt: skip
    # January 2025's newest, and the newest of each of the 12 months before it
    assert kept_copies(names, recent=1, months=12) == {names[1], names[2], names[4]}
    assert kept_copies(names, recent=1, months=11) == {names[2], names[4]}
    assert kept_copies(names, recent=2, months=0) == {names[3], names[4]}
    assert kept_copies(["ledger.sqlite", "notes.txt"]) == set()


def test_a_backup_compressed_on_its_thread_reports_its_failure_to_the_run(
    tmp_path: Path,
) -> None:
    from automation import backups

    folder = tmp_path / "backups"
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.start_run(date(2026, 1, 5))
        first = backups.start_backup(ledger, folder)
        assert first.wait() == first.target and first.target.exists()
        with mock.patch.object(backups, "_compress", side_effect=OSError(28, "No space left")):
            pending = backups.start_backup(ledger, folder)
            pending.join()  # a run stopping on another error only waits
            with pytest.raises(OSError, match="No space left"):
                pending.wait()
    # The copy that could not be compressed leaves nothing behind; the good one stays.
    assert {p.name for p in folder.iterdir()} == {first.target.name}
