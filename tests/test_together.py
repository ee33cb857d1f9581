"""Features used together, the way a bookkeeper's week goes: bank import, corrections,
follow-ups and partial runs in one folder, through the command line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import Tx, camt053

from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

D = Decimal
NOV30 = date(2026, 11, 30)


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Invoice No")


def type_paid(folder: Folder, number: str, amount: str, day: date) -> None:
    row = int(list(invoices(folder).index).index(number)) + 2
    apply_updates(
        folder.workbook,
        [CellUpdate("Invoices", row, "Paid Amount", D(amount)),
         CellUpdate("Invoices", row, "Paid Date", day)],
        header_rows={"Invoices": 1},
    )  # fmt: skip


def subjects_to(folder: Folder, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in folder.received if address in r.rcpt_tos]


@pytest.mark.parametrize("between", ["payments", "only"])
def test_a_typed_payment_is_thanked_after_a_payments_import_or_an_only_run(
    folder: Folder, between: str
) -> None:
    """`payments` and `run --only` send no follow-ups for other invoices; they must not
    set those invoices aside as settled, or the thank-you is never sent."""
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Blue", Terms="2/10 Net 30")],
        [service(date(2026, 11, 2), "Acme", "Audit"), service(date(2026, 11, 5), "Blue", "Pay")],
    )
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    type_paid(folder, "INV-2026-0002", "98.00", date(2026, 12, 5))  # discount earned
    if between == "payments":
        statement = folder.root / "other.xml"
        statement.write_bytes(
            camt053(
                [Tx(date(2026, 12, 6), D("1.00"), "Stranger", purpose="gift", ref="S-1")],
                currency="USD",
            )
        )
        main(["payments", "--workbook", str(folder.workbook), "--as-of", "2026-12-07",
              str(statement)])  # fmt: skip
    else:
        assert folder.run("--as-of", "2026-12-07", "--only", "Acme") == 0
    assert not any("thank" in s.lower() for s in subjects_to(folder, "blue@clients.example"))

    assert folder.run("--as-of", "2026-12-07") == 0
    thanks = [s for s in subjects_to(folder, "blue@clients.example") if "thank" in s.lower()]
    assert len(thanks) == 1, subjects_to(folder, "blue@clients.example")
    assert invoices(folder).loc["INV-2026-0002", "Status"] == "Paid"


def services_row(folder: Folder, row: int, **cells: object) -> None:
    apply_updates(
        folder.workbook,
        [CellUpdate("Services", row, c.replace("_", " "), v) for c, v in cells.items()],
        header_rows={"Services": 1},
    )


def test_a_dry_run_numbers_a_rebill_and_new_work_as_the_run_then_does(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme")],
        [service(date(2026, 11, 2), "Acme", "Audit", 1, 100),
         service(date(2026, 12, 3), "Acme", "Later work", 1, 60)],
    )  # fmt: skip
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    services_row(folder, 2, Quantity=D(2), Amount=D(200))
    row = int(list(invoices(folder).index).index("INV-2026-0001")) + 2
    apply_updates(folder.workbook, [CellUpdate("Invoices", row, "Status", "Rebill")],
                  header_rows={"Invoices": 1})  # fmt: skip
    capsys.readouterr()
    assert folder.run("--as-of", "2026-12-07", "--dry-run") == 0
    preview = capsys.readouterr().out
    previewed = sorted(p.name for p in (folder.root / "preview").rglob("*.docx"))
    assert folder.run("--as-of", "2026-12-07") == 0
    made = invoices(folder)
    assert made.loc["INV-2026-0002", "Total"] == 200 and made.loc["INV-2026-0003", "Total"] == 60
    assert previewed == ["INV-2026-0002.docx", "INV-2026-0003.docx"]
    assert "$200.00" in preview and "$60.00" in preview


def test_a_dry_run_shows_the_amount_a_thank_you_is_for(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 11, 2), "Acme", "Audit")])
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    type_paid(folder, "INV-2026-0001", "100.00", date(2026, 12, 4))
    capsys.readouterr()
    assert folder.run("--as-of", "2026-12-07", "--dry-run") == 0
    assert "$100.00" in capsys.readouterr().out  # what was paid, as the run shows it


def test_check_lists_what_the_run_would(folder: Folder, capsys: pytest.CaptureFixture[str]) -> None:
    """An invoice that would add up to zero or less, and a statement file the run cannot read."""
    write_workbook(
        folder.workbook,
        [client("Acme"), client("Zed")],
        [service(date(2026, 11, 2), "Zed", "Work"),
         service(date(2026, 11, 9), "Acme", "Refund", 1, -50)],
    )  # fmt: skip
    assert folder.run("--as-of", NOV30.isoformat()) == 1
    ran = capsys.readouterr().out
    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("not a statement")
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-12-07"]) == 1
    checked = capsys.readouterr().out
    assert "add up to -$50.00" in ran and "add up to -$50.00" in checked
    assert "notes.txt" in checked
    assert folder.run("--as-of", "2026-12-07") == 1
    assert "notes.txt" in capsys.readouterr().out


def test_a_mistyped_status_is_pointed_out_kept_and_nothing_is_sent(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Viod" was meant as Void: it must not be overwritten with Overdue and reminded.

    A row billed before the tool keeps whatever status the bookkeeper gave it.
    """
    old = {"Invoice No": "OLD-17", "Client": "Acme", "Total": 50, "Status": "Paid by cheque"}
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 11, 2), "Acme", "Audit")],
                   invoices=[old])  # fmt: skip
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    row = int(list(invoices(folder).index).index("INV-2026-0001")) + 2
    apply_updates(folder.workbook, [CellUpdate("Invoices", row, "Status", "Viod")],
                  header_rows={"Invoices": 1})  # fmt: skip
    sent = len(folder.received)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2027-01-11"]) == 1
    assert folder.run("--as-of", "2027-01-11") == 1  # overdue and due a reminder
    out = capsys.readouterr().out
    assert f"Invoices row {row}, Status:" in out and '"Viod" is not a status' in out
    assert len(folder.received) == sent
    assert invoices(folder).loc["INV-2026-0001", "Status"] == "Viod"
    assert "OLD-17" not in out and invoices(folder).loc["OLD-17", "Status"] == "Paid by cheque"

    apply_updates(folder.workbook, [CellUpdate("Invoices", row, "Status", "Void")],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", "2027-01-18") == 0
    assert [str(r.message["Subject"]) for r in folder.received[sent:]] == [
        "Credit note CN-2027-0001 for invoice INV-2026-0001"
    ]
    assert invoices(folder).loc["INV-2026-0001", "Status"] == "Void"


def test_paid_typed_as_a_status_is_pointed_out_until_the_payment_is_typed(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Paid" typed in Status with no Paid Amount: the client did pay. It is kept and
    explained (output and Note), and no reminder goes, until the payment is typed; a
    "Paid" the tool wrote itself, whose payment was taken out since, is simply written
    over."""
    write_workbook(folder.workbook, [client("Acme"), client("Beta")],
                   [service(date(2026, 11, 2), n, "Audit") for n in ("Acme", "Beta")])  # fmt: skip
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    rows = {n: int(list(invoices(folder)["Client"]).index(n)) + 2 for n in ("Acme", "Beta")}
    apply_updates(folder.workbook, [
        CellUpdate("Invoices", rows["Acme"], "Status", "Paid"),
        CellUpdate("Invoices", rows["Beta"], "Paid Amount", 100),
        CellUpdate("Invoices", rows["Beta"], "Paid Date", date(2026, 12, 2)),
    ], header_rows={"Invoices": 1})  # fmt: skip
    sent = len(folder.received)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-12-07") == 1
    out = capsys.readouterr().out
    assert f'Invoices row {rows["Acme"]}, Status: "Paid" follows from Paid Amount' in out
    sheet = invoices(folder)
    assert sheet.loc["INV-2026-0001", "Status"] == "Paid"
    assert sheet.loc["INV-2026-0001", "Note"].startswith('Not done on 2026-12-07: "Paid" follows')
    assert sheet.loc["INV-2026-0002", "Status"] == "Paid"  # Beta's thank-you went
    assert [str(r.message["Subject"]) for r in folder.received[sent:]] == [
        "Thank you for paying invoice INV-2026-0002"
    ]
    apply_updates(folder.workbook, [
        CellUpdate("Invoices", rows["Acme"], "Paid Amount", 100),
        CellUpdate("Invoices", rows["Acme"], "Paid Date", date(2026, 12, 4)),
        CellUpdate("Invoices", rows["Beta"], "Paid Amount", None),  # the cheque bounced
    ], header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", "2027-01-11") == 0
    sheet = invoices(folder)
    assert sheet.loc["INV-2026-0001", "Status"] == "Paid"
    assert sheet.loc["INV-2026-0002", "Status"] == "Reissued"  # overdue again, reminded


def test_an_inactive_clients_paid_status_is_the_tools_own(folder: Folder) -> None:
    """An inactive client gets no thank-you, yet the tool wrote its Paid: the payment
    taken out later, the status is simply written over, no error."""
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 11, 2), "Acme", "Audit")])
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    total = int(invoices(folder).loc["INV-2026-0001", "Total"])
    apply_updates(folder.workbook, [
        CellUpdate("Clients", 2, "Active", "No"),
        CellUpdate("Invoices", 2, "Paid Amount", total),
        CellUpdate("Invoices", 2, "Paid Date", date(2026, 12, 2)),
    ], header_rows={"Invoices": 1, "Clients": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-12-07") == 0
    assert invoices(folder).loc["INV-2026-0001", "Status"] == "Paid"
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Paid Amount", None)],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-12-14") == 0
    assert invoices(folder).loc["INV-2026-0001", "Status"] == "Sent"


def test_paid_typed_with_the_bank_line_in_the_inbox_is_paid_by_the_bank(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bookkeeper saw the money and typed "Paid"; the bank statement in the inbox pays
    the invoice in the same run: no Review line, no error, the thank-you goes."""
    folder.write_config(
        extra='[bank.csv]\ndate = "Date"\namount = "Amount"\nreference = "Reference"'
    )
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 11, 2), "Acme", "Audit")])
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Status", "Paid")],
                  header_rows={"Invoices": 1})  # fmt: skip
    total = invoices(folder).loc["INV-2026-0001", "Total"]
    (folder.root / "statements").mkdir()
    (folder.root / "statements" / "bank.csv").write_text(
        f"Date,Amount,Reference\n2026-12-02,{total:.2f},INV-2026-0001\n"
    )
    assert folder.run("--as-of", "2026-12-07") == 0
    row = invoices(folder).loc["INV-2026-0001"]
    assert row["Status"] == "Paid" and row["Paid Amount"] == total
    payments = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    assert list(payments["Status"]) == ["Applied"]


def test_only_with_part_of_a_name_suggests_the_client(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    write_workbook(folder.workbook, [client("Acme Dental Clinic"), client("Blue")],
                   [service(date(2026, 11, 2), "Blue", "Audit")])  # fmt: skip
    assert folder.run("--as-of", NOV30.isoformat(), "--only", "acme") == 2
    assert "Did you mean 'Acme Dental Clinic'?" in capsys.readouterr().out
    assert folder.received == []


def test_a_total_row_under_a_plain_invoices_range_is_said(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """New invoice rows go below a 'Total' row typed under a plain range: its sums miss
    them, and the run says so, with the way out (an Excel Table keeps its totals last)."""
    old = {"Invoice No": "OLD-1", "Client": "Acme", "Total": 50, "Status": "Paid"}
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 11, 2), "Acme", "Audit")],
                   invoices=[old, {"Invoice No": "Total", "Total": 50}])  # fmt: skip
    capsys.readouterr()
    assert folder.run("--as-of", NOV30.isoformat()) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Invoices: rows the tool adds go below row 3 ('Total'), so the totals there" in out
