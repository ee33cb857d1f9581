"""An Invoices row copied: one invoice number on two rows.

The bookkeeper copies a row (to move it, or to record a second payment on a
line of its own) and types the payment on the copy. Which row holds the
payment is not the tool's to guess: each row is told, nothing is mailed about
the invoice and both rows are left as typed until one row is left.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import body
from test_followup import ledger_settled, mails_to, run_week, type_into_invoices, week

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

BLUE = "INV-2026-0002"


def billed(folder: Folder) -> None:
    """Acme and Blue billed in week 0 (Blue's invoice is $250.00, due in week 1)."""
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 7") for n in ("Acme", "Blue")],
        [
            service(date(2026, 1, 2), "Acme", "Audit", 2, 100),
            service(date(2026, 1, 2), "Blue", "Setup", 1, 250),
        ],
    )
    run_week(folder, 0)


def sheet_rows(folder: Folder) -> list[dict[str, Any]]:
    """The Invoices rows as saved, header to value (row 2 first)."""
    sheet = openpyxl.load_workbook(folder.workbook)["Invoices"]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:] if any(r)]


def copy_row(folder: Folder, number: str, **cells: object) -> None:
    """The bookkeeper copies `number`'s row below the others and types `cells` on the copy
    (written as Excel saves it: every other cell as it was)."""
    rows = sheet_rows(folder)
    source = next(r for r in rows if r["Invoice No"] == number)
    copy = {**source, **{name.replace("_", " "): value for name, value in cells.items()}}
    below = len(rows) + 2
    updates = [
        CellUpdate("Invoices", below, column, Decimal(str(v)) if isinstance(v, float) else v)
        for column, v in copy.items()
        if v is not None
    ]
    apply_updates(folder.workbook, updates, header_rows={"Invoices": 1})


def delete_row(folder: Folder, row: int) -> None:
    book = openpyxl.load_workbook(folder.workbook)
    book["Invoices"].delete_rows(row)
    book.save(folder.workbook)


def told(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_a_payment_typed_on_a_copied_row_is_told_and_nothing_is_mailed(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    billed(folder)
    copy_row(folder, BLUE, Paid_Amount=Decimal("250"), Paid_Date=week(2))
    before = sheet_rows(folder)
    sent = len(mails_to(folder, "Blue"))
    on_3 = (
        f"Invoices row 3, Invoice No: {BLUE} is also on row 4: keep one row per invoice, with "
        "the whole payment (Paid Amount is the total received) on it, and delete the other."
    )
    on_4 = f"Invoices row 4, Invoice No: {BLUE} is also on row 3: keep one row"
    capsys.readouterr()
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", week(4).isoformat()]) == 1
    out = told(capsys)
    assert on_3 in out and on_4 in out
    assert folder.run("--as-of", week(4).isoformat(), "--dry-run") == 1
    out = told(capsys)
    assert on_3 in out and on_4 in out

    # Overdue since week 1: without the copy Blue would be reissued $250.00.
    assert folder.run("--as-of", week(4).isoformat()) == 1
    out = told(capsys)
    assert on_3 in out and on_4 in out
    assert len(mails_to(folder, "Blue")) == sent
    after = sheet_rows(folder)
    assert after[2] == before[2]  # the copy as typed
    assert after[1]["Note"].endswith(f"{BLUE} is also on row 4: keep one row per invoice, with "
        "the whole payment (Paid Amount is the total received) on it, and delete the other. "
        "Nothing is sent about this invoice until then.")  # fmt: skip
    assert {k: v for k, v in after[1].items() if k != "Note"} == {
        k: v for k, v in before[1].items() if k != "Note"
    }
    assert after[1]["Status"] == "Sent" and after[1]["Reissue Count"] == 0
    assert after[0]["Status"] == "Reissued"  # the other invoices go on as ever
    assert folder.run("--as-of", week(5).isoformat()) == 1  # told every run until fixed
    assert len(mails_to(folder, "Blue")) == sent

    delete_row(folder, 3)  # the original goes: the copy, with the payment, is the row
    run_week(folder, 6)
    row = sheet_rows(folder)[1]
    assert row["Invoice No"] == BLUE and row["Status"] == "Paid" and row["Balance"] == 0
    assert "also on row" not in (row["Note"] or "")
    thanks = mails_to(folder, "Blue")[-1]
    assert len(mails_to(folder, "Blue")) == sent + 1 and "Thank you" in str(thanks["Subject"])


def test_a_second_payment_on_a_copied_row_is_not_told_as_still_due(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """100 on the row, 150 on a copy: the client paid all; no "$150.00 still due"."""
    billed(folder)
    type_into_invoices(folder, "Blue", Paid_Amount=Decimal("100"), Paid_Date=week(1))
    copy_row(folder, BLUE, Paid_Amount=Decimal("150"), Paid_Date=date(2026, 1, 14))
    sent = len(mails_to(folder, "Blue"))
    capsys.readouterr()
    assert folder.run("--as-of", week(2).isoformat()) == 1
    assert f"{BLUE} is also on row 4" in told(capsys)
    assert len(mails_to(folder, "Blue")) == sent
    row, copy = sheet_rows(folder)[1:]
    assert row["Paid Amount"] == 100 and copy["Paid Amount"] == 150

    # One row with the whole payment: a thank-you, never a note of what is still due.
    delete_row(folder, 4)
    type_into_invoices(folder, "Blue", Paid_Amount=Decimal("250"), Paid_Date=date(2026, 1, 14))
    run_week(folder, 3)
    mails = mails_to(folder, "Blue")[sent:]
    assert len(mails) == 1 and "Thank you" in str(mails[0]["Subject"])
    assert "still due" not in body(mails[0])


def test_a_settled_invoices_row_copied_is_told(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    billed(folder)
    type_into_invoices(folder, "Blue", Paid_Amount=Decimal("250"), Paid_Date=week(1))
    run_week(folder, 1)
    run_week(folder, 2)
    assert ledger_settled(folder)["Blue"] is not None
    copy_row(folder, BLUE)  # moved: the original left in place, for now
    sent = len(mails_to(folder, "Blue"))
    capsys.readouterr()
    assert folder.run("--as-of", week(3).isoformat()) == 1
    out = told(capsys)
    assert f"row 3, Invoice No: {BLUE} is also on row 4" in out
    assert f"row 4, Invoice No: {BLUE} is also on row 3" in out
    assert len(mails_to(folder, "Blue")) == sent
    delete_row(folder, 3)
    run_week(folder, 4)
    assert len(mails_to(folder, "Blue")) == sent
    assert sheet_rows(folder)[1]["Status"] == "Paid"


@pytest.mark.parametrize("typed", [{"Status": "Void"}, {"Resend": "Yes"}], ids=["void", "resend"])
def test_nothing_typed_on_a_copied_row_is_acted_on(
    folder: Folder, capsys: pytest.CaptureFixture[str], typed: dict[str, str]
) -> None:
    """Void or Resend typed on the first of two rows of one invoice: which row is meant is
    not known, and the run says nothing is sent about the invoice: no credit note, no copy."""
    billed(folder)
    copy_row(folder, BLUE)
    type_into_invoices(folder, "Blue", **typed)
    sent = len(mails_to(folder, "Blue"))
    capsys.readouterr()
    folder.run("--as-of", week(1).isoformat())
    assert "is also on row" in told(capsys)
    assert len(mails_to(folder, "Blue")) == sent
