"""A client's row in Clients made wrong, or the client made inactive, after its invoices
were issued: what the bookkeeper typed on those invoices waits, as under Hold, and the
run says so; nothing already delivered is marked Failed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from test_corrections import cell, run, services, subjects_of
from test_followup import mails_to, type_into_invoices

DAY0 = date(2026, 3, 9)
NAMES = ("Acme", "Birch", "Cedar")  # Clients rows 2, 3, 4; INV-2026-0001, 0002, 0003


@pytest.fixture
def issued(folder: Folder) -> Folder:
    """Three clients invoiced and emailed on 9 March 2026 ($500 each, Net 14)."""
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 14") for n in NAMES],
        [service(date(2026, 3, 2), n, "Bookkeeping", 5, 100) for n in NAMES],
    )
    run(folder, DAY0)
    assert len(folder.received) == 3
    return folder


def set_emails(folder: Folder, broken: bool) -> None:
    """Every client's Email made unusable (a typo), or as it was."""
    for row, name in enumerate(NAMES, start=2):
        email = f"{name.lower()}{' at ' if broken else '@'}clients.example"
        folder.type_in("Clients", row, Email=email)


def test_corrections_wait_while_the_clients_row_has_a_problem(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = issued
    set_emails(folder, broken=True)
    type_into_invoices(folder, "Acme", Resend="Yes")
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("40"))
    type_into_invoices(folder, "Cedar", Status="Void")
    capsys.readouterr()
    for day in (date(2026, 3, 16), date(2026, 3, 23)):  # each run says what waits
        run(folder, day, expect=1)  # the Clients rows' problem
        out = capsys.readouterr().out
        assert "INV-2026-0001 (Acme): Resend waits until Clients row 2 is fixed." in out
        assert (
            "INV-2026-0002 (Birch): Credit Amount $40.00 (no credit note yet) waits until "
            "Clients row 3 is fixed." in out
        )
        assert (
            "INV-2026-0003 (Cedar): Void (no credit note yet) waits until Clients row 4 is "
            "fixed." in out
        )
        assert "FAILED" not in out
        assert len(folder.received) == 3  # nothing numbered, nothing sent
        assert cell(folder, "Acme", "Resend") == "Yes"
        assert cell(folder, "Birch", "Credit Amount") == 40
        assert cell(folder, "Birch", "Credit Notes") is None
        assert cell(folder, "Cedar", "Status") == "Void"
        assert cell(folder, "Cedar", "Credit Notes") is None
        for name in ("Acme", "Birch"):  # delivered: never Failed for the Clients row
            assert cell(folder, name, "Status") in ("Sent", "Overdue")
            assert "Not emailed" not in str(cell(folder, name, "Note"))
    set_emails(folder, broken=False)
    run(folder, date(2026, 3, 30))
    assert subjects_of(mails_to(folder, "Acme")[1:]) == ["Copy of invoice INV-2026-0001"]
    assert subjects_of(mails_to(folder, "Birch")[1:]) == [
        "Credit note CN-2026-0001 for invoice INV-2026-0002"
    ]
    assert subjects_of(mails_to(folder, "Cedar")[1:]) == [
        "Credit note CN-2026-0002 for invoice INV-2026-0003"
    ]
    assert cell(folder, "Acme", "Resend") is None
    assert cell(folder, "Birch", "Balance") == 460
    assert cell(folder, "Cedar", "Credit Notes") == "CN-2026-0002"


def test_a_resend_for_an_inactive_client_waits_until_it_is_active(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = issued
    folder.type_in("Clients", 2, Active="No")
    type_into_invoices(folder, "Acme", Resend="Yes")
    capsys.readouterr()
    for day in (date(2026, 3, 16), date(2026, 3, 23)):
        run(folder, day)
        assert (
            "INV-2026-0001 (Acme): Resend waits until Acme is active again (Active is No in "
            "Clients row 2)." in capsys.readouterr().out
        )
        assert cell(folder, "Acme", "Resend") == "Yes"
        assert len(mails_to(folder, "Acme")) == 1
    folder.type_in("Clients", 2, Active="Yes")
    run(folder, date(2026, 3, 30))
    assert subjects_of(mails_to(folder, "Acme")[1:]) == ["Copy of invoice INV-2026-0001"]
    assert cell(folder, "Acme", "Resend") is None


def test_the_run_names_the_invoices_a_clients_row_problem_stops_mail_for(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Clients row made wrong after invoicing stops reminders and payment notes for the
    invoices already issued to that client: each run names them, never in silence."""
    folder = issued
    folder.type_in("Clients", 2, Email="acme at clients.example")
    folder.type_in("Clients", 3, Language="fr")
    folder.type_in("Clients", 4, Active="No", Email="x")  # inactive: nothing said
    type_into_invoices(folder, "Birch", Paid_Amount=Decimal("500"), Paid_Date=date(2026, 3, 20))
    capsys.readouterr()
    run(folder, date(2026, 3, 30), expect=1)
    out = capsys.readouterr().out
    assert (
        "Clients row 2 (Acme) has a problem, so no reminder, payment note or statement goes "
        "for its invoice already issued (INV-2026-0001) until it is fixed." in out
    )
    assert "Clients row 3 (Birch) has a problem" in out and "(INV-2026-0002)" in out
    assert "Cedar" not in out.split("need attention")[-1]
    assert len(folder.received) == 3  # no reminder, no thank-you


def test_terms_currency_or_tax_not_understood_stop_new_invoices_only(
    issued: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Terms, a currency or a tax rate typed wrong after invoicing stop the client's new
    invoices (their Services rows say why), not what the invoices already issued are
    owed: they keep their own terms, currency and tax, so the copy, the credit note and
    the thank-you go as they would."""
    folder = issued
    folder.type_in("Clients", 2, Terms="Net thirty")
    folder.type_in("Clients", 3, Currency="Dollars")
    folder.type_in("Clients", 4, Tax_Rate="abc")
    folder.type_in("Services", 5, Date=date(2026, 3, 20), Client="Acme", Description="More",
                   Quantity=1, Unit_Price=50)  # fmt: skip
    type_into_invoices(folder, "Acme", Resend="Yes")
    type_into_invoices(folder, "Birch", Credit_Amount=Decimal("40"))
    type_into_invoices(folder, "Cedar", Paid_Amount=Decimal("500"), Paid_Date=date(2026, 3, 12))
    capsys.readouterr()
    run(folder, date(2026, 3, 16), expect=1)  # the Clients rows' problems
    out = capsys.readouterr().out
    assert "has a problem, so no reminder" not in out and "waits until Clients row" not in out
    assert subjects_of(mails_to(folder, "Acme")[1:]) == ["Copy of invoice INV-2026-0001"]
    assert subjects_of(mails_to(folder, "Birch")[1:]) == [
        "Credit note CN-2026-0001 for invoice INV-2026-0002"
    ]
    assert len(mails_to(folder, "Cedar")) == 2 and cell(folder, "Cedar", "Status") == "Paid"
    assert cell(folder, "Birch", "Balance") == 460
    new_line = services(folder).iloc[3]
    assert new_line["Status"] == "Error" and pd.isna(new_line["Invoice No"])
    assert "not billed until Clients row 2 is fixed" in new_line["Error"]
