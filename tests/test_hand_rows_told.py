"""A firm adopting the tool mid-year: its Invoices sheet holds invoices typed by hand.

The tool leaves those rows alone (no reminders, no status changes), but never in
silence: a row that looks like one of its own is told as maybe typed by hand, with
what to type so the tool stops asking; a correction typed on one (Rebill, Credit
Amount, Resend) says it cannot be made and what to do instead; and what is still
owed on them is named beside Outstanding, in the receivables report and by
`statement`, as not counted.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import invoices

from automation.cli import main

SENT = datetime(2026, 3, 31)
PAID = "2026-05-10"  # typed as text: read as the date it says


def said(out: str) -> str:
    """The output on one line (the terminal may wrap a long message)."""
    return " ".join(out.split())


def adopt(folder: Folder, hand: list[dict[str, object]], number_format: str = "") -> None:
    """Acme and Birch, one new service each, and the hand-made invoices `hand`."""
    extra = f'number_format = "{number_format}"' if number_format else ""
    folder.write_config(extra)
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Birch")],
        [service(date(2026, 6, 15), "Acme", "June bookkeeping", 1, 500),
         service(date(2026, 6, 22), "Birch", "June payroll", 1, 400)],
        invoices=hand,
    )  # fmt: skip


def hand_row(number: str, name: str, total: int, **cells: object) -> dict[str, object]:
    row: dict[str, object] = {
        "Invoice No": number, "Client": name, "Total": total, "Paid Amount": None,
        "Paid Date": None, "Status": None, "Sent At": None, "Credit Amount": None, "Resend": None,
        "Currency": None,
    }  # fmt: skip
    row.update({column.replace("_", " "): value for column, value in cells.items()})
    return row


def check(folder: Folder, as_of: str) -> int:
    return main(["check", "--workbook", str(folder.workbook), "--as-of", as_of])


def test_a_hand_row_in_the_tools_numbering_is_told_as_maybe_typed_by_hand(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The firm goes on with its own series, `{year}-{seq:03d}`: its March invoice, still
    open and typed as sent, looks like one of the tool's that the tool has no record of."""
    adopt(
        folder,
        [hand_row("2026-102", "Acme", 500, Status="Paid", Paid_Amount=500, Sent_At=SENT),
         hand_row("2026-103", "Acme", 500, Status="overdue", Sent_At=SENT)],
        number_format="{year}-{seq:03d}",
    )  # fmt: skip
    assert not (folder.root / ".billing").exists()
    assert check(folder, "2026-07-06") == 1
    text = said(capsys.readouterr().out)
    assert "(2026-103)" in text and "2026-102" not in text
    # Never run here: typed by hand first, with the cell to empty; the other way out too.
    assert "not run in this folder before" in text
    assert "Typed by hand before the tool? Then empty its Sent At" in text
    assert "copy .billing/" in text
    assert "was issued by this tool" not in text  # no longer said as a fact

    assert folder.run("--as-of", "2026-07-06") == 1
    capsys.readouterr()
    assert folder.run("--as-of", "2026-07-13") == 1
    text = said(capsys.readouterr().out)
    assert "typed by hand, or issued by the tool" in text and "empty its Sent At" in text
    assert "No copy in .billing/backups/ knows it" in text

    # The bookkeeper does as told: the row is left alone, and the runs are quiet.
    folder.type_in("Invoices", folder.row_of("Invoices", "Invoice No", "2026-103"), Sent_At=None)
    assert folder.run("--as-of", "2026-07-20") == 0
    assert "does not know" not in said(capsys.readouterr().out)
    assert invoices(folder).set_index("Invoice No").loc["2026-103", "Status"] == "overdue"


