"""Delivery recipient by recipient, through the whole run, against aiosmtpd on loopback.

A refused CC or bcc copy is reported but never re-mails anyone; some To
addresses refused: Failed, and the next run goes to those addresses alone
with the same Message-ID; a greylisting 450 is retried in the run without
holding the batch; a message too big names both sizes.
"""

from __future__ import annotations

import re
import sqlite3
import ssl
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Recorder, running_server

from automation.config import EmailConfig
from automation.delivery import Outcome, Parcel, RetryPolicy, deliver
from automation.ledger import Ledger
from automation.mail import (
    BuiltMessage,
    OutgoingMail,
    RecipientResult,
    SmtpSender,
    build_message,
    make_message_id,
    tls_context,
)
from automation.model import CompanyInfo

pytestmark = pytest.mark.timeout(60)

AS_OF = "2026-03-09"
WEEKS = ("2026-03-09", "2026-03-16", "2026-03-23")
QUICK = "retry_window = 0.4\nmax_retries = 3"


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Client")


def three_clients(folder: Folder, **extra: object) -> None:
    names = ("Acme", "Beta", "Gamma")
    write_workbook(
        folder.workbook,
        [client(n, **extra) for n in names],  # type: ignore[arg-type]
        [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100) for n in names],
    )


def server_folder(tmp_path: Path, recorder: Recorder, port: int, email: str = "") -> Folder:
    tmp_path.mkdir(parents=True, exist_ok=True)
    folder = Folder(tmp_path, recorder, port)
    folder.write_config(email=f"{QUICK}\n{email}")
    return folder


# -- refused copies ---------------------------------------------------------------


