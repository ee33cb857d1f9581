"""Cells the tool writes as an invoice was issued (Client, Currency, Terms, Invoice Date, Due
Date, Total), typed over by the bookkeeper on the Invoices sheet.

A Due Date moved (more time agreed with the client) or a Total lowered is told on the
row with the way out, left as typed, and nothing is sent about the invoice until it is
resolved; it is never typed back without a word while the client is reminded anyway.
A workbook saved again by another program, or an older copy put back, is no edit.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest
import xlsxwriter
from conftest import Folder, client, service, write_workbook


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Invoice No")


def type_into_invoices(folder: Folder, number: str, **cells: object) -> None:
    """Cells typed on the row of `number`, saved as Excel would save them."""
    folder.type_in("Invoices", folder.row_of("Invoices", "Invoice No", number), **cells)


def mails_to(folder: Folder, name: str) -> list:
    address = f"{name.lower().replace(' ', '')}@clients.example"
    return [r.message for r in folder.received if address in r.rcpt_tos]


def problems(out: str) -> list[str]:
    return [" ".join(ln.split()) for ln in out.splitlines() if ln.startswith("  Invoices row")]


@pytest.fixture
def issued(folder: Folder) -> Folder:
    """Beta Bakery's INV-2026-0001 ($125.00, due 2026-01-19) and Gamma Gym's INV-2026-0002
    ($182.00, due 2026-02-04), both emailed on 5 January."""
    write_workbook(
        folder.workbook,
        [client("Beta Bakery", Terms="Net 14"), client("Gamma Gym", Terms="Net 30")],
        [
            service(date(2026, 1, 2), "Beta Bakery", "Bread supply", 10, 12.5),
            service(date(2026, 1, 2), "Gamma Gym", "Trainer session", 4, 45.5),
        ],
    )
    assert folder.run("--as-of", "2026-01-05") == 0
    assert len(folder.received) == 2
    return folder


def test_a_due_date_moved_is_told_kept_and_nothing_is_sent(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = issued
    type_into_invoices(folder, "INV-2026-0001", Due_Date=date(2026, 2, 28))  # more time agreed
    capsys.readouterr()
    for _ in range(2):  # told again while it stands
        assert folder.run("--as-of", "2026-01-27") == 1  # overdue by the tool's date
        told = problems(capsys.readouterr().out)
        assert len(told) == 1
        assert told[0].startswith("Invoices row 2, Due Date: 2026-02-28 was typed over")
        assert "the tool wrote, 2026-01-19" in told[0]
        assert "type Hold in Status" in told[0] and "put 2026-01-19 back" in told[0]
        assert mails_to(folder, "Beta Bakery")[1:] == []  # no reissue of an extended invoice
        row = invoices(folder).loc["INV-2026-0001"]
        assert row["Due Date"].date() == date(2026, 2, 28)  # as typed
        assert row["Note"].startswith("Not done on 2026-01-27: 2026-02-28 was typed over")

    type_into_invoices(folder, "INV-2026-0001", Status="Hold")  # the documented way
    assert folder.run("--as-of", "2026-02-03") == 0
    assert problems(capsys.readouterr().out) == []
    assert mails_to(folder, "Beta Bakery")[1:] == []
    assert invoices(folder).loc["INV-2026-0001", "Due Date"].date() == date(2026, 2, 28)

    type_into_invoices(folder, "INV-2026-0001", Status=None, Due_Date=date(2026, 1, 19))
    assert folder.run("--as-of", "2026-02-04") == 0  # put back: reminders go on from there
    assert problems(capsys.readouterr().out) == []
    assert "REISSUED" in mails_to(folder, "Beta Bakery")[1]["Subject"].upper()
    row = invoices(folder).loc["INV-2026-0001"]
    assert row["Due Date"].date() == date(2026, 2, 18) and row["Status"] == "Reissued"


def test_a_total_lowered_points_to_credit_amount(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = issued
    type_into_invoices(folder, "INV-2026-0002", Total=150, Client="Beta Bakery")
    capsys.readouterr()
    assert folder.run("--as-of", "2026-02-10") == 1  # Gamma's reissue is due today
    told = problems(capsys.readouterr().out)
    assert [t.split(":")[0] for t in told] == ["Invoices row 3, Client", "Invoices row 3, Total"]
    assert '"Beta Bakery" was typed over the client the tool wrote, "Gamma Gym"' in told[0]
    assert "type Rebill in Status" in told[0]
    assert "150 was typed over the total the tool wrote, 182.00" in told[1]
    assert "type the reduction in Credit Amount (a credit note is issued)" in told[1]
    assert "put 182.00 back" in told[1]
    assert mails_to(folder, "Gamma Gym")[1:] == []
    row = invoices(folder).loc["INV-2026-0002"]
    assert (row["Client"], row["Total"], row["Balance"]) == ("Beta Bakery", 150, 182)

    # The way out: the Total and the Client put back, the reduction typed as a credit.
    type_into_invoices(
        folder, "INV-2026-0002", Total=182, Client="Gamma Gym", Credit_Amount=Decimal("32")
    )
    assert folder.run("--as-of", "2026-02-10") == 0
    assert problems(capsys.readouterr().out) == []
    assert "credit note" in mails_to(folder, "Gamma Gym")[1]["Subject"].lower()
    row = invoices(folder).loc["INV-2026-0002"]
    assert (row["Total"], row["Balance"]) == (182, 150)


def test_an_older_copy_put_back_gets_the_due_date_without_a_word(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7")
    write_workbook(
        folder.workbook,
        [client("Slow Co", Terms="Net 7")],
        [service(date(2026, 1, 2), "Slow Co", "Audit", 1, 500)],
    )
    copies = {}
    for day in ("2026-01-05", "2026-01-19", "2026-02-02"):  # issued, then reissued twice
        assert folder.run("--as-of", day) == 0
        copies[day] = folder.root / f"copy-{day}.xlsx"
        shutil.copyfile(folder.workbook, copies[day])
    assert len(folder.received) == 3
    assert invoices(folder).loc["INV-2026-0001", "Due Date"].date() == date(2026, 2, 9)

    # Each older copy shows a due date the tool wrote then: the first reissue's, the first.
    for day, shown in (("2026-01-19", date(2026, 1, 26)), ("2026-01-05", date(2026, 1, 12))):
        shutil.copyfile(copies[day], folder.workbook)
        assert invoices(folder).loc["INV-2026-0001", "Due Date"].date() == shown
        capsys.readouterr()
        assert folder.run("--as-of", "2026-02-03") == 0
        assert problems(capsys.readouterr().out) == []
        row = invoices(folder).loc["INV-2026-0001"]
        assert row["Due Date"].date() == date(2026, 2, 9) and row["Reissue Count"] == 2
    assert len(folder.received) == 3  # nothing sent again


def resave(folder: Folder, invoice_cells: dict[str, dict[str, object]]) -> None:
    """The workbook as another program saves it again (every value kept, dates as date-times,
    amounts as floats, no formulas), with `invoice_cells` as found on the Invoices rows."""
    sheets = pd.read_excel(folder.workbook, sheet_name=None, engine="calamine")
    wb = xlsxwriter.Workbook(str(folder.workbook))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, frame in sheets.items():
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, list(frame.columns))
        for r, values in enumerate(frame.to_dict("records"), start=1):
            values.update(invoice_cells.get(values.get("Invoice No"), {}) if name == "Invoices"
                          else {})  # fmt: skip
            for c, value in enumerate(values.values()):
                if isinstance(value, datetime):
                    ws.write_datetime(r, c, value, day)
                elif not (isinstance(value, float) and value != value):
                    ws.write(r, c, value)
    wb.close()


def test_a_workbook_saved_again_elsewhere_is_no_edit(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = issued
    resave(
        folder,
        {
            "INV-2026-0001": {  # text dates as the docs allow, names as clients are matched
                "Client": "  beta   BAKERY ",
                "Currency": "usd",
                "Terms": "net 14",
                "Invoice Date": "2026-01-05",
                "Due Date": "2026-01-19",
                "Total": "125",
            },
            "INV-2026-0002": {  # a date-time at midnight, a float a formula left
                "Due Date": datetime(2026, 2, 4, 0, 0),
                "Total": 181.99999999999997,
            },
        },
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-02-10") == 0
    assert problems(capsys.readouterr().out) == []
    assert len(mails_to(folder, "Beta Bakery")) == 2 and len(mails_to(folder, "Gamma Gym")) == 2
    row = invoices(folder).loc["INV-2026-0001"]
    assert (row["Client"], row["Currency"], row["Terms"]) == ("Beta Bakery", "USD", "Net 14")