def test_corrections_typed_on_hand_rows_are_told_not_ignored(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    adopt(
        folder,
        [hand_row("2026-101", "Acme", 1000, Status="Rebill"),
         hand_row("2026-102", "Acme", 500, Status="Unpaid", Credit_Amount=100),
         hand_row("A/18", "Birch", 400, Resend="Yes"),
         hand_row("INV 0043", "Birch", 600, Status="Void")],
    )  # fmt: skip
    assert check(folder, "2026-07-06") == 1  # the dry run tells them as the run does
    text = said(capsys.readouterr().out)
    # three row errors, and the note that the Void one is left as typed
    assert text.count("was not issued by this tool") == 4

    assert folder.run("--as-of", "2026-07-06") == 1
    text = said(capsys.readouterr().out)
    assert text.count("was not issued by this tool") == 4
    assert (
        "Status: 2026-101 was not issued by this tool (typed by hand?), so it cannot be "
        "rebilled" in text
    )
    assert "new Services rows" in text and "clear Rebill" in text
    assert "Credit Amount: 2026-102 was not issued by this tool" in text
    assert "no credit note was issued" in text and "clear Credit Amount" in text
    assert "Resend: A/18 was not issued by this tool" in text and "clear Resend" in text
    # Void is the bookkeeper's own word here: said once, no problem made of it.
    assert "1 invoice typed Void (INV 0043)" in text and "no credit note was sent" in text
    assert "3 rows need attention" in text

    # Only the two new invoices went out: no credit note, replacement or copy.
    kinds = [m.message["X-Billing-Kind"] for m in folder.received]
    assert kinds == ["invoice", "invoice"]
    rows = invoices(folder).set_index("Invoice No")
    assert "cannot be rebilled" in rows.loc["2026-101", "Note"]
    assert "no credit note was issued" in rows.loc["2026-102", "Note"]
    assert "no copy to resend" in rows.loc["A/18", "Note"]
    assert "no credit note was sent" in rows.loc["INV 0043", "Note"]
    # As typed: nothing cleared, no status changed.
    assert rows.loc["2026-101", "Status"] == "Rebill" and rows.loc["INV 0043", "Status"] == "Void"
    assert rows.loc["2026-102", "Credit Amount"] == 100 and rows.loc["A/18", "Resend"] == "Yes"

    # Next week: the corrections are told again until cleared; Void is not.
    assert folder.run("--as-of", "2026-07-13") == 1
    text = said(capsys.readouterr().out)
    assert text.count("was not issued by this tool") == 3 and "typed Void" not in text

    row = folder.row_of("Invoices", "Invoice No", "2026-101")
    folder.type_in("Invoices", row, Status="Cancelled")
    folder.type_in("Invoices", row + 1, Credit_Amount=None)
    folder.type_in("Invoices", row + 2, Resend=None)
    assert folder.run("--as-of", "2026-07-20") == 0
    assert "not issued by this tool" not in said(capsys.readouterr().out)


def test_what_hand_rows_still_owe_is_named_as_not_counted(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    adopt(
        folder,
        [hand_row("A/17", "Acme", 750, Status="part paid", Paid_Amount=500, Paid_Date=PAID),
         hand_row("A/18", "Acme", 400),
         hand_row("B/1", "Birch", 300, Status="Sent", Credit_Amount=0),
         hand_row("B/2", "Birch", 200, Status="PAID", Paid_Amount=200, Paid_Date=PAID),
         hand_row("B/3", "Birch", 900, Status="Void"),  # cancelled
         hand_row("B/4", "Birch", 100, Status="Sent", Paid_Amount=150, Paid_Date=PAID),
         hand_row("E/1", "Birch", 80, Currency="EUR")],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-07-06") == 0
    out = capsys.readouterr().out
    assert "Outstanding: $900.00 (not counted: 3 invoices typed by hand, $950.00)" in out
    assert "Outstanding: €0.00 (not counted: 1 invoice typed by hand, €80.00)" in out

    report = folder.root / "reports" / "receivables-2026-07-06.xlsx"
    for sheet in ("Open invoices", "Aging"):
        told = openpyxl.load_workbook(report)[sheet]["A2"].value
        assert told == (
            "Not counted: 1 invoice typed by hand, €80.00; 3 invoices typed by hand, $950.00"
        )

    # A rerun on the same inputs, answered without reading them, says it too.
    folder.run("--as-of", "2026-07-06")
    capsys.readouterr()
    assert folder.run("--as-of", "2026-07-06") == 0
    out = capsys.readouterr().out
    assert "Nothing has changed" in out
    assert "(not counted: 3 invoices typed by hand, $950.00)" in out

    argv = ["statement", "--workbook", str(folder.workbook), "--as-of", "2026-07-06",
            "--from", "2026-06-01", "--to", "2026-07-06"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    acme = next(line for line in lines if line.startswith("  Acme (USD)"))
    assert "closing balance $500.00 (not counted: 2 invoices typed by hand, $650.00):" in acme
    birch = next(line for line in lines if line.startswith("  Birch (USD)"))
    assert "(not counted: 1 invoice typed by hand, $300.00):" in birch
    # Birch's euro invoice is on no statement (the client has no euro invoice of the tool's).
    assert "Not counted: 1 invoice typed by hand, €80.00 (on no statement)." in lines

    assert main([*argv, "Acme"]) == 0
    out = capsys.readouterr().out
    assert "$650.00" in out and "$300.00" not in out and "€" not in out


@pytest.mark.parametrize("background", [True, False])
def test_the_report_says_what_it_leaves_out_from_a_worker_too(
    tmp_path: Path, background: bool
) -> None:
    from test_report_worker import receivables

    from automation.report_worker import start_report

    told = "Not counted: 3 invoices typed by hand, $950.00"
    pending = start_report(
        receivables(20), date(2026, 6, 30), tmp_path, (), told,
        background_from=1 if background else 1000,
    )  # fmt: skip
    assert pending.in_background is background
    book = openpyxl.load_workbook(pending.wait())
    assert [book[name]["A2"].value for name in ("Open invoices", "Aging", "By client")] == [
        told, told, None
    ]
    assert book["Open invoices"]["A3"].value == "Invoice No"  # the table where it was


def test_statement_leaves_the_payment_cells_of_hand_rows_alone_as_the_run_does(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Paid Amount typed without its Paid Date on a hand-made row: the run, which leaves
    the row alone, says nothing of it; `statement`, which states none of it, is as quiet."""
    adopt(
        folder,
        [hand_row("A/17", "Acme", 750, Status="part paid", Paid_Amount=500),
         hand_row("A/18", "Acme", 400, Paid_Date="soon")],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-07-06") == 0
    assert "A/17" not in said(capsys.readouterr().out)

    argv = ["statement", "--workbook", str(folder.workbook), "--as-of", "2026-07-06",
            "--from", "2026-06-01", "--to", "2026-07-06"]  # fmt: skip
    assert main(argv) == 0
    text = said(capsys.readouterr().out)
    assert "need attention" not in text and "Paid Date" not in text
    # What they still owe is named as not counted (A/17 less its 500 typed), as before.
    assert "(not counted: 2 invoices typed by hand, $650.00)" in text

    # A payment cell of the tool's own invoice that cannot be used is still told.
    row = folder.row_of("Invoices", "Client", "Birch")
    folder.type_in("Invoices", row, Paid_Amount=100)
    assert main(argv) == 1
    text = said(capsys.readouterr().out)
    assert "1 row needs attention (their payments are left out):" in text
    assert f"Invoices row {row}" in text


def test_a_hand_row_typed_failed_with_a_note_is_left_alone(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """`Failed` typed by the firm on its own invoice (a card payment that failed), with a
    Note of its own and no Sent At, in the tool's numbering: not the tool's word on an
    email it could not send, so the row is the firm's, left alone like any hand row."""
    adopt(
        folder,
        [hand_row("2026-103", "Acme", 500, Status="Failed", Note="card declined, call Ann")],
        number_format="{year}-{seq:03d}",
    )  # fmt: skip
    assert check(folder, "2026-07-06") == 0
    assert folder.run("--as-of", "2026-07-06") == 0
    text = said(capsys.readouterr().out)
    assert "does not know" not in text
    assert "(not counted: 1 invoice typed by hand, $500.00)" in text
    rows = invoices(folder).set_index("Invoice No")
    assert rows.loc["2026-103", "Status"] == "Failed"
    assert rows.loc["2026-103", "Note"] == "card declined, call Ann"