def test_a_refused_bcc_over_three_weekly_runs_mails_each_client_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(refuse=frozenset({"archive@ledgerwise.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port, 'bcc = "archive@ledgerwise.example"')
        three_clients(folder)
        codes = []
        for week in WEEKS:
            codes.append(folder.run("--as-of", week))
        out = capsys.readouterr().out
    assert codes == [1, 0, 0]  # reported once, in the run that met the refusal
    for name in ("acme", "beta", "gamma"):
        assert recorder.copies(f"{name}@clients.example") == 1, name
    assert recorder.copies("archive@ledgerwise.example") == 0
    sheet = invoices(folder)
    assert set(sheet["Status"]) == {"Sent"}
    note = sheet.loc["Acme", "Note"]
    assert note.startswith("Emailed to acme@clients.example on 2026-03-09.")
    assert "Not delivered to the bcc copy to archive@ledgerwise.example: 550 5.1.1" in note
    assert "COPY REFUSED" in out.replace("\n", " ").replace("┃", "")
    (log,) = [
        p
        for p in (folder.root / ".billing" / "logs").glob("run-*.log")
        if "2026-03-09" in p.read_text(encoding="utf-8")
    ]
    assert "Delivered, but not to every address:" in log.read_text(encoding="utf-8")
    # The ledger knows who has each message.
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    rows = conn.execute("SELECT address, state FROM deliveries ORDER BY address").fetchall()
    conn.close()
    assert sorted(set(rows)) == [
        ("acme@clients.example", "sent"), ("archive@ledgerwise.example", "refused"),
        ("beta@clients.example", "sent"), ("gamma@clients.example", "sent"),
    ]  # fmt: skip


def test_a_refused_invoice_only_the_bcc_archive_got_counts_its_terms_from_the_real_send(
    tmp_path: Path,
) -> None:
    """"15 days after receipt": refused on 9 March (the archive copy accepted), delivered on
    16 March: due 31 March, from the day the client got it, not 24 March."""
    recorder = Recorder(refuse=frozenset({"acme@clients.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port, 'bcc = "archive@ledgerwise.example"')
        write_workbook(folder.workbook, [client("Acme", Terms="15 days after receipt")],
                       [service(date(2026, 3, 2), "Acme", "Bookkeeping", 1, 100)])  # fmt: skip
        assert folder.run("--as-of", AS_OF) == 1
        assert recorder.copies("archive@ledgerwise.example") == 1
        recorder.refuse = frozenset()
        assert folder.run("--as-of", "2026-03-16") == 0
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent" and pd.Timestamp(row["Due Date"]).date() == date(2026, 3, 31)
    assert recorder.copies("acme@clients.example") == 1
    (got,) = [r for r in recorder.received if "acme@clients.example" in r.rcpt_tos]
    assert "March 31, 2026" in got.message.get_body(("plain",)).get_content()


def test_paid_in_full_while_the_invoice_was_refused_is_thanked_instead(
    tmp_path: Path,
) -> None:
    """Refused on 9 March; the client pays all the same (typed in); 16 March sends the
    thank-you, carrying the invoice, not the invoice asking for what is paid; nothing
    follows (tests/test_paid_followups.py has the details)."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=frozenset({"acme@clients.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(folder.workbook, [client("Acme", Terms="Net 7")],
                       [service(date(2026, 3, 2), "Acme", "Bookkeeping", 1, 300)])  # fmt: skip
        assert folder.run("--as-of", AS_OF) == 1
        recorder.refuse = frozenset()
        apply_updates(folder.workbook, [
            CellUpdate("Invoices", 2, "Paid Amount", Decimal("300")),
            CellUpdate("Invoices", 2, "Paid Date", date(2026, 3, 11)),
        ], header_rows={"Invoices": 1})  # fmt: skip
        assert folder.run("--as-of", "2026-03-16") == 0
        assert invoices(folder).loc["Acme"]["Status"] == "Paid"
        assert folder.run("--as-of", "2026-03-23") == 0
        assert folder.run("--as-of", "2026-03-30") == 0
    subjects = [str(r.message["Subject"]) for r in recorder.received]
    assert [s.split(" ")[0] for s in subjects] == ["Thank"]


def test_a_message_recorded_without_its_roles_has_no_blind_copies() -> None:
    """A message an older ledger kept without To/Cc roles: every address is the client's, so
    its bytes are kept for an identical retry (none is the bcc archive's alone)."""
    from automation.mail import BuiltMessage
    from automation.sending import blind_copies

    old = BuiltMessage("<1@x>", "billing@x.example", ("ann@client.example",), b"raw")
    assert blind_copies(old) == frozenset()
    new = BuiltMessage("<2@x>", "billing@x.example",
                       ("ann@client.example", "Archive@x.example"), b"raw",
                       ("ann@client.example",))  # fmt: skip
    assert blind_copies(new) == frozenset({"archive@x.example"})


def test_a_refused_cc_keeps_the_invoice_sent_and_is_named(tmp_path: Path) -> None:
    recorder = Recorder(refuse=frozenset({"boss@acme.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email='"Ann, Accounts" <ann@acme.example>', CC="boss@acme.example")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        assert folder.run("--as-of", "2026-03-16") == 0
    assert [r.rcpt_tos for r in recorder.received] == [["ann@acme.example"]]
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent"
    assert row["Note"].startswith(
        "Emailed to ann@acme.example on 2026-03-09. Not delivered to cc boss@acme.example: "
        "550 5.1.1 <boss@acme.example>: no such mailbox."
    )


#: A server that refuses one of Acme's To addresses and one of its CCs (`acme_to_and_cc`).
REFUSING_TO_AND_CC = frozenset({"bob@acme.exmaple", "boss@acme.exmaple"})


def acme_to_and_cc(folder: Folder) -> None:
    """One client, Acme, whose To and CC each hold a mistyped address, and one line."""
    write_workbook(
        folder.workbook,
        [client("Acme", Email="ann@acme.example; bob@acme.exmaple",
                CC="cc@acme.example, boss@acme.exmaple")],
        [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
    )  # fmt: skip


def test_a_cc_refused_with_a_to_address_is_named_in_the_first_run_and_told_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A To and a CC refused together: the first run's Note and summary named the To
    alone; the CC was first reported by the run after the To address was corrected."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=REFUSING_TO_AND_CC)
    cc = "Not delivered to cc boss@acme.exmaple: 550 5.1.1 <boss@acme.exmaple>: no such mailbox."
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        acme_to_and_cc(folder)
        capsys.readouterr()
        assert folder.run("--as-of", AS_OF) == 1
        first = " ".join(capsys.readouterr().out.replace("│", " ").split())
        row = invoices(folder).loc["Acme"]
        assert row["Status"] == "Failed"
        assert row["Note"] == (
            "Email (invoice) not delivered to bob@acme.exmaple on 2026-03-09: bob@acme.exmaple: "
            "550 5.1.1 <bob@acme.exmaple>: no such mailbox; it is tried again at the next run, "
            f"to those addresses alone (ann@acme.example, cc@acme.example already have it). {cc}"
        )
        assert "FAILED INV-2026-0001" in first and "COPY REFUSED INV-2026-0001" in first
        assert "Not delivered to cc boss@acme.exmaple" in first
        apply_updates(
            folder.workbook,
            [CellUpdate("Clients", 2, "Email", "ann@acme.example; bob@acme.example")],
            header_rows={},
        )
        assert folder.run("--as-of", "2026-03-16") == 0  # the CC was told: not again
        again = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "COPY REFUSED" not in again and "boss@acme.exmaple" not in again
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent"
    assert row["Note"] == (
        "Emailed to bob@acme.example (ann@acme.example, cc@acme.example had it already) on "
        f"2026-03-16. {cc}"
    )  # the Note still says who never got it
    assert [sorted(r.rcpt_tos) for r in recorder.received] == [
        ["ann@acme.example", "cc@acme.example"], ["bob@acme.example"]
    ]


def test_some_to_refused_fails_then_goes_to_those_alone_with_the_same_message_id(
    tmp_path: Path,
) -> None:
    recorder = Recorder(refuse=frozenset({"bob@acme.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port, 'bcc = "archive@ledgerwise.example"')
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.example", CC="cc@acme.example")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        row = invoices(folder).loc["Acme"]
        assert row["Status"] == "Failed"
        assert "not delivered to bob@acme.example" in row["Note"]
        assert "to those addresses alone" in row["Note"]
        recorder.refuse = frozenset()  # the mailbox is set up
        assert folder.run("--as-of", "2026-03-16") == 0
    first, second = recorder.received
    assert sorted(first.rcpt_tos) == sorted(
        ["ann@acme.example", "cc@acme.example", "archive@ledgerwise.example"]
    )
    assert second.rcpt_tos == ["bob@acme.example"]
    assert first.message["Message-ID"] == second.message["Message-ID"]
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent"
    assert row["Note"] == (
        "Emailed to bob@acme.example (ann@acme.example, cc@acme.example had it already) "
        "on 2026-03-16."
    )


def test_sent_at_is_when_one_to_address_first_had_it_as_its_receipt_due_date_counts(
    tmp_path: Path,
) -> None:
    """"Receipt 10", ann accepts on 9 March and bob refuses; bob gets it on 16 March. Ann's
    copy (the same bytes bob gets) says due 19 March: Sent At is 9 March from the first
    run on, while the invoice stays Failed until bob has it too."""
    recorder = Recorder(refuse=frozenset({"bob@acme.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.example", Terms="Receipt 10")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        row = invoices(folder).loc["Acme"]
        assert row["Status"] == "Failed" and "not delivered to bob" in row["Note"]
        assert pd.Timestamp(row["Sent At"]).date() == date(2026, 3, 9)
        assert pd.Timestamp(row["Due Date"]).date() == date(2026, 3, 19)
        recorder.refuse = frozenset()
        assert folder.run("--as-of", "2026-03-16") == 0
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent"
    assert pd.Timestamp(row["Sent At"]).date() == date(2026, 3, 9)  # ann had it then
    assert pd.Timestamp(row["Last Sent"]).date() == date(2026, 3, 16)
    assert pd.Timestamp(row["Due Date"]).date() == date(2026, 3, 19)


def test_an_address_corrected_after_a_refusal_gets_the_invoice_the_old_one_never(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One To address mistyped and refused: Failed. Resend typed meanwhile waits (the one
    who has the invoice asked for a copy). The bookkeeper corrects the address: the next
    run sends the same message to the corrected address alone, never to the old one
    again nor to the one that has it, and the invoice is Sent; the copy goes after."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=frozenset({"bob@acme.exmaple"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.exmaple")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Resend", "Yes")], header_rows={})
        capsys.readouterr()
        assert folder.run("--as-of", "2026-03-10") == 1  # refused again: still Failed
        assert (
            "INV-2026-0001: Resend waits: the invoice has not reached every address yet; the "
            "copy goes once it has." in " ".join(capsys.readouterr().out.split())
        )
        apply_updates(
            folder.workbook,
            [CellUpdate("Clients", 2, "Email", "ann@acme.example; bob@acme.example")],
            header_rows={},
        )
        assert folder.run("--as-of", "2026-03-16") == 0
        row = invoices(folder).loc["Acme"]
        assert row["Status"] == "Sent" and row["Resend"] == "Yes"
        assert row["Note"] == (
            "Emailed to bob@acme.example (ann@acme.example had it already) on 2026-03-16."
        )
        assert folder.run("--as-of", "2026-03-17") == 0
    delivered = [sorted(r.rcpt_tos) for r in recorder.received]
    assert delivered == [
        ["ann@acme.example"],
        ["bob@acme.example"],
        ["ann@acme.example", "bob@acme.example"],
    ]
    first, second, copy = recorder.received
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert str(copy.message["Subject"]).startswith("Copy of invoice INV-2026-0001")
    assert pd.isna(invoices(folder).loc["Acme", "Resend"])


def test_a_refused_to_address_taken_out_leaves_the_invoice_sent_when_the_others_got_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bookkeeper deletes the refused address instead of correcting it: nothing is
    sent again, and the invoice counts as emailed when the others got it, not today."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=frozenset({"bob@acme.exmaple"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.exmaple", Terms="Receipt 10")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        apply_updates(
            folder.workbook, [CellUpdate("Clients", 2, "Email", "ann@acme.example")],
            header_rows={},
        )  # fmt: skip
        capsys.readouterr()
        assert folder.run("--as-of", "2026-03-12") == 0
    assert [r.rcpt_tos for r in recorder.received] == [["ann@acme.example"]]
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent" and row["Sent At"].date() == date(2026, 3, 9)
    assert row["Note"] == "Emailed to ann@acme.example on 2026-03-09."
    assert row["Due Date"].date() == date(2026, 3, 19)  # ten days after ann got it
    out = " ".join(capsys.readouterr().out.split())
    assert "not sent again" in out and "had it since 2026-03-09" in out, out


def test_resend_typed_while_nobody_has_the_invoice_is_the_invoice_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The only To address refused (the bcc archive has it): Resend is cleared, said in the
    output; the invoice, delivered once the address is corrected, is the one message: no
    copy after it."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=frozenset({"ann@acme.exmaple"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port, 'bcc = "archive@ledgerwise.example"')
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.exmaple")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        apply_updates(
            folder.workbook,
            [CellUpdate("Invoices", 2, "Resend", "Yes"),
             CellUpdate("Clients", 2, "Email", "ann@acme.example")],
            header_rows={},
        )  # fmt: skip
        capsys.readouterr()
        assert folder.run("--as-of", "2026-03-10") == 0
        assert (
            "INV-2026-0001: Resend is cleared: the invoice itself has not reached the client "
            "yet, and goes again this run." in " ".join(capsys.readouterr().out.split())
        )
        assert folder.run("--as-of", "2026-03-11") == 0
    assert [r.rcpt_tos for r in recorder.received] == [
        ["archive@ledgerwise.example"], ["ann@acme.example"]
    ]
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Sent" and pd.isna(row["Resend"])


# -- temporary refusals --------------------------------------------------------------


def test_greylisting_is_retried_in_the_run_without_holding_the_batch(tmp_path: Path) -> None:
    recorder = Recorder(defer={"acme@clients.example": 2})
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        three_clients(folder)
        assert folder.run("--as-of", AS_OF) == 0
    order = [r.rcpt_tos[0] for r in recorder.received]
    # Beta and Gamma went while Acme waited; Acme's copy came last, once.
    assert order == ["beta@clients.example", "gamma@clients.example", "acme@clients.example"]
    assert recorder.rcpt_commands.count("acme@clients.example") == 3
    assert set(invoices(folder)["Status"]) == {"Sent"}


def test_a_4xx_that_outlasts_the_window_is_failed_for_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(defer={"acme@clients.example": 100})
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        three_clients(folder)
        started = time.monotonic()
        assert folder.run("--as-of", AS_OF) == 1
        assert time.monotonic() - started < 15
        assert recorder.rcpt_commands.count("acme@clients.example") == 4  # 1 + max_retries
        row = invoices(folder).loc["Acme"]
        assert row["Status"] == "Failed"
        assert "450 4.2.0" in row["Note"] and "retried for 0.4 seconds" in row["Note"]
        assert "tried again at the next run" in row["Note"]
        recorder.defer.clear()
        assert folder.run("--as-of", "2026-03-16") == 0
    assert recorder.copies("acme@clients.example") == 1
    assert invoices(folder).loc["Acme", "Status"] == "Sent"
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ("retry_window = 2\nmax_retries = 0", "max_retries = 0"),
        ("retry_window = 0\nmax_retries = 3", "retry_window = 0"),
    ],
)
def test_a_4xx_not_retried_by_the_settings_is_not_said_retried(
    tmp_path: Path, settings: str, said: str
) -> None:
    recorder = Recorder(defer={"acme@clients.example": 100})
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(email=settings)
        three_clients(folder)
        assert folder.run("--as-of", AS_OF) == 1
    assert recorder.rcpt_commands.count("acme@clients.example") == 1  # tried once
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Failed"
    assert "retried for" not in row["Note"]
    assert f"(the server asked to try later; not retried in this run: {said});" in row["Note"]


def test_a_message_too_big_says_so_with_both_sizes(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_server(recorder, data_size_limit=20_000) as port:
        folder = server_folder(tmp_path, recorder, port)
        three_clients(folder)
        assert folder.run("--as-of", AS_OF) == 1
    assert recorder.received == []
    note = invoices(folder).loc["Acme", "Note"]
    # the two sizes never read alike (in bytes when whole KB would make them both 20 KB)
    said = r"the message is (.+?) and 127\.0\.0\.1 accepts at most (.+?) \(its SIZE"
    sizes = re.search(said, note)
    assert sizes is not None and sizes[1] != sizes[2], note
    assert sizes[2] in ("20 KB", "20,000 bytes")
    assert 'attach = "pdf"' in note and "refuses it again until the message is smaller" in note
    assert invoices(folder).loc["Acme", "Status"] == "Failed"


def test_a_sender_refused_is_told_as_the_settings_problem_it_is(tmp_path: Path) -> None:
    recorder = Recorder(refuse_sender=True)
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        three_clients(folder)
        assert folder.run("--as-of", AS_OF) == 1
    note = invoices(folder).loc["Acme", "Note"]
    assert "the server refused the sender address billing@ledgerwise.example (550 5.7.60" in note
    assert "check from in [email] of billing.toml" in note
    assert "acme@clients.example: 550" not in note  # not the client's address


@pytest.mark.parametrize(
    ("reply", "said"),
    [("550 5.7.60 Client does not have permissions to send as this sender",
      "check from in [email] of billing.toml"),
     ("550 5.7.1 Service unavailable; client host [203.0.113.9] blocked",
      "before any recipient was named (550 5.7.1 Service unavailable; client host "
      "[203.0.113.9] blocked): its reply says why")],
)  # fmt: skip
def test_a_refusal_at_mail_from_is_never_blamed_on_the_client(reply: str, said: str) -> None:
    from automation.mail import _mail_from_refused

    text = _mail_from_refused("billing@ledgerwise.example", reply)
    assert said in text and "client's" not in text
    assert ("check from" in text) == ("sender" in reply)


@pytest.mark.parametrize(
    ("attach", "advice"),
    [("docx", "make the attachment smaller (fewer or smaller pictures in the template), or ask "
              'the mail provider for a larger limit; a PDF instead (attach = "pdf" in [email]) '
              "may be smaller or larger than the .docx"),
     ("both", 'send the PDF alone (attach = "pdf" in [email]), or make the attachment smaller'),
     ("pdf", "make the attachment smaller (fewer or smaller pictures in the template)")],
)  # fmt: skip
def test_the_size_advice_fits_what_is_attached(attach: str, advice: str) -> None:
    from automation.config import EmailConfig
    from automation.mail import SmtpSender

    sender = SmtpSender(EmailConfig(host="smtp.example", attach=attach))
    said = sender._too_big(90_000, 30_000, "552 too big")
    assert said.startswith("the message is 90 KB and smtp.example accepts at most 30 KB")
    assert advice in said
    assert (attach == "pdf") == ('attach = "pdf"' not in said)


# -- the loop itself -----------------------------------------------------------------


class Log:
    """A Journal that remembers what the loop told it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, tuple[str, ...]]] = []
        self.outcomes: list[Outcome] = []

    def attempting(self, parcel: Parcel) -> None:
        self.events.append(("attempt", parcel.message.message_id, parcel.recipients))

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        self.events.append(("answer", parcel.message.message_id, tuple(r.state for r in results)))

    def finished(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


def built(cfg: EmailConfig, n: int, to: tuple[str, ...]) -> BuiltMessage:
    company = CompanyInfo(name="Acme", email="billing@acme.test")
    mail = OutgoingMail(
        "invoice", f"INV-{n}", to, (), f"Invoice {n}", "text", "", (),
        make_message_id(cfg, company),
    )  # fmt: skip
    return build_message(mail, cfg, company)


def test_the_retry_queue_waits_doubling_and_tries_only_the_deferred() -> None:
    recorder = Recorder(defer={"grey@example.com": 2})
    with running_server(recorder) as port:
        cfg = EmailConfig(
            mode="smtp", host="127.0.0.1", port=port, security="none", sender="b@acme.test"
        )
        first = built(cfg, 1, ("ok@example.com", "grey@example.com"))
        second = built(cfg, 2, ("other@example.com",))
        log = Log()
        moments: list[float] = []
        clock = time.monotonic

        def sleep(seconds: float) -> None:
            moments.append(seconds)
            time.sleep(seconds)

        with SmtpSender(cfg) as sender:
            parcels = [Parcel(m, m.recipients) for m in (first, second)]
            deliver(parcels, sender, RetryPolicy(0.3, 2), log, clock, sleep)
    assert [o.parcel.message.message_id for o in log.outcomes] == [
        second.message_id, first.message_id,
    ]  # fmt: skip
    retries = [e for e in log.events if e[0] == "attempt" and e[1] == first.message_id]
    assert [e[2] for e in retries] == [
        ("ok@example.com", "grey@example.com"), ("grey@example.com",), ("grey@example.com",),
    ]  # fmt: skip
    final = log.outcomes[1]
    assert final.addresses("sent") == ("ok@example.com", "grey@example.com")
    assert final.attempts == 3
    assert RetryPolicy(0.3, 2).delay(1) == pytest.approx(0.1)
    assert RetryPolicy(0.3, 2).delay(2) == pytest.approx(0.3)
    assert RetryPolicy(0.3, 2).delay(3) is None
    assert sum(moments) < 0.35


# -- addresses ------------------------------------------------------------------------


def test_display_names_with_commas_and_idna_domains_are_delivered(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Ann", Email='"Ann, Accounts" <ann@client.example>'),
             client("Rf", Email="info@xn--e1afmkfd.xn--p1ai"),
             client("Kz", Email="есеп@пример.рф".replace("есеп", "esep"))],
            [service(date(2026, 3, 2), n, "Work", 1, 100) for n in ("Ann", "Rf", "Kz")],
        )  # fmt: skip
        assert folder.run("--as-of", AS_OF) == 0
    assert sorted(r.rcpt_tos[0] for r in recorder.received) == [
        "ann@client.example", "esep@xn--e1afmkfd.xn--p1ai", "info@xn--e1afmkfd.xn--p1ai",
    ]  # fmt: skip


def test_a_unicode_local_part_needs_smtputf8(tmp_path: Path) -> None:
    def run(folder: Folder) -> int:
        write_workbook(
            folder.workbook,
            [client("Иван", Email="иван@пример.рф"), client("Beta")],
            [service(date(2026, 3, 2), n, "Work", 1, 100) for n in ("Иван", "Beta")],
        )
        return folder.run("--as-of", AS_OF)

    plain = Recorder()
    with running_server(plain, enable_SMTPUTF8=False) as port:
        folder = server_folder(tmp_path / "plain", plain, port)
        assert run(folder) == 1
    assert [r.rcpt_tos for r in plain.received] == [["beta@clients.example"]]
    row = invoices(folder).loc["Иван"]
    assert row["Status"] == "Failed" and "does not offer SMTPUTF8" in row["Note"]

    modern = Recorder()
    with running_server(modern, enable_SMTPUTF8=True) as port:
        folder = server_folder(tmp_path / "modern", modern, port)
        assert run(folder) == 0
    got = {r.rcpt_tos[0]: r for r in modern.received}
    assert "иван@xn--e1afmkfd.xn--p1ai" in got
    assert str(got["иван@xn--e1afmkfd.xn--p1ai"].message["To"]) == "иван@xn--e1afmkfd.xn--p1ai"


def test_line_breaks_from_cells_never_reach_output_or_error_cells_raw(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme\nInjected: fake line", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 1
    out = capsys.readouterr().out
    assert "Injected: fake line" in out
    assert not any(line.startswith("Injected") for line in out.splitlines())
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    error = services["Error"][0]
    assert "Acme\\nInjected" in error and "\n" not in error
    logs = list((folder.root / ".billing" / "logs").glob("run-*.log"))
    text = logs[0].read_text(encoding="utf-8")
    assert not any(line.startswith("Injected") for line in text.splitlines())


# -- TLS, outbox, ledger ------------------------------------------------------------------


def test_ca_file_is_added_to_the_system_trust_store(tmp_path: Path) -> None:
    from smtp_servers import make_test_ca

    ca = make_test_ca(tmp_path)
    system = len(ssl.create_default_context().get_ca_certs())
    context = tls_context(EmailConfig(ca_file=str(ca.ca_file)))
    assert len(context.get_ca_certs()) == system + 1
    assert len(tls_context(EmailConfig()).get_ca_certs()) == system


def test_outbox_mode_says_written_never_emailed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Folder(tmp_path, Recorder(), 0)
    (tmp_path / "billing.toml").write_text(
        '[company]\nname = "Ledgerwise"\nemail = "billing@ledgerwise.example"\n'
    )
    write_workbook(
        folder.workbook,
        [client("Acme", CC="boss@acme.example"), client("Beta")],
        [service(date(2026, 3, 2), n, "Work", 1, 100) for n in ("Acme", "Beta")],
    )
    assert folder.run("--as-of", AS_OF) == 0
    out = capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    note = invoices(folder).loc["Acme", "Note"]
    assert note == (
        f"Written to outbox/{files[0]} for acme@clients.example, cc boss@acme.example "
        "on 2026-03-09."
    )
    assert "Emailed" not in note
    assert "Outbox mode: nothing was emailed. 2 new messages wait in" in out
    assert str(tmp_path / "outbox") in out
    said = " ".join(out.split())
    assert "they count as sent, and no later run sends them again" in said


def test_outbox_asked_on_the_command_line_gives_no_advice_on_mode(
    folder: Folder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """billing.toml says smtp; --outbox wrote the messages: the output does not tell the
    bookkeeper to set what is already set."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF, "--outbox", str(tmp_path / "drafts")) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "Outbox mode: nothing was emailed. 1 new message waits in" in said
    assert "a run without --outbox emails as billing.toml says" in said
    assert 'set mode = "smtp"' not in said
    assert folder.received == []


def test_schedule_warns_when_the_config_is_in_outbox_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from automation.cli import main

    (tmp_path / "billing.toml").write_text('[email]\nmode = "outbox"\n')
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    assert "outbox mode" in capsys.readouterr().out.lower()
    (tmp_path / "billing.toml").write_text('[email]\nmode = "smtp"\n')
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    out = capsys.readouterr().out.lower()
    assert "outbox mode" not in out and "password" not in out  # no login: nothing to give
    # a password from the environment: the scheduler must be given it (cron sees none)
    (tmp_path / "billing.toml").write_text('[email]\nmode = "smtp"\nusername = "ann"\n')
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "reads the SMTP password from BILLING_SMTP_PASSWORD" in out
    assert "BILLING_SMTP_PASSWORD=... above the entry" in out and "use_keyring = true" in out
    (tmp_path / "billing.toml").write_text(
        '[email]\nmode = "smtp"\nusername = "ann"\nuse_keyring = true\n'
    )
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    assert "reads the SMTP password" not in capsys.readouterr().out
    # Google's sign-in: the client secret comes from the environment at each refresh
    (tmp_path / "billing.toml").write_text(
        '[email]\nmode = "smtp"\nhost = "smtp.gmail.com"\nauth = "oauth2"\n'
        'oauth_provider = "google"\nusername = "ann@gmail.com"\n'
        'client_id = "1-x.apps.googleusercontent.com"\nclient_secret_env = "GOOGLE_SECRET"\n'
    )
    assert main(["schedule", "--config", str(tmp_path / "billing.toml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "reads the sign-in's client secret from GOOGLE_SECRET" in out
    assert "use_keyring" not in out


def test_an_old_ledger_gains_the_delivery_columns_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE messages (message_id TEXT PRIMARY KEY, event TEXT NOT NULL UNIQUE,"
        " invoice_no TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, payload TEXT NOT"
        " NULL, envelope_from TEXT, recipients TEXT, raw BLOB, reply TEXT NOT NULL DEFAULT '',"
        " created_run INTEGER, attempt_run INTEGER, sent_at TEXT)"
    )
    conn.execute(
        "INSERT INTO messages (message_id, event, invoice_no, kind, state, payload, recipients)"
        " VALUES ('<a@b>', 'INV-1/invoice', 'INV-1', 'invoice', 'failed', '{}', '[\"x@y.z\"]')"
    )
    conn.commit()
    conn.close()
    for _ in range(2):
        with Ledger.open(path) as ledger:
            (message,) = ledger.messages()
            assert message.to == () and message.recipients == ("x@y.z",)
            assert ledger.delivered_to("<a@b>") == set()


def test_a_monthly_statement_with_a_refused_bcc_goes_once(tmp_path: Path) -> None:
    recorder = Recorder(refuse=frozenset({"archive@ledgerwise.example"}))
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(
            extra="[statements]\nday = 1", email='bcc = "archive@ledgerwise.example"'
        )
        write_workbook(
            folder.workbook,
            [client("Ames")],
            [service(date(2026, 9, 28), "Ames", "Monthly bookkeeping", 1, 1000)],
        )
        assert folder.run("--as-of", "2026-10-01") == 1  # the invoice; the bcc copy refused
        assert folder.run("--as-of", "2026-11-01") == 1  # the statement; the same
        assert folder.run("--as-of", "2026-11-02") == 0
    kinds = sorted(str(r.message["X-Billing-Kind"]) for r in recorder.received)
    assert kinds == ["invoice", "reissue", "statement"]  # each once, the statement included
    assert recorder.copies("ames@clients.example") == 3
    assert len(set(recorder.message_ids)) == 3


# -- payment notes ------------------------------------------------------------------------


def pay_in_full(folder: Folder, when: date) -> None:
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    total = Decimal(str(invoices(folder).loc["Acme", "Total"]))
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Paid Amount", total),
                                    CellUpdate("Invoices", 2, "Paid Date", when)],
                  header_rows={"Invoices": 1})  # fmt: skip


def test_a_thank_you_refused_by_one_to_address_reaches_it_at_the_next_run(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.example")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 0
        pay_in_full(folder, date(2026, 3, 12))
        recorder.refuse = frozenset({"bob@acme.example"})
        assert folder.run("--as-of", "2026-03-16") == 1
        assert "tried again at the next run" in invoices(folder).loc["Acme", "Note"]
        recorder.refuse = frozenset()
        assert folder.run("--as-of", "2026-03-23") == 0
        assert folder.run("--as-of", "2026-03-30") == 0
    thanks = [r for r in recorder.received if r.message["X-Billing-Kind"] == "thanks"]
    assert [r.rcpt_tos for r in thanks] == [["ann@acme.example"], ["bob@acme.example"]]
    assert thanks[0].message["Message-ID"] == thanks[1].message["Message-ID"]
    row = invoices(folder).loc["Acme"]
    assert row["Status"] == "Paid"
    assert row["Note"] == (
        "Thank-you note for the payment, emailed to bob@acme.example "
        "(ann@acme.example had it already) on 2026-03-23."
    )


def test_a_message_half_delivered_and_half_refused_is_resent_byte_identical(
    tmp_path: Path,
) -> None:
    # ann's copy went out but the connection died before the server's answer; bob was refused.
    recorder = Recorder(refuse=frozenset({"bob@acme.example"}), vanish_on=frozenset({1}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client("Acme", Email="ann@acme.example; bob@acme.example")],
            [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        )
        assert folder.run("--as-of", AS_OF) == 1
        assert invoices(folder).loc["Acme", "Status"] == "Failed"
        recorder.refuse, recorder.vanish_on = frozenset(), frozenset()
        assert folder.run("--as-of", "2026-03-16") == 0
    first, second = recorder.received
    assert first.rcpt_tos == ["ann@acme.example"]
    assert sorted(second.rcpt_tos) == ["ann@acme.example", "bob@acme.example"]
    assert second.data == first.data  # the same message: a copy ann has is dropped
    assert invoices(folder).loc["Acme", "Status"] == "Sent"


def test_report_to_is_read_like_client_addresses(tmp_path: Path) -> None:
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = server_folder(
            tmp_path, recorder, port,
            'report_to = \'"Ann, Accounts" <ann@ledgerwise.example>; boss@ledgerwise.example\'',
        )  # fmt: skip
        three_clients(folder)
        assert folder.run("--as-of", AS_OF) == 0
    (report,) = [r for r in recorder.received if r.message["X-Billing-Kind"] == "report"]
    assert sorted(report.rcpt_tos) == ["ann@ledgerwise.example", "boss@ledgerwise.example"]


def test_a_failed_message_someone_has_keeps_its_bytes_whoever_marks_it(tmp_path: Path) -> None:
    from datetime import datetime

    with Ledger.open(tmp_path / "ledger.sqlite") as ledger, ledger.transaction():
        for n, state in ((1, "sent"), (2, "unknown"), (3, "refused")):
            mid = f"<m{n}@x>"
            ledger.plan_message(mid, f"INV-{n}/invoice", f"INV-{n}", "invoice", {})
            ledger.store_built(mid, "b@x.example", ("a@y.example",), b"bytes", ("a@y.example",))
            ledger.record_deliveries(mid, [("a@y.example", state, "")], datetime(2026, 3, 9))
            ledger.mark_failed(mid, "no", rebuild=True)
        raws = {m.message_id: m.raw for m in ledger.messages()}
    assert raws == {"<m1@x>": b"bytes", "<m2@x>": b"bytes", "<m3@x>": None}


def test_a_dry_run_lists_what_earlier_runs_still_owe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invoice refused last week (Failed) is retried by the next run: the dry run before
    it says so, rather than "Nothing to send this week", and lists what the run sends."""
    monkeypatch.setenv("COLUMNS", "250")  # the table's lines whole
    recorder = Recorder(refuse=frozenset({"acme@clients.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(folder.workbook, [client("Acme"), client("Beta")],
                       [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100)
                        for n in ("Acme", "Beta")])  # fmt: skip
        assert folder.run("--as-of", AS_OF) == 1
        recorder.refuse = frozenset()
        capsys.readouterr()
        assert folder.run("--as-of", "2026-03-16", "--dry-run") == 0
        said = " ".join(capsys.readouterr().out.split())
        assert "Nothing to send" not in said
        assert "INV-2026-0001" in said and "retried: it failed at an earlier run" in said
        assert "INV-2026-0002" not in said  # delivered last week: nothing owed
        sent_before = len(recorder.received)
        assert folder.run("--as-of", "2026-03-16") == 0
    (got,) = recorder.received[sent_before:]
    assert "INV-2026-0001" in str(got.message["Subject"])


def test_an_unsent_invoice_of_a_client_made_inactive_is_told_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused last week, then the client set inactive: no run sends it (inactive clients
    get no mail), so each run and dry run says so; it stayed Failed without a word."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    monkeypatch.setenv("COLUMNS", "250")
    recorder = Recorder(refuse=frozenset({"beta@clients.example"}))
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(folder.workbook, [client("Acme"), client("Beta")],
                       [service(date(2026, 3, 2), n, "Bookkeeping", 1, 100)
                        for n in ("Acme", "Beta")])  # fmt: skip
        assert folder.run("--as-of", AS_OF) == 1
        apply_updates(
            folder.workbook, [CellUpdate("Clients", 3, "Active", "No")],
            header_rows={"Clients": 1},
        )  # fmt: skip
        recorder.refuse = frozenset()
        told = (
            "INV-2026-0002 (Beta) is numbered but was never emailed; Beta is not Active: make "
            "the client Active to send it, or type Void in its Status."
        )
        for extra in (["--dry-run"], []):
            capsys.readouterr()
            folder.run("--as-of", "2026-03-16", *extra)
            assert told in " ".join(capsys.readouterr().out.split()), extra
    assert recorder.copies("beta@clients.example") == 0


def test_a_message_sent_after_midnight_is_dated_the_runs_last_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started at 23:59:55 (no --as-of) whose message goes out at 00:00:04, its
    sending begun before or after midnight: Sent At is 23:59:59 of the run's day, not
    its day at 00:00:04 (before the run began) nor the next day (the weekly reminder a
    day late). A run dated another day keeps that day, with the time of day."""
    from datetime import datetime, timedelta

    from automation import sending
    from automation.ledger import Ledger

    today = date.today()
    after_midnight = datetime.combine(today + timedelta(days=1), datetime.min.time())
    after_midnight += timedelta(seconds=4)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return after_midnight

    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        # This process started today (a test process may have started the day before).
        monkeypatch.setattr(sending, "process_age", lambda: 0.0)
        before = sending.LedgerJournal(ledger, today)  # made before midnight
        dated = sending.LedgerJournal(ledger, date(2026, 3, 9))
        monkeypatch.setattr(sending, "datetime", Clock)
        monkeypatch.setattr(sending, "process_age", lambda: 9.0)  # started at 23:59:55
        after = sending.LedgerJournal(ledger, today)  # sending begun after midnight
        for journal in (before, after):
            assert journal._now() == datetime.combine(today, sending.LAST_SECOND)
        assert dated._now() == datetime(2026, 3, 9, 0, 0, 4)


def test_a_refused_follow_up_is_named_in_the_notes_in_plain_words(tmp_path: Path) -> None:
    """The Note of a refused thank-you, part-payment or overpayment note, credit note or
    copy says which email in the run summary's words, not the ledger's kinds."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    typed = {
        "Thanks": {"Paid Amount": Decimal("100"), "Paid Date": date(2026, 3, 12)},
        "Part": {"Paid Amount": Decimal("20"), "Paid Date": date(2026, 3, 12)},
        "Over": {"Paid Amount": Decimal("120"), "Paid Date": date(2026, 3, 12)},
        "Voided": {"Status": "Void"},
        "Copy": {"Resend": "Yes"},
    }
    recorder = Recorder()
    with running_server(recorder) as port:
        folder = server_folder(tmp_path, recorder, port)
        write_workbook(
            folder.workbook,
            [client(name) for name in typed],
            [service(date(2026, 3, 2), name, "Work", 1, 100) for name in typed],
        )
        assert folder.run("--as-of", AS_OF) == 0
        rows = list(invoices(folder).index)
        apply_updates(
            folder.workbook,
            [CellUpdate("Invoices", rows.index(name) + 2, column, value)
             for name, cells in typed.items() for column, value in cells.items()],
            header_rows={"Invoices": 1},
        )  # fmt: skip
        recorder.refuse = frozenset(f"{name.lower()}@clients.example" for name in typed)
        assert folder.run("--as-of", "2026-03-16") == 1
    notes = invoices(folder)["Note"]
    assert {name: notes[name].split(" not delivered")[0] for name in typed} == {
        "Thanks": "Email (thank-you)",
        "Part": "Email (part-payment note)",
        "Over": "Email (overpayment note)",
        "Voided": "Email (credit note)",
        "Copy": "Email (copy resent)",
    }


def test_one_mailbox_in_email_and_cc_gets_one_copy(folder: Folder) -> None:
    """Email `ap@acme.example`, CC `AP@acme.example` (a new address typed in Email, the old
    spelling left in CC): one mailbox, given the message once and shown once, in To."""
    write_workbook(
        folder.workbook,
        [client("Acme", Email="ap@acme.example", CC="AP@acme.example; boss@acme.example")],
        [service(date(2026, 3, 2), "Acme", "Work")],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    (got,) = folder.received
    assert got.rcpt_tos == ["ap@acme.example", "boss@acme.example"]
    assert got.message["Cc"] == "boss@acme.example"
