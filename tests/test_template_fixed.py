"""A template failing on one document's data stops the run (exit 2); the bookkeeper fixes it
and runs again. What the stopped run built and never handed to a mail server is built again
from the fixed templates: the client never gets the broken wording, and gets it once."""

from __future__ import annotations

import io
import shutil
import sqlite3
from contextlib import closing
from datetime import date, datetime
from pathlib import Path

from conftest import Folder, client, service, write_workbook
from docx import Document
from test_sandbox import poison_word

from automation.bundled import TEMPLATES
from automation.ledger import FAILED, PLANNED, SENDING, Ledger
from automation.pipeline import RECORD_BATCH

AS_OF = "2026-03-09"
NOW = datetime(2026, 3, 9, 10, 0)
#: Fails on an invoice of two lines only (the sample `check` tries has four).
BROKEN = "Broken wording {{ 100 // (lines|length - 2) }}"


def texts(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    return "\n".join(p.text for p in document.paragraphs)


def attached(message) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    return part.get_filename(), part.get_payload(decode=True)


def test_messages_built_by_a_run_a_template_stopped_are_built_again_from_the_fixed_one(
    folder: Folder,
) -> None:
    """The run stopped on the second batch of messages: the first batch, built from the
    template and marked to be sent, went out at the next run with the bytes made from the
    broken template (and its "could not tell whether it arrived" note), its kept .docx
    files the broken ones too."""
    count = RECORD_BATCH + 1  # the first batch is recorded before the last invoice fails
    names = [f"Client {n:02d}" for n in range(1, count + 1)]
    lines = [service(date(2026, 3, 2), name, "Work", 1, 100) for name in names]
    lines.append(service(date(2026, 3, 3), names[-1], "More work", 1, 50))
    write_workbook(folder.workbook, [client(name) for name in names], lines)
    templates = folder.root / "templates"
    shutil.copytree(TEMPLATES, templates)
    word, text = templates / "invoice.docx", templates / "email" / "en" / "invoice.txt"
    fresh_word, fresh_text = word.read_bytes(), text.read_text()
    poison_word(word, BROKEN)
    text.write_text(fresh_text + "\nOld email wording\n")

    assert folder.run("--as-of", AS_OF) == 2
    assert folder.received == []

    word.write_bytes(fresh_word)
    poison_word(word, "Fixed wording")
    text.write_text(fresh_text + "\nNew email wording\n")
    assert folder.run("--as-of", AS_OF) == 0

    files = [attached(r.message) for r in folder.received]
    assert len(files) == count
    assert len({name for name, _ in files}) == count  # every invoice once
    for received, (_, data) in zip(folder.received, files, strict=True):
        body = received.message.get_body(("plain",)).get_content()
        assert "New email wording" in body and "Old email wording" not in body
        sent = texts(data)
        assert "Fixed wording" in sent and "Broken wording" not in sent
    kept = sorted((folder.root / "invoices").rglob("*.docx"))
    assert len(kept) == count
    for path in kept:  # the files kept are those sent
        shown = texts(path.read_bytes())
        assert "Fixed wording" in shown and "Broken wording" not in shown
    with closing(sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")) as db:
        assert db.execute("SELECT DISTINCT state FROM messages").fetchall() == [("sent",)]


def test_only_messages_no_server_was_handed_lose_their_bytes(tmp_path: Path) -> None:
    """Planned or failed, built and nobody has them: dropped, to be built again. Being sent,
    or had (or maybe had) by a recipient: kept, to go again identical."""
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.start_run(date(2026, 3, 9))
        ids = ["<planned@x>", "<refused@x>", "<sending@x>", "<unknown@x>", "<half@x>"]
        with ledger.transaction():
            for n, message_id in enumerate(ids):
                ledger.plan_message(message_id, f"INV-{n}/invoice", f"INV-{n}", "invoice", {})
                ledger.store_built(message_id, "me@x", ["a@x", "b@x"], b"raw", ["a@x", "b@x"])
            ledger.mark_failed("<refused@x>", "550 no", rebuild=False)
            ledger.record_deliveries("<refused@x>", [("a@x", "refused", "550 no")], NOW)
            ledger.mark_sending("<sending@x>")
            ledger.mark_failed("<unknown@x>", "lost", rebuild=False)
            ledger.record_deliveries("<unknown@x>", [("a@x", "unknown", "lost")], NOW)
            ledger.mark_failed("<half@x>", "550 no", rebuild=False)
            ledger.record_deliveries("<half@x>", [("a@x", "sent", "250")], NOW)
            assert ledger.unbuild_unsent() == 2
        kept = {m.message_id: m for m in ledger.messages()}
        assert {i for i, m in kept.items() if m.raw is not None} == set(ids[2:])
        assert kept["<planned@x>"].recipients == () and kept["<planned@x>"].state == PLANNED
        assert kept["<refused@x>"].state == FAILED


def test_a_stopped_runs_messages_never_handed_over_go_back_to_their_state(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.start_run(date(2026, 3, 9))
        ids = ["<new@x>", "<retry@x>", "<reached@x>"]
        with ledger.transaction():
            for n, message_id in enumerate(ids):
                ledger.plan_message(message_id, f"INV-{n}/invoice", f"INV-{n}", "invoice", {})
                ledger.store_built(message_id, "me@x", ["a@x"], b"raw", ["a@x"])
                ledger.mark_sending(message_id)
            ledger.record_deliveries("<reached@x>", [("a@x", "unknown", "lost")], NOW)
            ledger.release_unsent({"<new@x>": PLANNED, "<retry@x>": FAILED, "<reached@x>": PLANNED})
        state = {m.message_id: (m.state, m.raw) for m in ledger.messages()}
        assert state == {
            "<new@x>": (PLANNED, None),
            "<retry@x>": (FAILED, None),
            "<reached@x>": (SENDING, b"raw"),
        }


def test_a_statement_built_before_the_template_failed_on_the_next_goes_from_the_fixed_one(
    folder: Folder,
) -> None:
    """Statements are built (their bytes stored) before any is sent: the template failing on
    the second client's left the first client's to go out next run as the broken one made it."""
    folder.write_config(extra="[statements]\nday = 1")
    names = ["Ames", "Borisov"]
    write_workbook(
        folder.workbook,
        [client(name) for name in names],
        [service(date(2026, 9, 28), name, "Monthly bookkeeping", 1, 1000) for name in names],
    )
    assert folder.run("--as-of", "2026-10-01") == 0
    templates = folder.root / "templates"
    shutil.copytree(TEMPLATES, templates)
    word = templates / "statement.docx"
    fresh = word.read_bytes()
    poison_word(word, 'Broken wording {{ 1 // (client_name != "Borisov") }}')
    assert folder.run("--as-of", "2026-11-01") == 2
    assert all(r.message["X-Billing-Kind"] != "statement" for r in folder.received)
    word.write_bytes(fresh)
    poison_word(word, "Fixed wording")
    assert folder.run("--as-of", "2026-11-01") == 0
    statements = [r for r in folder.received if r.message["X-Billing-Kind"] == "statement"]
    assert len(statements) == 2
    for received in statements:
        sent = texts(attached(received.message)[1])
        assert "Fixed wording" in sent and "Broken wording" not in sent
    for path in (folder.root / "account-statements").rglob("*.docx"):
        shown = texts(path.read_bytes())
        assert "Fixed wording" in shown and "Broken wording" not in shown, path.name
