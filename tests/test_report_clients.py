"""Clients as the rest of the tool knows them, in the receivables report and the run.

A client is matched ignoring case and spacing: invoices issued under `Acme Dental`
and `ACME  Dental` are one client's, in one row of Aging and one group of By client,
under its name in Clients now. By client names each row's currency. An open
invoice whose client is no longer in Clients (renamed there) is told on its
Invoices row, since nothing is sent about it any more.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook
from test_statement import type_in

from automation.cli import main
from automation.report import (
    AGING_SHEET,
    CLIENT_HEADERS,
    CLIENT_SHEET,
    CREDIT_SHEET,
    OPEN_SHEET,
    CreditNoteItem,
    Receivable,
    write_receivables_report,
)
from automation.report_worker import start_report

AS_OF = date(2026, 6, 30)


def receivable(no: str, name: str, balance: str, currency: str = "USD", age: int = 0) -> Receivable:
    issued = date(2026, 5, 1) + timedelta(days=age)
    amount = Decimal(balance)
    return Receivable(no, name, currency, issued, issued + timedelta(days=30), amount,
                      Decimal(0), amount, "Overdue")  # fmt: skip


def table(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    """The rows under the sheet's header row, blank ones left out."""
    rows = openpyxl.load_workbook(path)[sheet].iter_rows(min_row=4, values_only=True)
    return [row for row in rows if row[0]]


RETYPED = [
    receivable("INV-1", "Acme Dental", "100.00"),
    receivable("INV-2", "ACME  Dental", "50.00", age=7),
    receivable("INV-3", "Birch", "20.00"),
]
NOTE = CreditNoteItem("CN-1", date(2026, 6, 1), "INV-1", "acme dental", "USD", Decimal(5), "credit")


@pytest.mark.parametrize("background", [False, True])
def test_one_client_whatever_the_case_and_spacing(tmp_path: Path, background: bool) -> None:
    """Its name in Clients now, on every sheet, in the run's process or the worker's."""
    names = {"acme dental": "Acme  DENTAL", "birch": "Birch"}
    pending = start_report(RETYPED, AS_OF, tmp_path, [NOTE], names=names,
                           background_from=1 if background else 1000)  # fmt: skip
    assert pending.in_background == background
    path = pending.wait()
    assert [row[:2] + row[-1:] for row in table(path, AGING_SHEET)] == [
        ("Acme  DENTAL", "USD", 150), ("Birch", "USD", 20), ("Total USD", "USD", 170),
    ]  # fmt: skip
    balance = CLIENT_HEADERS.index("Balance")
    by_client = [row[:2] + row[balance : balance + 1] for row in table(path, CLIENT_SHEET)]
    assert by_client == [
        ("Acme  DENTAL", "INV-1", 100), ("Acme  DENTAL", "INV-2", 50),
        ("Acme  DENTAL", "Total USD", 150), ("Birch", "INV-3", 20), ("Birch", "Total USD", 20),
    ]  # fmt: skip
    assert {row[1] for row in table(path, OPEN_SHEET)} == {"Acme  DENTAL", "Birch"}
    assert [row[3] for row in table(path, CREDIT_SHEET)] == ["Acme  DENTAL"]


def test_a_client_gone_from_clients_shows_under_its_latest_invoice_name(tmp_path: Path) -> None:
    path = write_receivables_report(RETYPED, AS_OF, tmp_path)
    assert [row[0] for row in table(path, AGING_SHEET)] == ["ACME  Dental", "Birch", "Total USD"]


def test_by_client_names_each_rows_currency(tmp_path: Path) -> None:
    """A client with a USD and a EUR invoice: each row says which, as Open invoices does."""
    items = [receivable("INV-1", "Switch", "500.00"),
             receivable("INV-2", "Switch", "200.00", "EUR", age=7)]  # fmt: skip
    path = write_receivables_report(items, AS_OF, tmp_path)
    currency = CLIENT_HEADERS.index("Currency")
    assert CLIENT_HEADERS[:3] == ("Client", "Invoice No", "Currency")
    assert [(row[1], row[currency], row[CLIENT_HEADERS.index("Balance")])
            for row in table(path, CLIENT_SHEET)] == [
        ("INV-1", "USD", 500), ("INV-2", "EUR", 200), ("Total EUR", "EUR", 200),
        ("Total USD", "USD", 500),
    ]  # fmt: skip


