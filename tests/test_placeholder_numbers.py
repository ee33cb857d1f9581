"""A Services line whose Invoice No holds no invoice number (`TBD`, `?`, `pending`, `-`).

A line with an Invoice No is never billed again: one marked "to be done" would never
be billed at all, in silence. Each run, dry run and `check` tells each such row once
(sheet, row, column, what to do); numbers typed by hand (`A/18`, `2025-117`) and the
firm's own invoices on the Invoices sheet, whatever their names, are left alone.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation.cli import main

AS_OF = "2026-07-06"


def said(out: str) -> str:
    """The output on one line (the terminal may wrap a long message)."""
    return " ".join(out.split())


def told(row: int, text: str) -> str:
    return f'Services row {row}, Invoice No: "{text}" is no invoice number'


def adopt(folder: Folder) -> None:
    """Rows 2-5 marked with no number; rows 6-8 billed by hand before the tool (one on
    the firm's own invoice `ACME-JAN`, named without a digit, on the Invoices sheet);
    row 9 new work; row 10 a totals row and row 11 a row with nothing but a mark."""
    june = date(2026, 6, 15)
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Birch")],
        [service(june, "Acme", "Payroll", 1, 100, **{"Invoice No": "TBD"}),
         service(june, "Birch", "Payroll", 1, 110, **{"Invoice No": "?"}),
         service(june, "Birch", "Audit", 1, 120, **{"Invoice No": "pending"}),
         service(june, "Acme", "Filing", 1, 130, **{"Invoice No": " - "}),
         service(date(2026, 1, 10), "Acme", "Old work", 1, 140, **{"Invoice No": "A/18"}),
         service(date(2026, 1, 12), "Birch", "Old work", 1, 150, **{"Invoice No": "2025-117"}),
         service(date(2026, 1, 31), "Acme", "January", 1, 160, **{"Invoice No": "ACME-JAN"}),
         service(june, "Acme", "June bookkeeping", 1, 500),
         {"Description": "Total", "Amount": 1410, "Invoice No": "-"},
         {"Invoice No": "TBD"}],
        invoices=[{"Invoice No": "ACME-JAN", "Client": "Acme", "Total": 160,
                   "Status": "Paid", "Paid Amount": 160}],
    )  # fmt: skip


def test_a_line_marked_with_no_invoice_number_is_told_not_left_unbilled_in_silence(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    adopt(folder)
    for argv in (
        ["check", "--workbook", str(folder.workbook), "--as-of", AS_OF],
        ["--workbook", str(folder.workbook), "--as-of", AS_OF, "--dry-run"],
    ):
        assert main(argv) == 1
        text = said(capsys.readouterr().out)
        assert text.count("is no invoice number") == 4, text

    assert folder.run("--as-of", AS_OF) == 1
    text = said(capsys.readouterr().out)
    for row, mark in ((2, "TBD"), (3, "?"), (4, "pending"), (5, "-")):
        assert text.count(told(row, mark)) == 1, text
    assert text.count("is no invoice number") == 4  # not the totals row, nor row 11
    assert "empty the cell to bill it (the next run bills it)" in text
    assert "type that invoice's number" in text
    for number in ("A/18", "2025-117", "ACME-JAN"):
        assert number not in text
    # Only the new work went out; the marked lines wait, as typed.
    assert [r.rcpt_tos for r in folder.received] == [["acme@clients.example"]]
    rows = services(folder)
    numbers = rows["Invoice No"].tolist()
    assert numbers[:7] == ["TBD", "?", "pending", " - ", "A/18", "2025-117", "ACME-JAN"]
    assert numbers[7] == "INV-2026-0001"  # June bookkeeping
    # Told on the sheet too; the rows billed by hand, the totals row and row 11 untouched.
    assert rows["Status"].tolist()[:4] == ["Error"] * 4
    assert all(e.startswith(f'"{m}" is no invoice number') for e, m in zip(
        rows["Error"][:4], ("TBD", "?", "pending", "-"), strict=True))  # fmt: skip
    assert rows[["Status", "Error"]].iloc[4:7].isna().all(axis=None)
    assert rows[["Status", "Error"]].iloc[8:].isna().all(axis=None)

    # A rerun on the same inputs, answered without reading them, tells them too.
    assert folder.run("--as-of", AS_OF) == 1
    text = said(capsys.readouterr().out)
    assert text.count("is no invoice number") == 4 and told(2, "TBD") in text

    # The bookkeeper does as told: two emptied (billed now), two given their number.
    folder.type_in("Services", 2, Invoice_No=None)
    folder.type_in("Services", 3, Invoice_No=None)
    folder.type_in("Services", 4, Invoice_No="B/7")
    folder.type_in("Services", 5, Invoice_No="A/19")
    assert folder.run("--as-of", "2026-07-13") == 0
    assert "is no invoice number" not in said(capsys.readouterr().out)
    assert len(folder.received) == 3  # Acme's payroll, Birch's payroll
    rows = services(folder)
    assert rows["Invoice No"].tolist()[:4] == ["INV-2026-0002", "INV-2026-0003", "B/7", "A/19"]
    assert rows["Status"].tolist()[:2] == ["Invoiced"] * 2
    assert rows[["Status", "Error"]].iloc[2:4].isna().all(axis=None)  # cleared: billed by hand
    assert rows["Error"].isna().all()


def services(folder: Folder) -> pd.DataFrame:
    return pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")


def test_a_marked_line_shows_its_error_on_its_row_until_fixed(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The row is told on the sheet too (Status Error, the sentence in Error), not only in
    the terminal; the cell given a number by hand, the row's Status and Error are cleared.
    An inactive client's marked row is Skipped, whatever else is wrong: not told (exit 0)."""
    june = date(2026, 6, 15)
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Closed Co", Active="No"), client("Birch")],
        [service(june, "Acme", "Payroll", 1, 100, **{"Invoice No": "TBD"}),
         service(june, "Closed Co", "Payroll", 1, 100, **{"Invoice No": "pending"}),
         service(june, "Birch", "Audit", 1, 120)],
    )  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 1
    text = said(capsys.readouterr().out)
    assert text.count("is no invoice number") == 1 and told(2, "TBD") in text
    rows = services(folder)
    assert list(rows["Status"]) == ["Error", "Skipped", "Invoiced"]
    assert rows["Error"][0].startswith('"TBD" is no invoice number, so this line counts as')
    assert rows["Error"][1:].isna().all()
    assert list(rows["Invoice No"][:2]) == ["TBD", "pending"]  # left as typed

    # Only the inactive client's row left: nothing to tell, by the run nor by `check`.
    folder.type_in("Services", 2, Invoice_No="A/7")  # billed by hand
    assert folder.run("--as-of", "2026-07-13") == 0
    assert "is no invoice number" not in said(capsys.readouterr().out)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-07-13"]) == 0
    rows = services(folder)
    assert pd.isna(rows["Status"][0]) and pd.isna(rows["Error"][0])
    assert list(rows["Status"][1:]) == ["Skipped", "Invoiced"]
