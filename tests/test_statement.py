"""Statements of account: the pure model, and documents checked against the workbook.

Three clients (English in USD, Russian in RUB, Kazakh in KZT) go through two
months of weekly runs with a part payment, a credit note, a full payment and
an overpayment; each month's statement, read back with python-docx, must
agree to the cent with the Invoices sheet.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import docx
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import Tx, camt053

from automation.cli import main
from automation.config import load_config
from automation.fmt import format_money
from automation.model import CellUpdate
from automation.statement import (
    ADJUSTMENT,
    AGING_BUCKETS,
    CREDIT_NOTE,
    DISCOUNT,
    FEE,
    INVOICE,
    PAYMENT,
    REFUND,
    ROUNDING,
    CreditFact,
    InvoiceFact,
    PaymentFact,
    Stated,
    build_statement,
    payments_from_history,
)
from automation.statement_run import StatementRequest, make_statements, statement_period
from automation.writeback import apply_updates

D = Decimal
LANGUAGES = {"Ames": ("en", "USD"), "Borisov": ("ru", "RUB"), "Zhanar": ("kk", "KZT")}


# -- the pure model ------------------------------------------------------------


def test_running_balance_opening_closing_and_aging() -> None:
    invoices = [
        InvoiceFact("INV-1", date(2026, 6, 15), date(2026, 7, 15), D("1000.00")),
        InvoiceFact("INV-2", date(2026, 9, 10), date(2026, 10, 10), D("250.00")),
        InvoiceFact("INV-3", date(2026, 9, 20), date(2026, 9, 20), D("80.00")),
        InvoiceFact("INV-4", date(2026, 10, 5), date(2026, 11, 4), D("99.99")),  # after the end
    ]
    payments = [
        PaymentFact("INV-1", date(2026, 8, 3), D("300.00")),
        PaymentFact("INV-3", date(2026, 9, 21), D("100.00")),  # 20.00 too much
        PaymentFact("INV-2", date(2026, 9, 12), D("5.00"), DISCOUNT),
    ]
    credits = [CreditFact("CN-1", "INV-1", date(2026, 9, 15), D("50.00"))]
    st = build_statement(
        "Acme", "USD", invoices, payments, credits, date(2026, 9, 1), date(2026, 9, 30)
    )
    assert st.opening == D("700.00")
    assert [(i.day.day, i.kind, i.amount, i.balance) for i in st.items] == [
        (10, INVOICE, D("250.00"), D("950.00")),
        (12, DISCOUNT, D("-5.00"), D("945.00")),
        (15, CREDIT_NOTE, D("-50.00"), D("895.00")),
        (20, INVOICE, D("80.00"), D("975.00")),
        (21, PAYMENT, D("-100.00"), D("875.00")),
    ]
    assert st.closing == D("875.00")
    assert [(o.invoice_no, o.open_amount, o.bucket) for o in st.open_items] == [
        ("INV-1", D("650.00"), "61-90"),
        ("INV-2", D("245.00"), "Current"),
    ]
    assert dict(zip(AGING_BUCKETS, st.aging, strict=True))["61-90"] == D("650.00")
    assert st.unapplied == D("-20.00")
    assert sum(st.aging) + st.unapplied == st.closing


def test_invoices_of_one_day_are_listed_in_the_order_they_were_issued() -> None:
    # A number format without a width ("N{seq}"): as text N10 sorts before N2.
    day, due = date(2026, 9, 3), date(2026, 10, 3)
    invoices = [InvoiceFact(f"N{k}", day, due, D("10.00")) for k in (10, 2, 9, 11)]
    credits = [CreditFact(f"C{k}", f"N{k}", day, D("1.00")) for k in (10, 2)]
    st = build_statement("Acme", "USD", invoices, [], credits, date(2026, 9, 1), date(2026, 9, 30))
    assert [i.reference for i in st.items] == ["N2", "N9", "N10", "N11", "C2", "C10"]
    assert [o.invoice_no for o in st.open_items] == ["N2", "N9", "N10", "N11"]


def test_a_quiet_month_still_states_the_balance() -> None:
    invoices = [InvoiceFact("INV-1", date(2026, 1, 5), date(2026, 2, 4), D("10.00"))]
    st = build_statement("Acme", "USD", invoices, [], [], date(2026, 9, 1), date(2026, 9, 30))
    assert st.items == () and st.opening == st.closing == D("10.00") and st.has_activity
    assert st.open_items[0].days_overdue == 238 and st.open_items[0].bucket == "Over 90"
    nothing = build_statement("Acme", "USD", [], [], [], date(2026, 9, 1), date(2026, 9, 30))
    assert not nothing.has_activity


def test_payment_history_dates_each_part_payment_and_takes_back_corrections() -> None:
    history = [
        (D("400"), date(2026, 10, 10)),
        (D("4000"), date(2026, 11, 5)),  # a typo...
        (D("1000"), date(2026, 11, 5)),  # ...corrected
        (D("1000"), date(2026, 11, 6)),  # and the date fixed
    ]
    facts = payments_from_history("INV-1", history)
    assert [(f.paid_on.day, f.amount) for f in facts] == [(10, D("400")), (6, D("600"))]


def test_a_fall_seen_by_a_later_run_is_a_refund_not_a_rewrite_of_the_past() -> None:
    history = [
        (D("1200"), date(2026, 2, 25), date(2026, 3, 2)),  # overpaid, seen on 2 March
        (D("4000"), date(2026, 3, 3), date(2026, 3, 9)),  # a typo...
        (D("1200"), date(2026, 3, 3), date(2026, 3, 9)),  # ...fixed before that run ended
        (D("1000"), date(2026, 3, 3), date(2026, 3, 16)),  # the 200 paid back, seen later
    ]
    facts = payments_from_history("INV-1", history)
    assert [(f.paid_on, f.amount, f.kind) for f in facts] == [
        (date(2026, 2, 25), D("1200"), PAYMENT),
        (date(2026, 3, 16), D("-200"), REFUND),
    ]


def test_paid_amount_lowered_below_what_the_bank_paid_is_a_refund() -> None:
    """The typed part is Paid Amount less Paid By Bank: lowered under the bank's 400 (3.34
    of an overpayment moved to another invoice), no typed payment can take it back."""
    history = [(D("-3.34"), date(2026, 1, 20), date(2026, 2, 4))]
    facts = payments_from_history("INV-1", history)
    assert [(f.paid_on, f.amount, f.kind) for f in facts] == [
        (date(2026, 2, 4), D("-3.34"), REFUND)
    ]


def test_a_statement_asks_for_its_open_invoices_and_keeps_the_credit_apart() -> None:
    """3.34 paid over INV-1, INV-2 open: the closing balance nets them (393.32), what the
    statement asks for is what INV-2 needs (396.66): the client's money is not taken off,
    as each invoice is settled on its own."""
    invoices = [
        InvoiceFact("INV-1", date(2026, 1, 5), date(2026, 2, 4), D("396.66")),
        InvoiceFact("INV-2", date(2026, 1, 26), date(2026, 2, 25), D("396.66")),
    ]
    paid = [PaymentFact("INV-1", date(2026, 1, 20), D("400.00"))]
    st = build_statement("Mir", "EUR", invoices, paid, [], date(2026, 1, 1), date(2026, 1, 31))
    assert (st.closing, st.due, st.unapplied) == (D("393.32"), D("396.66"), D("-3.34"))
    assert sum(st.aging, D(0)) + st.unapplied == st.closing


def test_default_period_is_the_previous_month() -> None:
    assert statement_period(date(2026, 1, 4), None, None) == (date(2025, 12, 1), date(2025, 12, 31))
    assert statement_period(date(2026, 1, 4), date(2025, 11, 1), None) == (
        date(2025, 11, 1),
        date(2026, 1, 4),
    )


# -- two months in the workbook, three languages --------------------------------


def invoices_sheet(folder: Folder) -> pd.DataFrame:
    return pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")


def type_in(folder: Folder, number: str, **cells: object) -> None:
    folder.type_in("Invoices", folder.row_of("Invoices", "Invoice No", number), **cells)


def pay(folder: Folder, number: str, amount: str, when: date) -> None:
    type_in(folder, number, Paid_Amount=D(amount), Paid_Date=when)


def numbers_of(folder: Folder, name: str) -> list[str]:
    frame = invoices_sheet(folder)
    return sorted(frame.loc[frame["Client"] == name, "Invoice No"])


def document_text(path) -> str:
    document = docx.Document(str(path))
    texts = [p.text for p in document.paragraphs]
    texts += [" | ".join(c.text for c in r.cells) for t in document.tables for r in t.rows]
    return "\n".join(texts)


@pytest.fixture(scope="module")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> Folder:
    from smtp_servers import Recorder, running_server

    recorder = Recorder()
    with running_server(recorder) as port:
        folder = Folder(tmp_path_factory.mktemp("statements"), recorder, port)
        folder.write_config(extra='default_terms = "Net 30"')
        write_workbook(
            folder.workbook,
            [client(name, Language=lang, Currency=cur) for name, (lang, cur) in LANGUAGES.items()],
            [service(date(2026, 9, 28), name, "Monthly bookkeeping", 1, 1000) for name in LANGUAGES]
            + [service(date(2026, 10, 9), name, "Payroll", 1, 500) for name in LANGUAGES],
        )
        assert folder.run("--as-of", "2026-10-01") == 0  # INV 1-3: 1,000 each (Sep 28 work)
        assert folder.run("--as-of", "2026-10-12") == 0  # INV 4-6: 500 each
        for name in LANGUAGES:
            first, second = numbers_of(folder, name)
            pay(folder, first, "400", date(2026, 10, 15))
            type_in(folder, second, Credit_Amount=D("50"))  # a goodwill credit: a credit note
        assert folder.run("--as-of", "2026-10-20") == 0  # part payments seen (and noted)
        for name in LANGUAGES:
            first, second = numbers_of(folder, name)
            pay(folder, first, "1000", date(2026, 11, 5))
            pay(folder, second, "600", date(2026, 11, 6))  # 150 too much
        assert folder.run("--as-of", "2026-11-09") == 0
        yield folder


@pytest.mark.parametrize("name", list(LANGUAGES))
def test_statements_agree_with_the_workbook(two_months: Folder, name: str) -> None:
    folder = two_months
    language, currency = LANGUAGES[name]
    config = load_config(folder.root / "billing.toml")
    first, second = numbers_of(folder, name)

    def money(amount: str) -> str:
        return format_money(D(amount), currency, language)

    october = make_statements(StatementRequest(folder.workbook, date(2026, 11, 9), config, name))
    ((st, (path,)),) = october.files
    assert (october.start, october.end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert path == folder.root / "account-statements" / "2026" / f"{name}-2026-10-31.docx"
    assert (st.opening, st.closing) == (D("0"), D("1050.00"))
    (note,) = (i.reference for i in st.items if i.kind == CREDIT_NOTE)
    assert note.startswith("CN-2026-")
    assert [(i.kind, i.reference or i.invoice_no, i.amount) for i in st.items] == [
        (INVOICE, first, D("1000.00")),
        (INVOICE, second, D("500.00")),
        (PAYMENT, first, D("-400.00")),
        (CREDIT_NOTE, note, D("-50.00")),
    ]
    assert [(o.invoice_no, o.open_amount) for o in st.open_items] == [
        (first, D("600.00")),
        (second, D("450.00")),
    ]
    text = document_text(path)
    for figure in ("1000", "500", "400", "50", "1050", "600", "450"):
        assert money(figure) in text, (figure, text)
    assert first in text and second in text and note in text

    november = make_statements(
        StatementRequest(
            folder.workbook, date(2026, 12, 1), config, name, date(2026, 11, 1), date(2026, 11, 30)
        )
    )
    ((st, (path,)),) = november.files
    assert (st.opening, st.closing) == (D("1050.00"), D("-150.00"))
    assert [i.amount for i in st.items] == [D("-600.00"), D("-600.00")]
    assert st.open_items == () and st.unapplied == D("-150.00")
    # To the cent with the Invoices sheet: the closing balance is the sum of Balance.
    frame = invoices_sheet(folder)
    balances = frame.loc[frame["Client"] == name, "Balance"]
    assert st.closing == sum((D(str(b)).quantize(D("0.01")) for b in balances), D("0"))
    text = document_text(path)
    assert money("1050") in text and money("150") in text and money("-150") in text


def test_a_cent_paid_too_much_closes_at_zero_as_the_sheet_does(folder: Folder) -> None:
    """100.01 paid on 100.00: the sheet says Paid, Balance 0.00; so must the statement."""
    folder.write_config()
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 10, 1), "Ames", "Bookkeeping", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-10-01") == 0
    (number,) = numbers_of(folder, "Ames")
    pay(folder, number, "100.01", date(2026, 10, 10))
    assert folder.run("--as-of", "2026-10-12") == 0
    row = invoices_sheet(folder).set_index("Invoice No").loc[number]
    assert (row["Status"], D(str(row["Balance"]))) == ("Paid", D("0"))
    config = load_config(folder.root / "billing.toml")
    october = make_statements(StatementRequest(folder.workbook, date(2026, 11, 2), config, "Ames"))
    ((st, _),) = october.files
    assert st.closing == D("0.00") and st.unapplied == D("0")
    assert sum(i.amount for i in st.items) == D("0.00")
    # the cent is a rounding line, not an early-payment discount (Net 30 has none)
    assert [(i.kind, i.amount) for i in st.items][-2:] == [
        (PAYMENT, D("-100.01")), (ROUNDING, D("0.01"))]  # fmt: skip
    text = document_text(october.files[0][1][0])
    assert "Rounding difference written off, invoice " + number in text
    assert "discount" not in text.lower()


def test_an_overpayment_paid_back_is_a_refund_in_its_month_and_the_past_stays(
    folder: Folder,
) -> None:
    """1,200 paid on 1,000 in February (the February statement says -200); the 200 is
    paid back and Paid Amount lowered in March: February is not rewritten, March shows
    the refund (dated by the run that saw it)."""
    folder.write_config()
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 2, 2), "Ames", "Audit", 1, 1000)])  # fmt: skip
    assert folder.run("--as-of", "2026-02-02") == 0
    (number,) = numbers_of(folder, "Ames")
    pay(folder, number, "1200", date(2026, 2, 25))
    assert folder.run("--as-of", "2026-03-02") == 0
    type_in(folder, number, **{"Paid Amount": D("1000")})
    assert folder.run("--as-of", "2026-03-09") == 0
    config = load_config(folder.root / "billing.toml")

    def statement(start: date, end: date):  # type: ignore[no-untyped-def]
        result = make_statements(StatementRequest(folder.workbook, date(2026, 4, 1), config,
                                                  "Ames", start, end))  # fmt: skip
        ((st, _),) = result.files
        return st

    february = statement(date(2026, 2, 1), date(2026, 2, 28))
    assert february.closing == D("-200.00")
    march = statement(date(2026, 3, 1), date(2026, 3, 31))
    assert [(i.day, i.kind, i.amount) for i in march.items] == [
        (date(2026, 3, 9), REFUND, D("200.00"))]  # fmt: skip
    assert (march.opening, march.closing) == (D("-200.00"), D("0.00"))


def test_a_payment_and_a_credit_under_hold_get_their_thank_you_after_hold(
    folder: Folder,
) -> None:
    """On Hold, Credit Amount 50 and the other 300 paid: cleared, the credit note goes first
    and the thank-you at the next run (the invoice was set aside unthanked)."""
    folder.write_config()
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 3, 2), "Ames", "Audit", 1, 350)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    (number,) = numbers_of(folder, "Ames")
    type_in(folder, number, Status="Hold", **{"Credit Amount": D("50")})
    pay(folder, number, "300", date(2026, 3, 5))
    assert folder.run("--as-of", "2026-03-09") == 0
    type_in(folder, number, Status=None)
    assert folder.run("--as-of", "2026-03-16") == 0  # the credit note
    assert folder.run("--as-of", "2026-03-23") == 0  # the thank-you
    subjects = [str(r.message["Subject"]) for r in folder.received]
    assert subjects[-2].startswith("Credit note") and subjects[-1].startswith("Thank")
    assert folder.run("--as-of", "2026-03-30") == 0
    assert len(folder.received) == len(subjects)


def test_a_bank_fee_written_off_is_a_line_of_its_own(folder: Folder) -> None:
    """998.50 received on 999.99 with fee_tolerance 1.50: the client sees 998.50 received
    and 1.49 written off, not 999.99 received."""
    folder.write_config(extra='currency = "EUR"\n[bank]\nfee_tolerance = 1.50')
    write_workbook(folder.workbook, [client("Beta", Currency="EUR")],
                   [service(date(2026, 3, 2), "Beta", "Audit", 1, "999.99")])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    (number,) = numbers_of(folder, "Beta")
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 5), D("998.50"), "Beta", purpose=number, ref="B1")]
    (inbox / "march.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    assert folder.run("--as-of", "2026-03-06") == 0
    config = load_config(folder.root / "billing.toml")
    result = make_statements(StatementRequest(folder.workbook, date(2026, 4, 1), config, "Beta"))
    ((st, (path, *_)),) = result.files
    assert [(i.kind, i.amount) for i in st.items][1:] == [
        (PAYMENT, D("-998.50")), (FEE, D("-1.49"))]  # fmt: skip
    assert st.closing == D("0.00")
    text = document_text(path)
    assert "Bank fee written off, invoice " + number in text and "€998.50" in text
    assert "€999.99" in text  # the invoice itself, and the total received with the fee


def test_bank_payments_are_dated_by_the_bank_and_typed_ones_by_paid_date(folder: Folder) -> None:
    """One import brings 500 (5 Mar) and 700 (12 Mar) for Acme: two payments on two dates.

    Beta's 200 typed by hand on 3 Mar keeps its date when the bank's 100 on 12 Mar arrives.
    """
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook,
                   [client("Acme", Currency="EUR"), client("Beta", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme", "Audit", 1, 1200),
                    service(date(2026, 3, 2), "Beta", "Payroll", 1, 300)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    (acme,), (beta,) = numbers_of(folder, "Acme"), numbers_of(folder, "Beta")
    pay(folder, beta, "200", date(2026, 3, 3))
    assert folder.run("--as-of", "2026-03-04") == 0
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 5), D("500.00"), "Acme", purpose=acme, ref="A1"),
            Tx(date(2026, 3, 12), D("700.00"), "Acme", purpose=acme, ref="A2"),
            Tx(date(2026, 3, 12), D("100.00"), "Beta", purpose=beta, ref="B1")]  # fmt: skip
    (inbox / "march.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    assert folder.run("--as-of", "2026-03-20") == 0
    config = load_config(folder.root / "billing.toml")

    def statement(name: str, start: date, end: date):  # type: ignore[no-untyped-def]
        result = make_statements(StatementRequest(folder.workbook, date(2026, 3, 31), config,
                                                  name, start, end))  # fmt: skip
        ((st, _),) = result.files
        return st

    march = statement("Acme", date(2026, 3, 1), date(2026, 3, 31))
    assert [(i.day, i.amount) for i in march.items if i.kind == PAYMENT] == [
        (date(2026, 3, 5), D("-500.00")), (date(2026, 3, 12), D("-700.00"))]  # fmt: skip
    assert march.closing == D("0.00")
    early = statement("Acme", date(2026, 3, 1), date(2026, 3, 8))
    assert early.closing == D("700.00")  # only the 500 had arrived
    late = statement("Acme", date(2026, 3, 9), date(2026, 3, 31))
    assert (late.opening, late.closing) == (D("700.00"), D("0.00"))
    beta_march = statement("Beta", date(2026, 3, 1), date(2026, 3, 31))
    assert [(i.day, i.amount) for i in beta_march.items if i.kind == PAYMENT] == [
        (date(2026, 3, 3), D("-200.00")), (date(2026, 3, 12), D("-100.00"))]  # fmt: skip
    assert beta_march.closing == D("0.00")
    # Another run changes nothing: the bank's date on the sheet does not move the typed 200.
    assert folder.run("--as-of", "2026-03-23") == 0
    again = statement("Beta", date(2026, 3, 1), date(2026, 3, 31))
    assert again.items == beta_march.items


def test_a_typed_payment_keeps_its_date_when_the_bank_pays_too_before_the_next_run(
    folder: Folder,
) -> None:
    """200 typed with Paid Date 27 Feb; the next run imports the bank's 100 of 2 March too:
    the 200 stays in February's statement, not moved to the bank's date."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook, [client("Beta", Currency="EUR")],
                   [service(date(2026, 2, 2), "Beta", "Payroll", 1, 500)])  # fmt: skip
    assert folder.run("--as-of", "2026-02-02") == 0
    (beta,) = numbers_of(folder, "Beta")
    pay(folder, beta, "200", date(2026, 2, 27))
    inbox = folder.root / "statements"
    inbox.mkdir()
    bank = [Tx(date(2026, 3, 2), D("100.00"), "Beta", purpose=beta, ref="B1")]
    (inbox / "march.xml").write_bytes(camt053(bank, "08", currency="EUR"))
    assert folder.run("--as-of", "2026-03-02") == 0
    config = load_config(folder.root / "billing.toml")
    for run_date in ("2026-03-02", "2026-03-09"):  # and a later run changes nothing
        assert folder.run("--as-of", run_date) == 0
        result = make_statements(StatementRequest(folder.workbook, date(2026, 3, 31), config,
                                                  "Beta", date(2026, 2, 1), date(2026, 3, 31)))
        ((st, _),) = result.files
        assert [(i.day, i.amount) for i in st.items if i.kind == PAYMENT] == [
            (date(2026, 2, 27), D("-200.00")), (date(2026, 3, 2), D("-100.00"))]  # fmt: skip
        assert st.closing == D("200.00")