def test_run_report_keeps_a_client_retyped_in_clients_together(folder: Folder) -> None:
    """Invoiced as `Acme Dental`, retyped `ACME  Dental` in Clients and billed again: one
    client in the report, as on its statement."""
    write_workbook(folder.workbook, [client("Acme Dental")],
                   [service(date(2026, 10, 1), "Acme Dental", "Audit", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-10-05") == 0
    folder.type_in("Clients", 2, Client="ACME  Dental")
    folder.type_in("Services", 3, Date=date(2026, 10, 8), Client="acme dental",
                   Description="Payroll", Quantity=1, Unit_Price=50, Amount=50)  # fmt: skip
    assert folder.run("--as-of", "2026-10-12") == 0
    report = folder.root / "reports" / "receivables-2026-10-12.xlsx"
    assert [row[:2] + row[-1:] for row in table(report, AGING_SHEET)] == [
        ("ACME  Dental", "USD", 150), ("Total USD", "USD", 150),
    ]  # fmt: skip
    assert [row[:2] for row in table(report, CLIENT_SHEET)] == [
        ("ACME  Dental", "INV-2026-0001"), ("ACME  Dental", "INV-2026-0002"),
        ("ACME  Dental", "Total USD"),
    ]  # fmt: skip


GONE = 'its client "Acme" is not in Clients'


def test_an_invoice_of_a_client_renamed_in_clients_is_told(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acme renamed Acme Holdings in Clients: its overdue invoice gets no reminder, and
    `check`, the dry run and the run say so on its Invoices row (exit 1), once each, until
    the invoice is put on Hold or the client's old name is back in Clients."""
    write_workbook(folder.workbook, [client("Acme"), client("Cobalt")],
                   [service(date(2026, 10, 1), name, "Audit", 1, 100)
                    for name in ("Acme", "Cobalt")])  # fmt: skip
    assert folder.run("--as-of", "2026-10-05") == 0
    folder.type_in("Clients", 2, Client="Acme Holdings")
    capsys.readouterr()
    book = ["--workbook", str(folder.workbook), "--as-of", "2026-11-12"]
    for command in (["check", *book], [*book, "--dry-run"]):
        assert main(command) == 1
        assert capsys.readouterr().out.count(GONE) == 1
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-11-12") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert out.count(GONE) == 1
    row = folder.row_of("Invoices", "Invoice No", "INV-2026-0001")
    assert f"Invoices row {row}, Client: INV-2026-0001 is still owed, but no reminder" in out
    assert 'add a row named "Acme" to Clients again' in out and "type Hold" in out
    # Cobalt is reminded as ever; Acme's invoice still counts as owed.
    assert [m.rcpt_tos for m in folder.received[sent:]] == [["cobalt@clients.example"]]
    assert "Outstanding: $200.00" in out

    type_in(folder, "INV-2026-0001", Status="Hold")
    assert folder.run("--as-of", "2026-11-19") == 0
    assert GONE not in capsys.readouterr().out
    type_in(folder, "INV-2026-0001", Status=None)
    folder.type_in("Clients", 4, Client="Acme", Email="acme@clients.example", Terms="Net 30")
    assert folder.run("--as-of", "2026-11-26") == 0
    assert GONE not in capsys.readouterr().out
    assert "INV-2026-0001" in str(folder.received[-1].message["Subject"])  # chased again


def test_inactive_clients_and_hand_typed_invoices_are_not_told(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """An inactive client's invoice is left alone without a word, as documented, and an
    open invoice typed by hand for a client not in Clients is not the tool's to chase."""
    hand = {"Invoice No": "OLD-7", "Client": "Nobody Ltd", "Currency": "USD",
            "Invoice Date": "2026-08-01", "Due Date": "2026-08-31", "Total": 80,
            "Status": "Sent"}  # fmt: skip
    write_workbook(folder.workbook, [client("Dormant")],
                   [service(date(2026, 10, 1), "Dormant", "Audit", 1, 100)],
                   invoices=[hand])  # fmt: skip
    assert folder.run("--as-of", "2026-10-05") == 0
    folder.type_in("Clients", 2, Active="No")
    capsys.readouterr()
    assert folder.run("--as-of", "2026-11-12") == 0
    out = capsys.readouterr().out
    assert "is not in Clients" not in out and "need attention" not in out
