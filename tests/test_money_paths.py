"""Money through the whole run: discounts, rounding, currencies without cents, languages."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import docx
import pandas as pd
from conftest import Folder, client, service, write_workbook

from automation.model import CellUpdate
from automation.writeback import apply_updates


def invoices(folder: Folder) -> pd.DataFrame:
    return pd.read_excel(
        folder.workbook,
        sheet_name="Invoices",
        engine="calamine",
        keep_default_na=False,
        na_values=[""],
    ).set_index("Client")


def pay(folder: Folder, row: int, amount: object, when: date) -> None:
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Invoices", row, "Paid Amount", amount),
            CellUpdate("Invoices", row, "Paid Date", when),
        ],
        header_rows={"Invoices": 1},
    )


def body(message) -> str:
    return message.get_body(("plain",)).get_content()


def docx_text(message) -> str:
    for part in message.iter_attachments():
        document = docx.Document(io.BytesIO(part.get_payload(decode=True)))
        texts = [p.text for p in document.paragraphs]
        texts += [c.text for t in document.tables for r in t.rows for c in r.cells]
        return "\n".join(texts)
    raise AssertionError("no attachment")


def test_a_part_payment_on_time_earns_no_discount(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Disc", Terms="2/10 Net 30")],
        [service(date(2026, 3, 2), "Disc", "Work", 1, 1250)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    invoice_mail = folder.received[0].message
    assert "2% discount" in body(invoice_mail) and "$1,225.00" in body(invoice_mail)
    pay(folder, 2, Decimal("500"), date(2026, 3, 12))
    assert folder.run("--as-of", "2026-03-20") == 0
    row = invoices(folder).loc["Disc"]
    assert row["Status"] == "Partially Paid" and row["Balance"] == 750
    assert "$750.00" in body(folder.received[-1].message)
    assert folder.run("--as-of", "2026-04-20") == 0  # overdue: reissued
    reminder = folder.received[-1].message
    text = docx_text(reminder)
    assert "$750.00" in text and "discount" not in text.lower()
    assert "$750.00" in body(reminder)


def test_paying_the_discounted_amount_in_time_settles_it(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Disc", Terms="2/10 Net 30")],
        [service(date(2026, 3, 2), "Disc", "Work", 1, 1250)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    pay(folder, 2, Decimal("1225"), date(2026, 3, 19))
    assert folder.run("--as-of", "2026-03-20") == 0
    row = invoices(folder).loc["Disc"]
    assert row["Status"] == "Paid" and row["Balance"] == 0


def test_paying_between_the_discounted_and_the_full_amount_in_time_is_paid(
    folder: Folder, capsys
) -> None:
    """2/10 Net 30 on $112.00 (discounted $109.76): inside the window anything from the
    discounted amount to the full amount settles it, nothing owed back; only what is paid
    above the full amount is an overpayment."""
    paid = {"A": "109.75", "B": "110.00", "C": "111.98", "D": "112.00", "E": "112.01",
            "F": "113.00"}  # fmt: skip
    write_workbook(
        folder.workbook,
        [client(name, Terms="2/10 Net 30", **{"Tax Rate": "12%"}) for name in paid],
        [service(date(2026, 3, 2), name, "Work", 1, 100) for name in paid],
    )
    assert folder.run("--as-of", "2026-03-02") == 0
    for row, amount in enumerate(paid.values(), start=2):
        pay(folder, row, Decimal(amount), date(2026, 3, 5))
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09") == 0
    out = capsys.readouterr().out
    rows = invoices(folder)
    for name in "ABCDE":
        assert (rows.loc[name, "Status"], rows.loc[name, "Balance"]) == ("Paid", 0), name
    assert (rows.loc["F", "Status"], rows.loc["F", "Balance"]) == ("Overpaid", -1)
    owed = out.split("Owed back to clients", 1)[1].splitlines()[1:]
    assert [ln.split()[1] for ln in owed if ln.startswith("  INV-")] == ["F"]
    notes = {str(m.message["To"]).split("@")[0].upper(): body(m.message)
             for m in folder.received[len(paid) :]}  # fmt: skip
    assert all("paid in full" in notes[name] for name in "ABCDE")
    assert "$113.00, which is $1.00 more than the $112.00 due" in notes["F"]


def test_yen_balances_are_whole_yen_everywhere(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Tokyo", Currency="JPY", **{"Tax Rate": "8.25%"})],
        [service(date(2026, 3, 2), "Tokyo", "Work", 1, 1000.4)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    row = invoices(folder).loc["Tokyo"]
    assert row["Total"] == 1083  # 1,000 + 82.5 tax, each rounded half-up to whole yen
    pay(folder, 2, Decimal("1082.5"), date(2026, 3, 10))  # half a yen: no bank sends it
    assert folder.run("--as-of", "2026-03-11") == 1
    assert invoices(folder).loc["Tokyo", "Status"] == "Sent"  # refused, nothing told
    pay(folder, 2, Decimal("1082"), date(2026, 3, 10))
    assert folder.run("--as-of", "2026-03-11") == 0
    row = invoices(folder).loc["Tokyo"]
    assert row["Status"] == "Partially Paid" and row["Balance"] == 1
    note = body(folder.received[-1].message)
    assert "¥1" in note and "¥0" not in note


def test_forints_are_worked_out_to_iso_4217s_minor_unit(folder: Folder) -> None:
    """ISO 4217 gives HUF two decimals (CLDR rounds it to whole forints for display):
    half an hour at 1,001 is 500.50, not 501, on the sheet, the invoice and the mail; a
    payment of 500.50 is taken as typed."""
    write_workbook(
        folder.workbook,
        [client("Budapest", Currency="HUF")],
        [service(date(2026, 3, 2), "Budapest", "Work", 0.5, 1001)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    assert invoices(folder).loc["Budapest", "Total"] == 500.5
    mail = folder.received[0].message
    assert "HUF\u00a0500.50" in body(mail) and "HUF\u00a0500.50" in docx_text(mail)
    pay(folder, 2, Decimal("500.5"), date(2026, 3, 10))
    assert folder.run("--as-of", "2026-03-11") == 0
    assert invoices(folder).loc["Budapest", "Status"] == "Paid"


def test_russian_client_gets_russian_mail_and_invoice(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [
            client(
                "Гранит",
                Email="buh@granit.example",
                Language="ru",
                Currency="RUB",
                Terms="2/10 Net 30",
            )
        ],
        [service(date(2026, 3, 2), "Гранит", "Консультация", 2, 12000)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    message = folder.received[0].message
    text = body(message).replace("\xa0", " ").replace("\u202f", " ")  # Babel's spaces
    assert "Гранит" in text and "г.." not in text and "24 000,00" in text
    assert "апреля 2026" in text
    assert "СЧЁТ" in docx_text(message).upper()


def test_invoices_for_zero_or_less_are_not_issued(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Refund"), client("Nothing"), client("Mixed"), client("Zero qty")],
        [
            service(date(2026, 3, 2), "Refund", "Refund", 1, -100),
            service(date(2026, 3, 2), "Nothing", "Free check-up", 1, 0),
            service(date(2026, 3, 2), "Mixed", "Audit", 1, 500),
            service(date(2026, 3, 2), "Mixed", "Goodwill discount", 1, -50),
            service(date(2026, 3, 2), "Zero qty", "Odd", 0, None, Amount=50),
        ],
    )
    assert folder.run("--as-of", "2026-03-09") == 1
    assert [r.rcpt_tos for r in folder.received] == [["mixed@clients.example"]]
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Status"].tolist() == ["Error", "Error", "Invoiced", "Invoiced", "Error"]
    assert "add up to -$100.00" in services["Error"][0]
    assert "add up to $0.00" in services["Error"][1]
    assert "Quantity is 0" in services["Error"][4]
    assert invoices(folder).loc["Mixed", "Total"] == 450


def test_unit_price_worked_out_from_amount_is_rounded(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Thirds", Currency="RUB", Language="ru")],
        [service(date(2026, 3, 2), "Thirds", "Work", 3, None, Amount=100)],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    text = docx_text(folder.received[0].message).replace("\xa0", " ")
    assert "33,33 ₽" in text and "33,333" not in text and "100,00 ₽" in text


def test_payments_a_bookkeeper_would_not_mean_are_errors_and_mail_waits(
    folder: Folder, capsys
) -> None:
    names = ["Negative", "Early date", "No date", "European"]
    write_workbook(
        folder.workbook,
        [client(n, Terms="Net 7") for n in names],
        [service(date(2026, 3, 2), n, "Work", 1, 1250) for n in names],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    apply_updates(
        folder.workbook,
        [
            CellUpdate("Invoices", 2, "Paid Amount", Decimal("-100")),
            CellUpdate("Invoices", 2, "Paid Date", date(2026, 3, 10)),
            CellUpdate("Invoices", 3, "Paid Amount", Decimal("1250")),
            CellUpdate("Invoices", 3, "Paid Date", date(2026, 3, 1)),
            CellUpdate("Invoices", 4, "Paid Amount", Decimal("1250")),
            CellUpdate("Invoices", 5, "Paid Amount", "1.250,00"),
            CellUpdate("Invoices", 5, "Paid Date", date(2026, 3, 10)),
        ],
        header_rows={"Invoices": 1},
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-30") == 1  # overdue, but the cells need fixing
    out = capsys.readouterr().out
    assert "Invoices row 2, Paid Amount: a payment cannot be negative" in out
    assert "Invoices row 3, Paid Date: the payment date 2026-03-01 is before the invoice" in out
    assert "Invoices row 4, Paid Date: type the date the payment of 1250 arrived" in out
    sent = [r.rcpt_tos[0] for r in folder.received[4:]]
    assert sent == ["european@clients.example"]  # its thank-you; the others wait
    rows = invoices(folder)
    assert rows.loc["European", "Status"] == "Paid"
    from automation.cli import main

    assert main(["check", "--workbook", str(folder.workbook)]) == 1


def test_a_paid_date_after_the_run_is_an_error_and_no_thanks_go(folder: Folder, capsys) -> None:
    """2062 typed for 2026: the money cannot have arrived yet. The payment is ignored, so the
    sheet's Balance and the statement of account agree; one dated the run's own day counts."""
    names = ["Typo year", "Paid today"]
    write_workbook(
        folder.workbook,
        [client(n) for n in names],
        [service(date(2026, 3, 2), n, "Work", 1, 1250) for n in names],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    pay(folder, 2, Decimal("1250"), date(2062, 3, 10))
    pay(folder, 3, Decimal("1250"), date(2026, 3, 16))
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-16") == 1
    out = " ".join(capsys.readouterr().out.split())
    today = date.today().isoformat()  # the run is dated earlier: today is the limit
    assert (
        f"Invoices row 2, Paid Date: the payment date 2062-03-10 is after today's date "
        f"{today}; a payment cannot have arrived yet: check the year. The payment is "
        "ignored until it is fixed." in out
    )
    thanked = [(r.rcpt_tos[0], r.message["Subject"]) for r in folder.received[2:]]
    assert len(thanked) == 1 and thanked[0][0] == "paidtoday@clients.example"
    assert thanked[0][1].startswith("Thank you")
    rows = invoices(folder)
    assert rows.loc["Paid today", "Status"] == "Paid"
    assert rows.loc["Typo year", "Status"] == "Sent"
    assert rows.loc["Typo year", "Balance"] == 1250  # the payment ignored, as the error says
    from automation.cli import main

    workbook = ["--workbook", str(folder.workbook), "--as-of", "2026-03-16"]
    assert main(["check", *workbook]) == 1
    assert "2062-03-10 is after today's date" in " ".join(capsys.readouterr().out.split())
    march = ["--from", "2026-03-01", "--to", "2026-03-16"]
    assert main(["statement", "Typo year", *workbook, *march]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Typo year (USD), closing balance $1,250.00" in out  # as the sheet's Balance
    assert "Invoices row 2, Paid Date: the payment date 2062-03-10 is after" in out


def test_a_paid_date_after_the_run_an_older_version_settled_on_is_told(
    folder: Folder, capsys
) -> None:
    """An invoice an older version settled on a Paid Date after the run (it took such a date)
    is looked at again: the date is told, and the sheet no longer shows it paid while the
    statement of account asks for it."""
    import sqlite3

    from automation.config import Config
    from automation.read import read_workbook
    from automation.updates import payment_cells, signature

    write_workbook(folder.workbook, [client("Typo year")],
                   [service(date(2026, 3, 2), "Typo year", "Work", 1, 1250)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    pay(folder, 2, Decimal("1250"), date(2026, 3, 10))
    assert folder.run("--as-of", "2026-03-16") == 0  # paid, thanked, settled
    pay(folder, 2, Decimal("1250"), date(2062, 3, 10))  # as an older version settled it
    cells = payment_cells(read_workbook(folder.workbook, Config()).invoices, ["INV-2026-0001"])
    with sqlite3.connect(folder.root / ".billing" / "ledger.sqlite") as db:
        db.execute("UPDATE invoices SET settled = ?", (signature(cells["INV-2026-0001"]),))
    sent = len(folder.received)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-23") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Invoices row 2, Paid Date: the payment date 2062-03-10 is after today's date" in out
    assert len(folder.received) == sent  # nothing about it is mailed while it stands
    assert invoices(folder).loc["Typo year", "Balance"] == 1250
    pay(folder, 2, Decimal("1250"), date(2026, 3, 10))  # fixed: paid again, not thanked twice
    assert folder.run("--as-of", "2026-03-30") == 0
    assert len(folder.received) == sent
    assert invoices(folder).loc["Typo year", "Status"] == "Paid"


def test_a_catch_up_run_takes_a_payment_dated_after_it_but_not_after_today(
    folder: Folder, capsys
) -> None:
    """Catching up a missed week (`--as-of` last Monday) meets a payment that arrived since:
    a true date, taken as paid, not a row error; the limit is the later of the run's date
    and today."""
    write_workbook(folder.workbook, [client("Late run")],
                   [service(date(2026, 3, 2), "Late run", "Work", 1, 125)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0
    pay(folder, 2, Decimal("125"), date(2026, 3, 10))  # a day after the next run's date
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09") == 0
    assert "cannot have arrived yet" not in capsys.readouterr().out
    assert invoices(folder).loc["Late run", "Status"] == "Paid"
