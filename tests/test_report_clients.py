"""Clients as the rest of the tool knows them, in the receivables report and the run.

A client is matched ignoring case and spacing: invoices issued under `Acme Dental`
and `ACME  Dental` are one client's, in one row of Aging and one group of By client,
under its name in Clients now. By client names each row's currency.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import Folder, client, service, write_workbook

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
