"""Which ledger commits wait for the disk.

Before a message goes out, the mark that it is being sent is flushed to disk
(synchronous=FULL), so that no crash or power cut can forget that it may have
left; the marks of a batch of messages are flushed together with their bytes.
What the server answered is committed without its own flush: the next durable
commit flushes it with it. One flush per batch of messages instead of two per
message, checked here on a real run against aiosmtpd.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Recorder, running_server

from automation import ledger as ledger_module
from automation.ledger import Ledger

pytestmark = pytest.mark.timeout(60)

FULL, NORMAL = 2, 1


def synchronous(ledger: Ledger) -> int:
    return int(ledger.conn.execute("PRAGMA synchronous").fetchone()[0])


def test_a_quick_commit_keeps_its_writes_and_puts_full_back(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.conn.execute("CREATE TABLE t (a)")
        with ledger.transaction(durable=False):
            assert synchronous(ledger) == NORMAL
            ledger.conn.execute("INSERT INTO t VALUES (1)")
        assert synchronous(ledger) == FULL
        with pytest.raises(RuntimeError), ledger.transaction(durable=False):
            ledger.conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("interrupted")
        assert synchronous(ledger) == FULL
        with ledger.transaction():
            assert synchronous(ledger) == FULL
    with Ledger.open(tmp_path / "ledger.sqlite") as again:
        assert again.conn.execute("SELECT a FROM t").fetchall() == [(1,)]


def test_a_transaction_inside_another_is_kept_with_it_or_not_at_all(tmp_path: Path) -> None:
    """The weekly run's import and numbering are kept once the mail server is open."""
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.conn.execute("CREATE TABLE t (a)")
        with ledger.transaction():
            ledger.conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(RuntimeError), ledger.transaction():
                ledger.conn.execute("INSERT INTO t VALUES (2)")
                raise RuntimeError("undone alone")
            with ledger.transaction(durable=False):
                ledger.conn.execute("INSERT INTO t VALUES (3)")
        assert ledger.conn.execute("SELECT a FROM t").fetchall() == [(1,), (3,)]
        with pytest.raises(RuntimeError), ledger.transaction():
            with ledger.transaction():
                ledger.conn.execute("INSERT INTO t VALUES (4)")
            raise RuntimeError("login refused")
        assert not ledger.conn.in_transaction and synchronous(ledger) == FULL
    with Ledger.open(tmp_path / "ledger.sqlite") as again:
        assert again.conn.execute("SELECT a FROM t").fetchall() == [(1,), (3,)]


def test_an_error_sqlite_rolled_back_itself_is_raised_as_it_is(tmp_path: Path) -> None:
    """A full disk makes SQLite roll the whole transaction back before the error reaches
    the block: the error is told, not "no such savepoint" or "no transaction is active"."""
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.conn.execute("CREATE TABLE t (a)")
        with pytest.raises(RuntimeError, match="disk full"), ledger.transaction():
            ledger.conn.execute("INSERT INTO t VALUES (1)")
            with ledger.transaction():
                ledger.conn.execute("INSERT INTO t VALUES (2)")
                ledger.conn.execute("ROLLBACK")  # as SQLite does on SQLITE_FULL
                raise RuntimeError("disk full")
        assert not ledger.conn.in_transaction
        assert ledger.conn.execute("SELECT a FROM t").fetchall() == []


class Traced:
    """Every COMMIT of the run's ledger, with the synchronous mode it was made under."""

    def __init__(self) -> None:
        self.mode = FULL
        self.statements: list[str] = []
        self.commits: list[tuple[int, list[str]]] = []

    def __call__(self, sql: str) -> None:
        text = " ".join(sql.split())
        if text.startswith("PRAGMA synchronous="):
            self.mode = FULL if text.endswith("FULL") else NORMAL
        elif text == "COMMIT":
            self.commits.append((self.mode, self.statements))
            self.statements = []
        elif text.startswith("BEGIN"):
            self.statements = []
        else:
            self.statements.append(text)


def test_a_batch_is_marked_sending_on_disk_with_its_bytes_and_answered_without_a_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = Traced()
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(traced)
        return conn

    monkeypatch.setattr(ledger_module.sqlite3, "connect", connect)
    names = [f"Client {i}" for i in range(6)]
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        write_workbook(
            folder.workbook,
            [client(n) for n in names],
            [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in names],
        )
        assert folder.run("--as-of", "2026-03-09") == 0
    assert len(recorder.received) == len(names)

    sending = [
        (mode, sql)
        for mode, sql in traced.commits
        if any(s.startswith("UPDATE messages SET state") and "attempt_run" in s for s in sql)
    ]
    answered = [
        (mode, sql)
        for mode, sql in traced.commits
        if any(s.startswith("UPDATE messages SET state") and "sent_at" in s for s in sql)
    ]
    # The six messages fit one batch: their bytes and marks in one flush, before any DATA.
    assert len(sending) == 1
    mode, sql = sending[0]
    assert mode == FULL
    marks = [s for s in sql if s.startswith("UPDATE messages SET state")]
    stored = [s for s in sql if s.startswith("INSERT INTO message_bytes")]
    assert len(marks) == len(stored) == len(names)
    assert len(answered) == len(names)
    assert all(mode == NORMAL for mode, _ in answered)  # flushed by the next mark
    # The run ends on durable commits, so the last answers are flushed too.
    assert traced.commits[-1][0] == FULL
