"""Amounts the bookkeeper types on the Invoices sheet: a credit in another currency, a
payment of less than a cent, a formula's binary rounding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import Folder, client, service, write_workbook
from test_followup import invoices, type_into_invoices


@pytest.fixture
def billed(folder: Folder) -> Folder:
    """Acme invoiced $300.00 on 9 March 2026."""
    write_workbook(folder.workbook, [client("Acme")],
                   [service(date(2026, 3, 2), "Acme", "Bookkeeping", 3, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    return folder


def test_a_credit_typed_in_another_currency_issues_no_credit_note(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """"€50" on a USD invoice issued a credit note for $50.00 and emailed it."""
    type_into_invoices(billed, "Acme", Credit_Amount="€50")
    capsys.readouterr()
    assert billed.run("--as-of", "2026-03-10") == 1
    said = " ".join(capsys.readouterr().out.split())
    assert '"€50" is in EUR, but the invoice is in USD; type the credit in USD.' in said
    assert len(billed.received) == 1  # the invoice only: no credit note
    assert str(invoices(billed).loc["Acme", "Credit Notes"]) in ("", "nan")


def test_a_payment_of_less_than_a_cent_is_refused_not_thanked(
    billed: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.004 made the invoice Partially Paid and emailed "we have received $0.00"."""
    type_into_invoices(billed, "Acme", Paid_Amount=Decimal("0.004"), Paid_Date=date(2026, 3, 10))
    capsys.readouterr()
    assert billed.run("--as-of", "2026-03-10") == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "0.004 has 3 decimals; USD amounts have at most 2" in said
    assert len(billed.received) == 1
    assert invoices(billed).loc["Acme", "Status"] == "Sent"


def test_a_formulas_binary_rounding_is_the_amount_it_shows(billed: Folder) -> None:
    """=100.1+199.9 is 300.00000000000006 in a cell: paid in full, thanked once."""
    noisy = Decimal(repr(100.1 + 199.90000000000006))  # 300.00000000000006, as Excel stores it
    type_into_invoices(billed, "Acme", Paid_Amount=noisy, Paid_Date=date(2026, 3, 10))
    assert billed.run("--as-of", "2026-03-10") == 0
    assert invoices(billed).loc["Acme", "Status"] == "Paid"
    assert len(billed.received) == 2


def test_money_typed_in_quantity_is_refused(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """"$1,250.50" in Quantity with Unit Price 10 was billed as 1,250.5 units: $12,505.00."""
    from automation.cli import main

    write_workbook(folder.workbook, [client("Acme")],
                   [service(date(2026, 3, 2), "Acme", "Bookkeeping", "$1,250.50", 10),
                    service(date(2026, 3, 2), "Acme", "Payroll", "2", 10)])  # fmt: skip
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert (
        'Services row 2, Quantity: "$1,250.50" is an amount of money, but Quantity is a count'
        in said
    )
    assert "row 3" not in said
