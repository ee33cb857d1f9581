"""Twelve weeks of corrections mixed with payments, through a real SMTP server.

Every week the bookkeeper types into the workbook (as Excel would save it),
the weekly run goes out, and a rerun on the same date must send and change
nothing. Each week every Invoices cell the corrections touch is checked, and
at the end every email each client received, in order, and both number
series (invoices and credit notes) are gapless.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

import pandas as pd
from conftest import Folder, client, service, write_workbook
from test_corrections import body, docx_text, type_into_services
from test_followup import digest, mails_to, type_into_invoices, week

from automation.model import CellUpdate
from automation.writeback import apply_updates

NAMES = ("Voider", "Fixer", "Creditor", "Loser", "Early", "Weekly", "Greedy")
TERMS = {"Early": "2/10 Net 30"}


def run(folder: Folder, n: int, expect: int = 0) -> None:
    assert folder.run("--as-of", week(n).isoformat()) == expect
    sent, state = len(folder.received), digest(folder)
    assert folder.run("--as-of", week(n).isoformat()) == expect  # a rerun sends nothing
    assert len(folder.received) == sent and digest(folder) == state


def sheet(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Invoice No")


def row(folder: Folder, number: str) -> dict[str, object]:
    values = sheet(folder).loc[number].to_dict()
    return {k: (None if pd.isna(v) else v) for k, v in values.items()}


def expect(
    folder: Folder,
    number: str,
    status: str,
    balance: str,
    credit: str | None = None,
    notes: str | None = None,
) -> None:
    cells = row(folder, number)
    assert cells["Status"] == status, (number, cells)
    assert Decimal(str(cells["Balance"])).quantize(Decimal("0.01")) == Decimal(balance), cells
    shown = cells["Credit Amount"]
    assert (None if shown is None else Decimal(str(shown))) == (
        None if credit is None else Decimal(credit)
    ), cells
    assert cells["Credit Notes"] == notes, cells
    assert cells["Resend"] is None, cells


def subjects(folder: Folder, name: str) -> list[str]:
    return [str(m["Subject"]) for m in mails_to(folder, name)]


def add_service(
    folder: Folder, excel_row: int, day: date, name: str, text: str, amount: int
) -> None:
    values = {
        "Date": day,
        "Client": name,
        "Description": text,
        "Quantity": 1,
        "Unit Price": amount,
        "Amount": amount,
    }
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", excel_row, c, v) for c, v in values.items()],
        header_rows={"Services": 1},
    )


def test_twelve_weeks_of_corrections_and_payments(folder: Folder) -> None:
    folder.write_config(extra="[reissue]\nevery_days = 7\ndue_in_days = 7\nmax_count = 5")
    lines = [service(date(2026, 1, 2), n, f"Work for {n}", 1, 1000) for n in NAMES]
    lines.insert(2, service(date(2026, 1, 2), "Fixer", "Payroll", 2, 150))  # row 4
    write_workbook(folder.workbook, [client(n, Terms=TERMS.get(n, "Net 7")) for n in NAMES], lines)
    run(folder, 0)
    number = {n: f"INV-2026-{i:04d}" for i, n in enumerate(NAMES, start=1)}
    assert row(folder, number["Fixer"])["Total"] == 1300
    next_row = len(lines) + 2

    # Week 1: payments, a credit, a fix to a billed row (an error until rebilled), new work.
    type_into_invoices(folder, "Voider", Paid_Amount=Decimal("300"), Paid_Date=week(1))
    type_into_invoices(folder, "Early", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    type_into_invoices(folder, "Greedy", Paid_Amount=Decimal("1000"), Paid_Date=week(1))
    type_into_invoices(folder, "Creditor", Credit_Amount=Decimal("100"))
    type_into_services(folder, 4, Quantity=3, Amount=450)  # Fixer's payroll was 3 hours
    add_service(folder, next_row, week(1), "Weekly", "Week 1 work", 200)
    next_row += 1
    run(folder, 1, expect=1)
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services.loc[2, "Status"] == "Error"
    assert "Quantity from 2 to 3" in services.loc[2, "Error"]
    expect(folder, number["Creditor"], "Sent", "900.00", "100", "CN-2026-0001")
    expect(folder, number["Early"], "Paid", "0.00")  # full amount inside the window: Paid
    expect(folder, number["Greedy"], "Paid", "0.00")
    expect(folder, number["Voider"], "Partially Paid", "700.00")
    expect(folder, number["Fixer"], "Sent", "1300.00")
    assert subjects(folder, "Weekly")[-1].startswith("Invoice INV-2026-0008")

    # Week 2: Void, Rebill, a credit larger than what is open, the weekly work paid.
    type_into_invoices(folder, "Voider", Status="Void")
    type_into_invoices(folder, "Fixer", Status="Rebill")
    type_into_invoices(folder, "Greedy", Credit_Amount=Decimal("50"))
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Invoices", 9, "Paid Amount", Decimal("200")),
            CellUpdate("Invoices", 9, "Paid Date", week(2)),
        ],
        header_rows={"Invoices": 1},
    )
    add_service(folder, next_row, week(2), "Weekly", "Week 2 work", 200)
    next_row += 1
    run(folder, 2, expect=1)  # Greedy's credit is refused: exit 1
    expect(folder, number["Voider"], "Void", "-300.00", "1000", "CN-2026-0002")
    expect(folder, number["Fixer"], "Void", "0.00", "1300", "CN-2026-0003")
    assert "replaced by INV-2026-0009" in str(row(folder, number["Fixer"])["Note"])
    expect(folder, "INV-2026-0009", "Sent", "1450.00")
    cells = row(folder, number["Greedy"])
    assert cells["Status"] == "Paid" and Decimal(str(cells["Credit Amount"])) == 50
    assert "larger than the $0.00 still open" in str(cells["Note"])
    expect(folder, "INV-2026-0008", "Paid", "0.00")
    expect(folder, "INV-2026-0010", "Sent", "200.00")
    # The reminder for the credited invoice shows the credit, so its figures add up.
    reissued = docx_text(folder.root / "invoices" / "2026" / f"{number['Creditor']}-R1.docx")
    assert "Less credit notes" in reissued and "-$100.00" in reissued
    assert "$900.00" in reissued
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(services.loc[1:2, "Invoice No"]) == ["INV-2026-0009"] * 2
    assert list(services.loc[1:2, "Status"]) == ["Invoiced"] * 2

    # Week 3: the bookkeeper withdraws Greedy's credit; the lost invoice is resent
    # (the overdue reissue waits: one message per invoice per run).
    type_into_invoices(folder, "Greedy", Credit_Amount=None)
    type_into_invoices(folder, "Loser", Resend="Yes")
    run(folder, 3)
    assert subjects(folder, "Loser")[-1] == f"Copy of invoice {number['Loser']}"
    expect(folder, number["Loser"], "Reissued", "1000.00")
    run(folder, 4)
    assert subjects(folder, "Loser")[-1].startswith("Reminder")
    expect(folder, number["Creditor"], "Reissued", "900.00", "100", "CN-2026-0001")

    # Week 5: a second credit on the reissued invoice; the rebilled invoice is paid.
    type_into_invoices(folder, "Creditor", Credit_Amount=Decimal("250"))
    sheet_now = sheet(folder)
    fixer_new = list(sheet_now.index).index("INV-2026-0009") + 2
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Invoices", fixer_new, "Paid Amount", Decimal("1450")),
            CellUpdate("Invoices", fixer_new, "Paid Date", week(5)),
        ],
        header_rows={"Invoices": 1},
    )
    run(folder, 5)
    expect(folder, number["Creditor"], "Reissued", "750.00", "250", "CN-2026-0001; CN-2026-0004")
    expect(folder, "INV-2026-0009", "Paid", "0.00")

    for n in range(6, 12):
        if n == 7:
            type_into_invoices(folder, "Creditor", Paid_Amount=Decimal("750"), Paid_Date=week(7))
            type_into_invoices(folder, "Loser", Paid_Amount=Decimal("1000"), Paid_Date=week(7))
        run(folder, n)
    expect(folder, number["Creditor"], "Paid", "0.00", "250", "CN-2026-0001; CN-2026-0004")
    expect(folder, number["Loser"], "Paid", "0.00")
    expect(folder, number["Voider"], "Void", "-300.00", "1000", "CN-2026-0002")

    # Every email, in order, per client.
    assert subjects(folder, "Voider") == [
        f"Invoice {number['Voider']} from Ledgerwise Bookkeeping",
        f"Invoice {number['Voider']}: payment received, $700.00 still due",
        f"Credit note CN-2026-0002 for invoice {number['Voider']}",
    ]
    assert subjects(folder, "Fixer") == [
        f"Invoice {number['Fixer']} from Ledgerwise Bookkeeping",
        "Invoice INV-2026-0009 from Ledgerwise Bookkeeping",
        f"Credit note CN-2026-0003 for invoice {number['Fixer']}",
        "Reminder: invoice INV-2026-0009 (reissued)",  # due 26 Jan, paid 9 Feb
        "Thank you for paying invoice INV-2026-0009",
    ]
    creditor = subjects(folder, "Creditor")
    assert creditor[:2] == [
        f"Invoice {number['Creditor']} from Ledgerwise Bookkeeping",
        f"Credit note CN-2026-0001 for invoice {number['Creditor']}",
    ]
    assert f"Credit note CN-2026-0004 for invoice {number['Creditor']}" in creditor
    assert creditor[-1] == f"Thank you for paying invoice {number['Creditor']}"
    assert subjects(folder, "Early") == [
        f"Invoice {number['Early']} from Ledgerwise Bookkeeping",
        f"Thank you for paying invoice {number['Early']}",
    ]
    assert len(subjects(folder, "Greedy")) == 2  # invoice, thank-you: no refund note
    loser = subjects(folder, "Loser")
    assert loser[2] == f"Copy of invoice {number['Loser']}" and loser[-1].startswith("Thank")
    # Everything about an invoice threads under its first email.
    for name in NAMES:
        mails = mails_to(folder, name)
        firsts = {str(m["X-Invoice-No"]): m["Message-ID"] for m in reversed(mails)}
        for m in mails:
            if m["In-Reply-To"]:
                assert m["In-Reply-To"] == firsts[str(m["X-Invoice-No"])]
    void_note = mails_to(folder, "Voider")[-1]
    assert "You have paid $300.00 more than you now owe" in body(void_note)

    # Both series are gapless, in the ledger and in the workbook.
    conn = sqlite3.connect(folder.root / ".billing" / "ledger.sqlite")
    try:
        invoices = sorted(n for (n,) in conn.execute("SELECT invoice_no FROM invoices"))
        notes = [n for (n,) in conn.execute("SELECT credit_note_no FROM credit_notes")]
    finally:
        conn.close()
    assert invoices == [f"INV-2026-{i:04d}" for i in range(1, len(invoices) + 1)]
    assert notes == [f"CN-2026-{i:04d}" for i in range(1, 5)]
    assert sorted(sheet(folder).index) == invoices
    shown = sheet(folder)["Credit Notes"].dropna()
    assert sorted(n for cell in shown for n in cell.split("; ")) == notes
    for n in notes:
        assert (folder.root / "invoices" / "2026" / f"{n}.docx").is_file()
