"""Bank statements end to end: the inbox, the weekly run, the Payments sheet, the emails.

A bookkeeper's folder bills five KZT clients over three weeks, types one
payment by hand, then drops a Kaspi "выписка в 1С" (Windows-1251) and a
camt.053 into statements/. The weekly run matches every rule, writes the
Payments and Invoices sheets and emails the thank-you and part-payment notes
through a real SMTP server on loopback. An overlapping statement (CP866)
imported with `payments` changes nothing; the bookkeeper's Invoice No and
Ignore on Review lines are applied by the next run; and a restored older copy
of the workbook is healed from the ledger without a second email.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from smtp_servers import Recorder, password_checker, running_server
from statements import Tx, camt053, onec_kazakh

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

D = Decimal
NAMES = ["Alatau Service", "Beta LLP", "Gamma Trade", "Delta Group", "Epsilon"]
PAYER_IDS = {"Alatau Service": "180940012345", "Gamma Trade": "KZ22722C000024901213",
             "Delta Group": "020540003431", "Epsilon": "761015300455"}  # fmt: skip

KASPI = [
    Tx(date(2026, 2, 2), D("150000"), 'ТОО "Алатау Сервис"', "180940012345",
       purpose="Оплата по счету №INV-2026-0001 от 05.01.2026", number="101"),
    Tx(date(2026, 2, 2), D("69800"), "Beta LLP", "990000000001",
       purpose="Services January", number="102"),
    Tx(date(2026, 2, 2), D("80000"), "Epsilon", "761015300455", purpose="Оплата", number="103"),
    Tx(date(2026, 2, 3), D("175000"), 'ТОО "Гамма Трейд"', "150340009876",
       "KZ22722C000024901213", "Оплата за услуги январь", number="104"),
    Tx(date(2026, 2, 3), D("120000"), "Delta Group", "20540003431",
       purpose="inv 2026 4 частичная оплата", number="105"),
    Tx(date(2026, 2, 3), D("33000"), "ИП Неизвестный", "870000000000",
       purpose="Возврат займа", number="106"),
    Tx(date(2026, 2, 3), D("-4000"), "Яна О.", "910308400020", purpose="Перевод на карту",
       number="107"),
]  # fmt: skip
CAMT = [Tx(date(2026, 2, 4), D("300.00"), "Gamma Trade", account="KZ22722C000024901213",
           purpose="INV-2026-0004", ref="CAMT-0001")]  # fmt: skip


def sheet(folder: Folder, name: str, key: str) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name=name, engine="calamine")
    return frame.set_index(key)


def type_into(folder: Folder, name: str, key: str, value: str, **cells: object) -> None:
    row = int(list(sheet(folder, name, key).index).index(value)) + 2
    apply_updates(
        folder.workbook,
        [CellUpdate(name, row, col.replace("_", " "), val) for col, val in cells.items()],
        header_rows={name: 1},
    )


def digest(folder: Folder) -> str:
    return hashlib.sha256(folder.workbook.read_bytes()).hexdigest()


def money(value: object) -> Decimal:
    return D(str(value)).quantize(D("0.01"))


def subjects(folder: Folder, start: int = 0) -> list[tuple[str, str]]:
    return sorted((r.rcpt_tos[0], str(r.message["Subject"])) for r in folder.received[start:])


def test_statements_from_the_inbox_pay_invoices_and_the_notes_go_out(folder: Folder) -> None:
    folder.write_config(extra='currency = "KZT"\n[bank]\nfee_tolerance = 500')
    jan = [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    amounts = {"Alatau Service": 150000, "Beta LLP": 70000, "Gamma Trade": 100000,
               "Delta Group": 200000, "Epsilon": 80000}  # fmt: skip
    services = [service(jan[0], n, f"Bookkeeping for {n}", 1, amounts[n]) for n in NAMES]
    services += [service(jan[1], "Gamma Trade", "Payroll", 1, 50000),
                 service(jan[2], "Gamma Trade", "Tax return", 1, 25000)]  # fmt: skip
    write_workbook(folder.workbook, [client(n, Currency="KZT") for n in NAMES], services)
    apply_updates(
        folder.workbook,
        [CellUpdate("Clients", NAMES.index(n) + 2, "Payer ID", v) for n, v in PAYER_IDS.items()],
        header_rows={"Clients": 1},
    )
    for day in jan:
        assert folder.run("--as-of", day.isoformat()) == 0
    invoices = sheet(folder, "Invoices", "Invoice No")
    assert list(invoices["Client"]) == [*NAMES, "Gamma Trade", "Gamma Trade"]
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0005",
              Paid_Amount=D("80000"), Paid_Date=date(2026, 2, 2))  # fmt: skip
    before_import = folder.root / "before-import.xlsx"
    shutil.copy2(folder.workbook, before_import)

    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "kaspi-2026-02.txt").write_bytes(onec_kazakh(KASPI, "cp1251"))
    (inbox / "camt053-2026-02-04.xml").write_bytes(camt053(CAMT, "08", currency="EUR"))
    sent_before, state = len(folder.received), digest(folder)
    code = main(["payments", "--dry-run", "--workbook", str(folder.workbook),
                 str(inbox / "kaspi-2026-02.txt"), "--as-of", "2026-02-05"])  # fmt: skip
    assert code == 1  # the dry run shows two lines that would wait for review
    assert digest(folder) == state and len(folder.received) == sent_before
    assert not (inbox / "imported").exists()

    assert folder.run("--as-of", "2026-02-05") == 0

    # -- the Payments sheet: one row per incoming line, the rule that matched
    payments = sheet(folder, "Payments", "Reference")
    assert len(payments) == 7  # the outgoing transfer is not listed
    expect = {
        "Оплата по счету №INV-2026-0001 от 05.01.2026": ("Applied", "Reference", "INV-2026-0001"),
        "Services January": ("Applied", "Bank fee", "INV-2026-0002"),
        "Оплата": ("Applied", "Typed by hand", "INV-2026-0005"),
        "Оплата за услуги январь": (
            "Applied", "Split",
            "INV-2026-0003 100000.00; INV-2026-0006 50000.00; INV-2026-0007 25000.00"),
        "inv 2026 4 частичная оплата": ("Applied", "Reference", "INV-2026-0004"),
        "Возврат займа": ("Review", None, None),
        "INV-2026-0004": ("Review", None, None),
    }  # fmt: skip
    for reference, (status, rule, number) in expect.items():
        row = payments.loc[reference]
        got_rule = None if pd.isna(row["Rule"]) else row["Rule"]
        got_number = None if pd.isna(row["Invoice No"]) else row["Invoice No"]
        assert (row["Status"], got_rule, got_number) == (status, rule, number), reference
    fee_note = payments.loc["Services January", "Note"]
    assert "KZT\u00a0200.00 short: counted as a bank fee" in fee_note
    assert "is not a client" in payments.loc["Возврат займа", "Note"]
    assert "paid in EUR" in payments.loc["INV-2026-0004", "Note"]
    assert payments.loc["Возврат займа", "Payer ID"] == "870000000000; KZ00722C870000000000"
    assert payments.loc["Оплата", "File"] == "kaspi-2026-02.txt"
    assert pd.Timestamp(payments.loc["Оплата за услуги январь", "Date"]).date() == date(2026, 2, 3)

    # -- the Invoices sheet: Paid Amount, Paid By Bank, Paid Date, Status, Balance
    invoices = sheet(folder, "Invoices", "Invoice No")
    want = {  # number: (paid, by bank, paid date, status, balance)
        "INV-2026-0001": ("150000", "150000", date(2026, 2, 2), "Paid", "0"),
        "INV-2026-0002": ("70000", "70000", date(2026, 2, 2), "Paid", "0"),
        "INV-2026-0003": ("100000", "100000", date(2026, 2, 3), "Paid", "0"),
        "INV-2026-0004": ("120000", "120000", date(2026, 2, 3), "Partially Paid", "80000"),
        "INV-2026-0005": ("80000", None, date(2026, 2, 2), "Paid", "0"),
        "INV-2026-0006": ("50000", "50000", date(2026, 2, 3), "Paid", "0"),
        "INV-2026-0007": ("25000", "25000", date(2026, 2, 3), "Paid", "0"),
    }
    for number, (paid, bank, day, status, balance) in want.items():
        row = invoices.loc[number]
        assert money(row["Paid Amount"]) == money(paid), number
        by_bank = None if pd.isna(row["Paid By Bank"]) else money(row["Paid By Bank"])
        assert by_bank == (money(bank) if bank else None), number
        assert pd.Timestamp(row["Paid Date"]).date() == day, number
        assert (row["Status"], money(row["Balance"])) == (status, money(balance)), number

    # -- the notes emailed in the same run, one per invoice
    mails = subjects(folder, sent_before)
    thanks = [to for to, subject in mails if subject.startswith("Thank")]
    assert sorted(thanks) == sorted([
        "alatauservice@clients.example", "betallp@clients.example",
        *["gammatrade@clients.example"] * 3, "epsilon@clients.example"])  # fmt: skip
    part = [s for to, s in mails if to == "deltagroup@clients.example"]
    assert len(part) == 1 and "80,000.00 still due" in part[0], part
    assert len(mails) == 7
    assert sorted(p.name for p in (inbox / "imported").iterdir()) == [
        "camt053-2026-02-04.xml", "kaspi-2026-02.txt"]  # fmt: skip
    assert not list(inbox.glob("*.*"))

    # -- an overlapping statement, in another encoding, imported by hand: nothing changes
    state, sent = digest(folder), len(folder.received)
    overlap = folder.root / "halyk-overlap.txt"
    overlap.write_bytes(onec_kazakh(KASPI[3:], "cp866"))
    code = main(["payments", "--workbook", str(folder.workbook), str(overlap), "--as-of",
                 "2026-02-06"])  # fmt: skip
    assert code == 1  # two lines still wait for review
    assert digest(folder) == state and len(folder.received) == sent
    assert overlap.exists()  # a file named on the command line stays where it is

    # -- the bookkeeper decides the Review lines; the next run applies them
    type_into(folder, "Payments", "Reference", "Возврат займа", Invoice_No="inv-2026-0004")
    type_into(folder, "Payments", "Reference", "INV-2026-0004", Status="Ignore")
    assert folder.run("--as-of", "2026-02-06") == 0
    payments = sheet(folder, "Payments", "Reference")
    assert tuple(payments.loc["Возврат займа", ["Status", "Rule", "Invoice No"]]) == (
        "Applied",
        "Bookkeeper",
        "INV-2026-0004",
    )
    assert payments.loc["INV-2026-0004", "Status"] == "Ignored"
    delta = sheet(folder, "Invoices", "Invoice No").loc["INV-2026-0004"]
    assert money(delta["Paid Amount"]) == money("153000") == money(delta["Paid By Bank"])
    assert money(delta["Balance"]) == money("47000")
    new = subjects(folder, sent)
    assert len(new) == 1 and "47,000.00 still due" in new[0][1]

    # -- a restored copy from before the import is healed from the ledger, no mail again
    state_cells = sheet(folder, "Invoices", "Invoice No")[["Paid Amount", "Paid By Bank",
                                                            "Status"]]  # fmt: skip
    shutil.copy2(before_import, folder.workbook)
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-02-06") == 0
    assert len(folder.received) == sent
    healed = sheet(folder, "Invoices", "Invoice No")[["Paid Amount", "Paid By Bank", "Status"]]
    pd.testing.assert_frame_equal(healed, state_cells)
    assert len(sheet(folder, "Payments", "Reference")) == 7


def test_a_payment_naming_an_invoice_void_this_run_is_matched_by_amount_and_said(
    folder: Folder,
) -> None:
    """INV-0001 is Void (typed this run), so a payment naming it is not rule 1's: the amount
    rule gives it to INV-0002 of equal balance, and its Note names INV-0001 for a person
    to check. A payment naming it that no rule fits waits in Review."""
    folder.write_config(extra='currency = "KZT"')
    write_workbook(folder.workbook, [client("Beta LLP", Currency="KZT")],
                   [service(date(2026, 1, 5), "Beta LLP", "January", 1, 70000),
                    service(date(2026, 1, 12), "Beta LLP", "Payroll", 1, 70000)])  # fmt: skip
    for day in ("2026-01-05", "2026-01-12"):
        assert folder.run("--as-of", day) == 0
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0001", Status="Void")
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 2, 2), D("70000.00"), "Beta LLP", purpose="INV-2026-0001", ref="B-1"),
            Tx(date(2026, 2, 3), D("500.00"), "Beta LLP", purpose="INV-2026-0001", ref="B-2")]
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="KZT"))
    folder.run("--as-of", "2026-02-05")
    lines = sheet(folder, "Payments", "Bank Ref")
    applied, waits = lines.loc["B-1"], lines.loc["B-2"]
    assert (applied["Status"], applied["Rule"], applied["Invoice No"]) == (
        "Applied", "Amount", "INV-2026-0002")  # fmt: skip
    assert applied["Note"].startswith("the reference names INV-2026-0001, which is not open")
    assert waits["Status"] == "Review" and pd.isna(waits["Invoice No"])
    assert "INV-2026-0001" in waits["Note"]
    second = sheet(folder, "Invoices", "Invoice No").loc["INV-2026-0002"]
    assert money(second["Paid Amount"]) == money(second["Paid By Bank"]) == D("70000.00")


def test_a_discounted_payment_without_a_reference_earns_the_discount(folder: Folder) -> None:
    """2/10 Net 30 over 100: 98 within the window settles it; 98 after the window waits."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook,
                   [client("Early Bird", Currency="EUR", Terms="2/10 Net 30"),
                    client("Late Owl", Currency="EUR", Terms="2/10 Net 30")],
                   [service(date(2026, 3, 2), "Early Bird", "March", 1, 100),
                    service(date(2026, 3, 2), "Late Owl", "March", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [
        Tx(date(2026, 3, 9), D("98.00"), "Early Bird", purpose="March", ref="E-1"),
        Tx(date(2026, 3, 20), D("98.00"), "Late Owl", purpose="March", ref="L-1"),
    ]
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    folder.run("--as-of", "2026-03-23")
    lines = sheet(folder, "Payments", "Bank Ref")
    assert (lines.loc["E-1", "Status"], lines.loc["E-1", "Rule"]) == ("Applied", "Amount")
    assert lines.loc["E-1", "Invoice No"] == "INV-2026-0001"
    assert "discount" in lines.loc["E-1", "Note"]
    assert lines.loc["L-1", "Status"] == "Review"
    invoices = sheet(folder, "Invoices", "Invoice No")
    assert invoices.loc["INV-2026-0001", "Status"] == "Paid"
    assert money(invoices.loc["INV-2026-0001", "Balance"]) == D("0.00")
    assert money(invoices.loc["INV-2026-0001", "Paid By Bank"]) == D("98.00")
    assert pd.isna(invoices.loc["INV-2026-0002", "Paid Amount"])


def test_a_split_typed_on_a_review_line_is_applied_as_typed_or_kept_as_typed(
    folder: Folder,
) -> None:
    """Whole-number amounts are amounts; a split that does not add up stays as typed."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook, [client("Beta BV", Currency="EUR")],
                   [service(date(2026, 3, 2), "Beta BV", "Payroll", 1, 300),
                    service(date(2026, 3, 3), "Beta BV", "Extra", 1, 450)])  # fmt: skip
    for day in ("2026-03-02", "2026-03-03"):
        assert folder.run("--as-of", day) == 0
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 5), D("750.00"), "Stranger", purpose="?", ref="A1"),
            Tx(date(2026, 3, 5), D("750.00"), "Stranger 2", purpose="?", ref="A2")]  # fmt: skip
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    folder.run("--as-of", "2026-03-06")  # both wait for review
    type_into(folder, "Payments", "Bank Ref", "A1",
              Invoice_No="INV-2026-0001 100; INV-2026-0002 650")  # fmt: skip
    type_into(folder, "Payments", "Bank Ref", "A2",
              Invoice_No="INV-2026-0001 100; INV-2026-0002 600")  # fmt: skip
    folder.run("--as-of", "2026-03-09")
    lines = sheet(folder, "Payments", "Bank Ref")
    assert tuple(lines.loc["A1", ["Status", "Invoice No"]]) == (
        "Applied", "INV-2026-0001 100.00; INV-2026-0002 650.00")  # fmt: skip
    assert tuple(lines.loc["A2", ["Status", "Invoice No"]]) == (
        "Review", "INV-2026-0001 100; INV-2026-0002 600")  # fmt: skip
    assert "add up to €700.00, not the €750.00 received" in lines.loc["A2", "Note"]
    invoices = sheet(folder, "Invoices", "Invoice No")
    assert money(invoices.loc["INV-2026-0001", "Paid By Bank"]) == D("100.00")
    assert money(invoices.loc["INV-2026-0002", "Paid By Bank"]) == D("650.00")


def test_a_typed_split_amount_is_read_as_a_paid_amount_cell_or_waits_as_typed(
    folder: Folder,
) -> None:
    """`600,-` is 600 (it was read as no amount: 1,500 and 1,000 applied, the cell rewritten
    "as typed by the bookkeeper"); `1.500` may be 1.5 or 1500: the line waits, as typed."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook, [client("Beta BV", Currency="EUR")],
                   [service(date(2026, 3, 2), "Beta BV", "Payroll", 1, 1500),
                    service(date(2026, 3, 3), "Beta BV", "Audit", 1, 2000)])  # fmt: skip
    for day in ("2026-03-02", "2026-03-03"):
        assert folder.run("--as-of", day) == 0
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 5), D("2500.00"), "Stranger", purpose="?", ref="A1"),
            Tx(date(2026, 3, 5), D("1000.00"), "Stranger 2", purpose="?", ref="A2")]  # fmt: skip
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    folder.run("--as-of", "2026-03-06")  # both wait for review
    type_into(folder, "Payments", "Bank Ref", "A1", Invoice_No="INV-2026-0001 600,-; INV-2026-0002")
    type_into(folder, "Payments", "Bank Ref", "A2", Invoice_No="INV-2026-0001 1.500; INV-2026-0002")
    folder.run("--as-of", "2026-03-09")
    lines = sheet(folder, "Payments", "Bank Ref")
    assert tuple(lines.loc["A1", ["Status", "Invoice No"]]) == (
        "Applied", "INV-2026-0001 600.00; INV-2026-0002 1900.00")  # fmt: skip
    assert tuple(lines.loc["A2", ["Status", "Invoice No"]]) == (
        "Review", "INV-2026-0001 1.500; INV-2026-0002")  # fmt: skip
    assert lines.loc["A2", "Note"] == (
        "in 'INV-2026-0001 1.500' the amount cannot be read: \"1.500\" could be 1500 or 1.5: "
        "type the number without a thousands separator. Write it like INV-2026-0001 650.00."
    )
    invoices = sheet(folder, "Invoices", "Invoice No")
    assert money(invoices.loc["INV-2026-0001", "Paid By Bank"]) == D("600.00")
    assert money(invoices.loc["INV-2026-0002", "Paid By Bank"]) == D("1900.00")