def test_a_client_named_but_never_invoiced_gets_a_nil_statement(folder: Folder) -> None:
    write_workbook(folder.workbook, [client("Busy"), client("Idle", Currency="EUR")],
                   [service(date(2026, 3, 2), "Busy", "Work", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    config = load_config(folder.root / "billing.toml")
    result = make_statements(StatementRequest(folder.workbook, date(2026, 4, 2), config, "idle"))
    ((st, (path, *_)),) = result.files
    assert (st.client, st.currency, st.opening, st.closing) == ("Idle", "EUR", 0, 0)
    assert st.items == () and path.name == "Idle-2026-03-31.docx" and path.exists()


def test_two_clients_whose_names_make_one_file_name_get_a_file_each(folder: Folder) -> None:
    write_workbook(folder.workbook, [client("A/B Trading"), client("A:B Trading")],
                   [service(date(2026, 3, 2), "A/B Trading", "Work", 1, 100),
                    service(date(2026, 3, 2), "A:B Trading", "Work", 1, 200)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    config = load_config(folder.root / "billing.toml")
    result = make_statements(StatementRequest(folder.workbook, date(2026, 4, 2), config))
    names = sorted(paths[0].name for _, paths in result.files)
    assert names == ["A_B Trading-2026-03-31-2.docx", "A_B Trading-2026-03-31.docx"]
    closings = sorted(st.closing for st, _ in result.files)
    assert closings == [D("100.00"), D("200.00")]
    # made again for one of them, later: the files there (one emailed, maybe) stay
    kept = {p.name: p.read_bytes() for p in result.files[0][1][0].parent.iterdir()}
    again = make_statements(StatementRequest(folder.workbook, date(2026, 4, 3), config,
                                             "A:B Trading"))  # fmt: skip
    ((_, (made, *_)),) = again.files
    assert made.name == "A_B Trading-2026-03-31-made-2026-04-03.docx"
    assert {name: (made.parent / name).read_bytes() for name in kept} == kept


def test_a_long_name_is_shortened_in_the_file_name_never_its_dates() -> None:
    from automation.statement_doc import statement_stem

    name = ("Товарищество с ограниченной ответственностью «Алматинская региональная "
            "консалтинговая и аудиторская компания Сервис-Плюс»")  # fmt: skip
    november = statement_stem(name, "KZT", date(2026, 11, 30), False)
    half = statement_stem(name, "KZT", date(2026, 11, 15), False, date(2026, 11, 2))
    assert november.endswith("-2026-11-30") and half.endswith("-2026-11-02-2026-11-15")
    assert november.startswith("Товарищество с ограниченной ответственностью")
    assert len(f"{half}-made-2026-12-01-2.docx".encode()) <= 160


def test_a_month_to_date_is_named_by_both_its_days() -> None:
    """1 to 20 November is not the whole month: its file names both days (it was named
    as if it were November's, "-2026-11-20"); the whole month keeps its last day alone."""
    from automation.statement_doc import statement_stem

    to_date = statement_stem("Acme", "USD", date(2026, 11, 20), False, date(2026, 11, 1))
    whole = statement_stem("Acme", "USD", date(2026, 11, 30), False, date(2026, 11, 1))
    february = statement_stem("Acme", "USD", date(2028, 2, 29), False, date(2028, 2, 1))
    assert (to_date, whole, february) == (
        "Acme-2026-11-01-2026-11-20", "Acme-2026-11-30", "Acme-2028-02-29"
    )  # fmt: skip


def test_every_client_with_activity_gets_one(two_months: Folder) -> None:
    config = load_config(two_months.root / "billing.toml")
    result = make_statements(StatementRequest(two_months.workbook, date(2026, 11, 9), config))
    assert sorted(st.client for st, _ in result.files) == sorted(LANGUAGES)
    quiet = make_statements(
        StatementRequest(
            two_months.workbook,
            date(2027, 1, 4),
            config,
            None,
            date(2026, 12, 1),
            date(2026, 12, 31),
        )
    )
    # A quiet month: nothing happened, but each client's 150 paid too much is still stated.
    assert sorted(st.client for st, _ in quiet.files) == sorted(LANGUAGES)
    assert all(st.items == () and st.closing == D("-150.00") for st, _ in quiet.files)


def test_statement_command(two_months: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    def statement(*args: str) -> int:
        return main(["statement", "--workbook", str(two_months.workbook), *args])

    # October's statement file made first (other tests on this folder may have made it)
    assert statement("ames", "--as-of", "2026-11-09") == 0
    capsys.readouterr()
    assert statement("ames", "--as-of", "2026-11-09") == 0
    out = capsys.readouterr().out
    assert "Statements of account, 2026-10-01 to 2026-10-31:" in out
    assert "Ames (USD), closing balance $1,050.00:" in out
    # the month's file stays as it is; this one is made beside it
    made = re.search(r"\S*Ames-2026-10-31-made-2026-11-09(-\d+)?\.docx", out)
    assert made is not None and "Borisov" not in out
    # made again the same day (a payment typed since): the one made before stays too
    before = Path(made.group(0)).read_bytes()
    assert statement("ames", "--as-of", "2026-11-09") == 0
    again = re.search(r"\S*Ames-2026-10-31-made-2026-11-09-\d+\.docx", capsys.readouterr().out)
    assert again is not None and again.group(0) != made.group(0)
    assert Path(made.group(0)).read_bytes() == before
    assert statement("Nobody", "--as-of", "2026-11-09") == 2
    assert "'Nobody' matches no client" in capsys.readouterr().out
    assert statement("Amse", "--as-of", "2026-11-09") == 2
    assert "'Amse' matches no client in Clients. Did you mean 'Ames'?" in capsys.readouterr().out
    code = statement("--from", "2026-11-02", "--to", "2026-11-01")
    assert code == 2 and "is before --from" in capsys.readouterr().out
    code = statement("ames", "--to", "2026-11-30", "--as-of", "2026-11-09")  # not dated ahead
    assert code == 2 and "--to 2026-11-30 is after the run date" in capsys.readouterr().out
    code = statement("ames", "--from", "2026-12-01", "--as-of", "2026-11-09")
    assert code == 2 and "--from 2026-12-01 is after the run date" in capsys.readouterr().out
    # A longer period has a name of its own: October's statement (as emailed) stays.
    october = two_months.root / "account-statements" / "2026" / "Ames-2026-10-31.docx"
    before = october.read_bytes()
    assert statement("ames", "--from", "2026-09-01", "--to", "2026-10-31",
                     "--as-of", "2026-11-09") == 0  # fmt: skip
    assert "Ames-2026-09-01-2026-10-31.docx" in capsys.readouterr().out
    assert october.read_bytes() == before


def test_statement_for_a_client_not_in_clients_exits_2_before_the_first_invoice(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the first run it said there was nothing to state, and exited 0."""
    write_workbook(folder.workbook, [client("Ames")], [service(date(2026, 3, 2), "Ames", "Work")])
    capsys.readouterr()
    argv = ["statement", "--workbook", str(folder.workbook), "--as-of", "2026-03-05"]
    assert main([*argv, "Nobody"]) == 2
    assert "'Nobody' matches no client in Clients." in capsys.readouterr().out
    assert main([*argv, "ames"]) == 0
    assert "No invoices have been issued yet" in capsys.readouterr().out


# -- the monthly statement email ---------------------------------------------------


def attachment_text(message) -> str:
    for part in message.iter_attachments():
        document = docx.Document(io.BytesIO(part.get_payload(decode=True)))
        texts = [p.text for p in document.paragraphs]
        texts += [" | ".join(c.text for c in r.cells) for t in document.tables for r in t.rows]
        return "\n".join(texts)
    raise AssertionError("no attachment")


def statements_to(folder: Folder, name: str) -> list:
    address = "".join(ch for ch in name.lower() if ch.isalnum()) + "@clients.example"
    return [
        r.message
        for r in folder.received
        if address in r.rcpt_tos and r.message["X-Billing-Kind"] == "statement"
    ]


def test_monthly_statement_is_emailed_once(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(
        folder.workbook,
        [client("Ames"), client("Borisov", Language="ru", Currency="RUB")],
        [
            service(date(2026, 9, 28), "Ames", "Monthly bookkeeping", 1, 1000),
            service(date(2026, 9, 28), "Borisov", "Monthly bookkeeping", 1, 700),
        ],
    )
    assert folder.run("--as-of", "2026-10-01") == 0
    assert folder.run("--as-of", "2026-10-05") == 0  # October: September had no balance
    ames, borisov = numbers_of(folder, "Ames")[0], numbers_of(folder, "Borisov")[0]
    pay(folder, ames, "250", date(2026, 10, 20))
    pay(folder, borisov, "700", date(2026, 11, 1))  # paid after October ended: no statement
    assert folder.run("--as-of", "2026-11-02") == 0  # before day 3: nothing yet
    assert statements_to(folder, "Ames") == []
    capsys.readouterr()
    assert folder.run("--as-of", "2026-11-03", "--dry-run") == 0  # previewed, not sent
    preview = capsys.readouterr().out
    assert "statement of account" in preview and "$750.00" in preview
    assert "Borisov" not in preview.split("statement of account", 1)[1].split("\n", 1)[0]
    assert statements_to(folder, "Ames") == []
    assert folder.run("--as-of", "2026-11-03") == 0
    (mail,) = statements_to(folder, "Ames")
    assert statements_to(folder, "Borisov") == []
    assert (
        mail["Subject"] == "Statement of account for October 1, 2026 – October 31, 2026: "
        "$750.00 due"
    )
    assert (
        "The amount due on October 31, 2026, for the invoices still open, was $750.00."
        in mail.get_body(("plain",)).get_content()
    )
    text = attachment_text(mail)
    assert "STATEMENT OF ACCOUNT" in text and ames in text and "$250.00" in text
    assert "Amount due: $750.00" in text
    received = len(folder.received)
    assert folder.run("--as-of", "2026-11-03") == 0  # a rerun sends nothing
    assert folder.run("--as-of", "2026-11-20") == 0  # nor a later run that month
    assert len(statements_to(folder, "Ames")) == 1
    assert all(r.message["X-Billing-Kind"] != "statement" for r in folder.received[received:])
    assert folder.run("--as-of", "2026-12-04") == 0  # December: November's statement
    assert len(statements_to(folder, "Ames")) == 2
    # October made again by hand: the file the client got stays as they have it
    sent = folder.root / "account-statements" / "2026" / "Ames-2026-10-31.docx"
    before = sent.read_bytes()
    config = load_config(folder.root / "billing.toml")
    again = make_statements(StatementRequest(folder.workbook, date(2026, 12, 5), config, "Ames",
                                             date(2026, 10, 1), date(2026, 10, 31)))  # fmt: skip
    ((_, (made, *_)),) = again.files
    assert made.name == "Ames-2026-10-31-made-2026-12-05.docx"
    assert sent.read_bytes() == before


def test_monthly_statements_in_two_currencies_keep_a_file_each(folder: Folder) -> None:
    """A client billed in dollars, then in euros: two statements, two messages, and each
    keeps its own file (the currency in the name), not one written over the other."""
    folder.write_config(extra="[statements]\nday = 3")
    write_workbook(
        folder.workbook,
        [client("Multi", Currency="USD")],
        [service(date(2026, 9, 1), "Multi", "Dollar work", 1, 1000)],
    )
    assert folder.run("--as-of", "2026-09-02") == 0
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Clients", 2, "Currency", "EUR"),
            *(
                CellUpdate("Services", 3, column, value)
                for column, value in (
                    ("Date", date(2026, 9, 10)),
                    ("Client", "Multi"),
                    ("Description", "Euro work"),
                    ("Unit Price", 500),
                )
            ),  # fmt: skip
        ],
        header_rows={"Clients": 1, "Services": 1},
    )
    assert folder.run("--as-of", "2026-09-14") == 0
    assert folder.run("--as-of", "2026-10-05") == 0
    sent = statements_to(folder, "Multi")
    names = sorted(part.get_filename() for m in sent for part in m.iter_attachments())
    assert names == ["Multi-2026-09-30-EUR.docx", "Multi-2026-09-30-USD.docx"]
    kept = sorted((folder.root / "account-statements" / "2026").glob("*.docx"))
    assert [p.name for p in kept] == names
    for path in kept:
        text = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
        assert ("€500.00" if "EUR" in path.name else "$1,000.00") in text


def test_no_monthly_statement_while_an_invoice_is_on_hold(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hold: nothing more is sent about the invoice, so no statement asks for it either,
    and the run says so; the month's statement is still owed: it goes at the first run
    after Hold is cleared (not a month later), and the next month's in its turn."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(
        folder.workbook,
        [client("Ames"), client("Bell")],
        [service(date(2026, 9, 28), n, "Monthly bookkeeping", 1, 1000) for n in ("Ames", "Bell")],
    )
    assert folder.run("--as-of", "2026-10-01") == 0
    type_in(folder, numbers_of(folder, "Ames")[0], Status="Hold")
    capsys.readouterr()
    assert folder.run("--as-of", "2026-11-03") == 0
    assert statements_to(folder, "Ames") == [] and len(statements_to(folder, "Bell")) == 1
    assert "Statement for Ames (2026-10) waits: an invoice of theirs is on Hold" in (
        capsys.readouterr().out
    )
    type_in(folder, numbers_of(folder, "Ames")[0], Status=None)
    assert folder.run("--as-of", "2026-11-10") == 0
    assert len(statements_to(folder, "Ames")) == 1
    assert folder.run("--as-of", "2026-12-03") == 0
    assert len(statements_to(folder, "Ames")) == 2 and len(statements_to(folder, "Bell")) == 2


def test_a_statement_kept_back_by_hold_is_not_sent_once_paid(folder: Folder) -> None:
    """Paid in full while on Hold: when Hold is cleared its old statement is not owed."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(
        folder.workbook, [client("Ames")],
        [service(date(2026, 9, 28), "Ames", "Monthly bookkeeping", 1, 1000)],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-10-01") == 0
    number = numbers_of(folder, "Ames")[0]
    type_in(folder, number, Status="Hold")
    assert folder.run("--as-of", "2026-11-03") == 0
    pay(folder, number, "1000", date(2026, 11, 5))
    type_in(folder, number, Status=None)
    assert folder.run("--as-of", "2026-11-10") == 0
    assert statements_to(folder, "Ames") == []


def test_monthly_statement_counts_bank_payments_imported_in_the_same_run(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """October's statements go out on the run that also imports October's bank payments."""
    folder.write_config(extra='currency = "EUR"\n[statements]\nday = 1')
    write_workbook(
        folder.workbook,
        [client("Acme", Currency="EUR"), client("Beta", Currency="EUR")],
        [
            service(date(2026, 10, 5), "Acme", "Work", 1, 100),
            service(date(2026, 10, 5), "Beta", "Work", 1, 100),
        ],
    )
    assert folder.run("--as-of", "2026-10-05") == 0
    acme, beta = numbers_of(folder, "Acme")[0], numbers_of(folder, "Beta")[0]
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [
        Tx(date(2026, 10, 20), D("100.00"), "Acme", purpose=acme, ref="B-1"),
        Tx(date(2026, 10, 20), D("60.00"), "Beta", purpose=beta, ref="B-2"),
    ]
    (inbox / "october.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    sent = len(folder.received)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-11-02", "--dry-run") == 0
    previewed = [ln for ln in capsys.readouterr().out.splitlines() if "statement of acc" in ln]
    assert len(previewed) == 1 and "Beta" in previewed[0] and "€40.00" in previewed[0]
    assert folder.run("--as-of", "2026-11-02") == 0
    kinds = sorted((r.rcpt_tos[0], r.message["X-Billing-Kind"]) for r in folder.received[sent:])
    assert ("acme@clients.example", "statement") not in kinds  # paid in full in October
    assert any(who == "acme@clients.example" for who, _ in kinds)  # its thank-you
    (mail,) = statements_to(folder, "Beta")
    assert mail["Subject"].endswith(": €40.00 due")
    text = attachment_text(mail)
    assert "Amount due: €40.00" in text and "€60.00" in text


def ames_billed(folder: Folder, **cells: str) -> None:
    """Ames (its Clients row with `cells`), invoiced 1,000 on 1 October, with monthly
    statements on the 1st: November's first run owes it October's statement."""
    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(
        folder.workbook,
        [client("Ames", **cells)],
        [service(date(2026, 9, 28), "Ames", "Monthly bookkeeping", 1, 1000)],
    )
    assert folder.run("--as-of", "2026-10-01") == 0


def test_monthly_statement_cut_off_by_a_crash_is_resent_identical(folder: Folder) -> None:
    import subprocess
    import sys

    ames_billed(folder)
    script = str(Path(__file__).resolve().parent.parent / "run_billing.py")
    env = {**os.environ, "BILLING_FAULT": "after-statement-send"}
    killed = subprocess.run(
        [sys.executable, script, "--workbook", str(folder.workbook), "--as-of", "2026-11-01"],
        env=env,
        capture_output=True,
    )
    assert killed.returncode == -9
    (first,) = statements_to(folder, "Ames")
    assert folder.run("--as-of", "2026-11-01") == 0
    assert folder.run("--as-of", "2026-11-02") == 0
    sent = statements_to(folder, "Ames")
    assert len(sent) == 2 and sent[0]["Message-ID"] == sent[1]["Message-ID"]
    assert sent[0].as_bytes() == sent[1].as_bytes()


def test_monthly_statement_with_a_refused_copy_reaches_the_client_once(folder: Folder) -> None:
    ames_billed(folder, CC="gone@clients.example")
    folder.recorder.refuse = frozenset({"gone@clients.example"})
    assert folder.run("--as-of", "2026-11-01") == 1  # the refused copy is reported
    assert folder.run("--as-of", "2026-11-02") == 0  # and nobody is sent it again
    (mail,) = statements_to(folder, "Ames")
    assert mail["Cc"] == "gone@clients.example"


def test_a_refused_statement_is_not_sent_again_once_the_client_has_paid(
    folder: Folder,
) -> None:
    """The month's statement was refused (the client's server down); the client then pays
    in full. The next run thanks them, and does not send the statement of what they owed
    (as a statement first planned that day would not be)."""
    ames_billed(folder)
    folder.recorder.refuse = frozenset({"ames@clients.example"})
    assert folder.run("--as-of", "2026-11-01") == 1
    folder.recorder.refuse = frozenset()
    pay(folder, "INV-2026-0001", "1000", date(2026, 11, 3))
    assert folder.run("--as-of", "2026-11-09") == 0
    assert statements_to(folder, "Ames") == []
    assert "Paid" in invoices_sheet(folder)["Status"].tolist()
    assert folder.run("--as-of", "2026-11-16") == 0
    assert statements_to(folder, "Ames") == []


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs LibreOffice")
def test_statement_as_pdf_when_attach_asks(two_months: Folder) -> None:
    config = load_config(two_months.root / "billing.toml")
    config = dataclasses.replace(config, email=dataclasses.replace(config.email, attach="both"))
    result = make_statements(
        StatementRequest(two_months.workbook, date(2026, 11, 9), config, "Borisov")
    )
    ((st, (docx_path, pdf_path)),) = result.files
    assert docx_path.suffix == ".docx" and pdf_path == docx_path.with_suffix(".pdf")
    assert pdf_path.read_bytes().startswith(b"%PDF") and not result.notes


def test_a_months_statements_compile_the_word_template_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each client's statement compiled the template again (0.2 s each: minutes for 1,000
    clients, every month); once per template file now, and again once the file changes."""
    from automation import statement_doc
    from automation.render import sample_document
    from automation.statement import build_statement

    templates = Path(__file__).resolve().parent.parent / "templates"

    compiled: list[Path] = []
    real = statement_doc.load_template

    def counting(path: Path) -> object:
        compiled.append(path)
        return real(path)

    monkeypatch.setattr(statement_doc, "load_template", counting)
    getattr(statement_doc, "_LOADED", {}).clear()  # compiled by another test: afresh
    client = sample_document().client
    for n in range(3):
        st = build_statement(f"Client {n}", client.currency, [], [], [], date(2026, 10, 1),
                             date(2026, 10, 31))  # fmt: skip
        context = statement_doc.statement_context(st, client, sample_document().company)
        statement_doc.render_statement(templates, context, "en", tmp_path / f"{n}.docx")
    assert len(compiled) == 1 and len(list(tmp_path.glob("*.docx"))) == 3


# -- each statement follows on from the one sent before -----------------------------


def statement_lines(mail) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The attached statement's lines: [date, document, charge, credit, balance], from
    "Balance brought forward" to "Closing balance"."""
    for part in mail.iter_attachments():
        document = docx.Document(io.BytesIO(part.get_payload(decode=True)))
        for table in document.tables:
            rows = [[c.text for c in r.cells] for r in table.rows]
            if any(row[1] == "Balance brought forward" for row in rows):
                start = next(i for i, row in enumerate(rows) if row[1] == "Balance brought forward")
                return rows[start:]
    raise AssertionError("no statement lines")


def a_payment_of_february_recorded_in_march(folder: Folder, record) -> None:  # type: ignore[no-untyped-def]
    """February's statement is emailed on 2 March ($1,000.00); $400 received on 25 February
    is recorded afterwards (`record`); April's run emails March's statement."""
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 2, 2), "Ames", "Monthly bookkeeping", 1, 1000)])  # fmt: skip
    assert folder.run("--as-of", "2026-02-02") == 0
    assert folder.run("--as-of", "2026-03-02") == 0
    (number,) = numbers_of(folder, "Ames")
    record(number)
    assert folder.run("--as-of", "2026-03-09") == 0
    assert folder.run("--as-of", "2026-04-06") == 0
    february, march = (statement_lines(m) for m in statements_to(folder, "Ames"))
    assert february[-1][1:] == ["Closing balance", "", "", "$1,000.00"]
    assert march[0][1:] == ["Balance brought forward", "", "", "$1,000.00"]  # = February's
    assert march[1:] == [
        ["Feb 25, 2026", f"Payment received, invoice {number} (recorded after the previous "
         "statement)", "", "$400.00", "$600.00"],
        ["Mar 31, 2026", "Closing balance", "", "", "$600.00"],
    ]  # fmt: skip
    payments = [row for lines in (february, march) for row in lines if row[3] == "$400.00"]
    assert len(payments) == 1  # on one statement the client received, once
    # The command run by hand shows March as the workbook has it now: the payment in February.
    config = load_config(folder.root / "billing.toml")
    again = make_statements(StatementRequest(folder.workbook, date(2026, 4, 6), config, "Ames",
                                             date(2026, 3, 1), date(2026, 3, 31)))  # fmt: skip
    ((st, _),) = again.files
    assert (st.opening, st.items, st.closing) == (D("600.00"), (), D("600.00"))


def test_a_payment_typed_after_the_months_statement_is_on_the_next_one(folder: Folder) -> None:
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 1')
    a_payment_of_february_recorded_in_march(
        folder, lambda number: pay(folder, number, "400", date(2026, 2, 25))
    )


def test_a_bank_payment_imported_after_the_months_statement_is_on_the_next_one(
    folder: Folder,
) -> None:
    folder.write_config(
        extra='default_terms = "Net 30"\n[statements]\nday = 1\n[bank.csv]\ndate = "Date"\n'
        'amount = "Amount"\nreference = "Reference"'
    )

    def imported(number: str) -> None:
        bank = folder.root / "bank.csv"
        bank.write_text(f"Date,Amount,Reference\n2026-02-25,400.00,{number} part\n")
        assert main(["payments", "--workbook", str(folder.workbook), str(bank),
                     "--as-of", "2026-03-03"]) == 0  # fmt: skip

    a_payment_of_february_recorded_in_march(folder, imported)


def test_what_changed_in_a_stated_period_beyond_late_items_is_one_correction_line() -> None:
    """A payment stated on 25 February has its date corrected to 2 March afterwards: March
    opens with February's closing, one correction line, then the payment on its new date."""
    invoice = InvoiceFact("INV-1", date(2026, 2, 2), date(2026, 3, 4), D("1000.00"))
    moved = PaymentFact("INV-1", date(2026, 3, 2), D("400.00"), recorded=date(2026, 3, 9))
    was = Stated(D("600.00"), made=date(2026, 3, 2))
    st = build_statement("Acme", "USD", [invoice], [moved], [],
                         date(2026, 3, 1), date(2026, 3, 31), was)  # fmt: skip
    assert st.opening == D("600.00") and st.closing == D("600.00")
    assert [(i.day.day, i.kind, i.amount, i.balance) for i in st.items] == [
        (1, ADJUSTMENT, D("400.00"), D("1000.00")),
        (2, PAYMENT, D("-400.00"), D("600.00")),
    ]


# -- money paid over one invoice, and months with no run ------------------------------


def kinds_sent(folder: Folder, since: int) -> list[tuple[str, str]]:
    """(kind, subject) of each message sent since the `since`-th."""
    return [(r.message["X-Billing-Kind"], r.message["Subject"]) for r in folder.received[since:]]


def test_an_overpayment_applied_to_another_invoice_settles_both_quietly(folder: Folder) -> None:
    """The bank pays 1,003.34 on INV-1 of 1,000: January's statement asks for INV-2's
    1,000.00 (not 996.66, which would leave INV-2 short and chased), the 3.34 shown as the
    client's. The client asks for it to be set against INV-2: Paid Amount lowered on INV-1
    and raised on INV-2 by 3.34; it then pays the 996.66 left. Each invoice ends Paid, the
    client hears of INV-2 what it should, nothing more, and February's statement agrees
    with the sheet."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 1')
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 1, 2), "Ames", "Audit", 1, 1000),
                    service(date(2026, 1, 23), "Ames", "Audit", 1, 1000)])  # fmt: skip
    assert folder.run("--as-of", "2026-01-05") == 0
    (first,) = numbers_of(folder, "Ames")
    inbox = folder.root / "statements"
    inbox.mkdir()
    overpaid = [Tx(date(2026, 1, 20), D("1003.34"), "Ames", purpose=first, ref="B-1")]
    (inbox / "january.xml").write_bytes(camt053(overpaid, "01", currency="USD"))
    assert folder.run("--as-of", "2026-01-26") == 0
    second = next(n for n in numbers_of(folder, "Ames") if n != first)
    assert folder.run("--as-of", "2026-02-02") == 0
    (january,) = statements_to(folder, "Ames")
    assert january["Subject"].endswith(": $1,000.00 due")
    text = attachment_text(january)
    assert "Amount due: $1,000.00 (your credit is not taken off)" in text
    assert "Paid beyond your invoices (your credit): $3.34." in text
    assert statement_lines(january)[-1][1:] == ["Closing balance", "", "", "$996.66"]
    # The client asks for the 3.34 to go to INV-2.
    type_in(folder, first, Paid_Amount=D("1000"))
    type_in(folder, second, Paid_Amount=D("3.34"), Paid_Date=date(2026, 2, 3))
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-02-04") == 0
    assert [k for k, _ in kinds_sent(folder, sent)] == ["underpaid"]  # INV-2's new balance
    assert second in kinds_sent(folder, sent)[0][1] and "$996.66" in kinds_sent(folder, sent)[0][1]
    rest = [Tx(date(2026, 2, 5), D("996.66"), "Ames", purpose=second, ref="B-2")]
    (inbox / "february.xml").write_bytes(camt053(rest, "02", currency="USD"))
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-02-09") == 0
    assert [k for k, _ in kinds_sent(folder, sent)] == ["thanks"]
    assert second in kinds_sent(folder, sent)[0][1]
    sheet = invoices_sheet(folder).set_index("Invoice No")
    assert list(sheet.loc[[first, second], "Status"]) == ["Paid", "Paid"]
    assert list(sheet.loc[[first, second], "Balance"]) == [0, 0]
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-03-02") == 0  # settled: no February statement
    assert folder.run("--as-of", "2026-03-16") == 0  # and nobody chased
    assert kinds_sent(folder, sent) == []
    config = load_config(folder.root / "billing.toml")
    result = make_statements(StatementRequest(folder.workbook, date(2026, 3, 16), config, "Ames",
                                              date(2026, 2, 1), date(2026, 2, 28)))  # fmt: skip
    ((st, _),) = result.files
    assert [(i.day, i.kind, i.invoice_no, i.amount) for i in st.items] == [
        (date(2026, 2, 3), PAYMENT, second, D("-3.34")),
        (date(2026, 2, 4), REFUND, first, D("3.34")),
        (date(2026, 2, 5), PAYMENT, second, D("-996.66")),
    ]
    assert (st.opening, st.closing, st.unapplied) == (D("996.66"), D("0.00"), D("0.00"))


def test_after_months_with_no_run_the_next_statement_covers_them(folder: Folder) -> None:
    """No run on or after the 3rd in March: April's run sends Gamma one statement from
    February 1 to March 31, opening with January's closing balance, so February's payment
    and invoice are on a statement the client gets. Delta, never sent one before, gets
    March's, as any first statement; May's follows on from both."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(folder.workbook, [client("Gamma"), client("Delta")],
                   [service(date(2028, 1, 10), "Gamma", "January work", 1, 300)])  # fmt: skip
    assert folder.run("--as-of", "2028-01-31") == 0
    assert folder.run("--as-of", "2028-02-07") == 0  # January's statement
    (gamma,) = numbers_of(folder, "Gamma")
    pay(folder, gamma, "100", date(2028, 2, 20))
    for row, (name, amount) in enumerate((("Gamma", 70), ("Delta", 50)), start=3):
        folder.type_in("Services", row, Date=date(2028, 2, 28), Client=name,
                       Description="February work", Quantity=1, Unit_Price=amount,
                       Amount=amount)  # fmt: skip
    assert folder.run("--as-of", "2028-02-29") == 0
    assert folder.run("--as-of", "2028-04-11") == 0  # the first run since
    january, gap = statements_to(folder, "Gamma")
    assert statement_lines(january)[-1][1:] == ["Closing balance", "", "", "$300.00"]
    assert gap["Subject"] == (
        "Statement of account for February 1, 2028 – March 31, 2028: $270.00 due"
    )
    lines = statement_lines(gap)
    assert lines[0][1:] == ["Balance brought forward", "", "", "$300.00"]
    assert [row[2:] for row in lines[1:]] == [
        ["", "$100.00", "$200.00"], ["$70.00", "", "$270.00"], ["", "", "$270.00"]
    ]
    assert (folder.root / "account-statements/2028/Gamma-2028-02-01-2028-03-31.docx").exists()
    (delta,) = statements_to(folder, "Delta")
    assert delta["Subject"].startswith("Statement of account for March 1, 2028 – March 31, 2028")
    assert folder.run("--as-of", "2028-05-03") == 0
    may = statements_to(folder, "Gamma")[-1]
    assert "April 1, 2028 – April 30, 2028" in may["Subject"]
    assert statement_lines(may)[0][1:] == ["Balance brought forward", "", "", "$270.00"]
    assert "April 1, 2028 – April 30, 2028" in statements_to(folder, "Delta")[-1]["Subject"]