def test_a_payment_typed_a_day_after_the_bank_booked_it_is_not_counted_twice(
    folder: Folder,
) -> None:
    """600 typed on INV-0001 dated 6 Mar, the bank booked it on 5 Mar; 1234.56 likewise."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook,
                   [client("Acme GmbH", Currency="EUR"), client("Emile SARL", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme GmbH", "Audit", 1, 1200),
                    service(date(2026, 3, 2), "Emile SARL", "Tax", 1, 1234.56)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0001",
              Paid_Amount=D("600"), Paid_Date=date(2026, 3, 6))  # fmt: skip
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0002",
              Paid_Amount=D("1234.56"), Paid_Date=date(2026, 3, 6))  # fmt: skip
    assert folder.run("--as-of", "2026-03-10") == 0
    sent = len(folder.received)
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 5), D("600.00"), "Acme GmbH", purpose="INV-2026-0001", ref="A1"),
            Tx(date(2026, 3, 5), D("1234.56"), "Emile SARL", purpose="INV-2026-0002",
               ref="A2")]  # fmt: skip
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    assert folder.run("--as-of", "2026-03-20") == 0
    lines = sheet(folder, "Payments", "Bank Ref")
    assert list(lines["Rule"]) == ["Typed by hand", "Typed by hand"]
    invoices = sheet(folder, "Invoices", "Invoice No")
    acme = invoices.loc["INV-2026-0001"]
    assert (money(acme["Paid Amount"]), acme["Status"]) == (D("600.00"), "Partially Paid")
    assert pd.isna(acme["Paid By Bank"]) and money(acme["Balance"]) == D("600.00")
    assert pd.Timestamp(acme["Paid Date"]).date() == date(2026, 3, 6)  # as typed
    assert money(invoices.loc["INV-2026-0002", "Paid Amount"]) == D("1234.56")
    assert not [s for _, s in subjects(folder, sent) if s.startswith("Thank")]


def test_a_second_part_payment_typed_on_top_of_a_first_is_not_counted_twice(
    folder: Folder,
) -> None:
    """500 typed and seen by a run; later 800 typed (300 more, seen in the bank's app);
    the statement then brings that 300: it is the typed part payment, not 300 more."""
    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook, [client("Acme GmbH", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme GmbH", "Audit", 1, 1200)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0001",
              Paid_Amount=D("500"), Paid_Date=date(2026, 3, 4))  # fmt: skip
    assert folder.run("--as-of", "2026-03-05") == 0  # the 500 is seen
    type_into(folder, "Invoices", "Invoice No", "INV-2026-0001",
              Paid_Amount=D("800"), Paid_Date=date(2026, 3, 9))  # fmt: skip
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 10), D("300.00"), "Acme GmbH", purpose="INV-2026-0001", ref="A7")]
    (inbox / "camt.xml").write_bytes(camt053(paid, "08", currency="EUR"))
    assert folder.run("--as-of", "2026-03-11") == 0
    assert list(sheet(folder, "Payments", "Bank Ref")["Rule"]) == ["Typed by hand"]
    acme = sheet(folder, "Invoices", "Invoice No").loc["INV-2026-0001"]
    assert money(acme["Paid Amount"]) == D("800.00") and money(acme["Balance"]) == D("400.00")


def test_a_camt_line_stored_under_a_counter_ref_is_not_counted_again(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ledgers from before counters were refused as Bank Refs hold camt lines under "1":
    the same file imported again gives them a ref of their content; they are known by
    what they say, and nothing is paid twice."""
    import sqlite3

    folder.write_config(extra='currency = "EUR"')
    write_workbook(folder.workbook, [client("Early Bird", Currency="EUR")],
                   [service(date(2026, 3, 2), "Early Bird", "March", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    statement = camt053([Tx(date(2026, 3, 9), D("100.00"), "Early Bird", purpose="INV-2026-0001",
                            ref="")], "08", currency="EUR")  # fmt: skip
    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "camt.xml").write_bytes(statement)
    assert folder.run("--as-of", "2026-03-10") == 0
    with sqlite3.connect(folder.root / ".billing" / "ledger.sqlite") as db:  # as stored before
        (ref,) = db.execute("SELECT bank_ref FROM bank_lines").fetchone()
        for table in ("bank_lines", "bank_allocations"):
            db.execute(f"UPDATE {table} SET bank_ref = '1' WHERE bank_ref = ?", (ref,))
    (inbox / "camt-again.xml").write_bytes(statement)
    capsys.readouterr()
    folder.run("--as-of", "2026-03-11")
    assert "1 file(s), 0 new incoming line(s)" in capsys.readouterr().out
    invoice = sheet(folder, "Invoices", "Invoice No").loc["INV-2026-0001"]
    assert money(invoice["Paid By Bank"]) == D("100.00") and invoice["Status"] == "Paid"


def ledger_dump(folder: Folder) -> list[str]:
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize("kept", [True, False], ids=["file-kept", "file-removed"])
def test_a_refused_login_leaves_the_statement_unimported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kept: bool
) -> None:
    """Exit 2 changes nothing: the statement in the inbox is not in the ledger. Removed
    (it was the wrong file), nothing is applied; left, the next run imports it and says so."""
    recorder = Recorder()
    checker = password_checker("billing", "right")
    with running_server(recorder, authenticator=checker, auth_require_tls=False) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(extra='currency = "EUR"', email='username = "billing"')
        write_workbook(folder.workbook, [client("Acme Dental", Currency="EUR")],
                       [service(date(2026, 3, 2), "Acme Dental", "March", 1, 220)])  # fmt: skip
        monkeypatch.setenv("BILLING_SMTP_PASSWORD", "right")
        assert folder.run("--as-of", "2026-03-09") == 0
        inbox = folder.root / "statements"
        inbox.mkdir()
        paid = [Tx(date(2026, 3, 10), D("220.00"), "Acme Dental", purpose="INV-2026-0001",
                   ref="P-1")]  # fmt: skip
        (inbox / "camt.xml").write_bytes(camt053(paid, "10", currency="EUR"))
        before, workbook = ledger_dump(folder), digest(folder)
        capsys.readouterr()
        monkeypatch.setenv("BILLING_SMTP_PASSWORD", "wrong")
        assert folder.run("--as-of", "2026-03-12") == 2
        assert "mail server cannot be used" in capsys.readouterr().out
        assert ledger_dump(folder) == before  # no bank line, no run: as it was
        assert digest(folder) == workbook and (inbox / "camt.xml").exists()
        if not kept:
            (inbox / "camt.xml").unlink()
        monkeypatch.setenv("BILLING_SMTP_PASSWORD", "right")
        sent = len(folder.received)
        assert folder.run("--as-of", "2026-03-12") == 0
    out = " ".join(capsys.readouterr().out.split())
    invoice = sheet(folder, "Invoices", "Invoice No").loc["INV-2026-0001"]
    if kept:
        assert "Bank statements: 1 file(s), 1 new incoming line(s); 1 applied." in out
        assert invoice["Status"] == "Paid" and money(invoice["Paid By Bank"]) == D("220.00")
        assert len(folder.received) == sent + 1  # the thank-you
    else:
        assert "Bank statements" not in out and pd.isna(invoice["Paid Amount"])
        assert "Payments" not in pd.ExcelFile(folder.workbook, engine="calamine").sheet_names
        assert len(folder.received) == sent
