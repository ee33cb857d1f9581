"""A firm adopting the tool mid-year: invoices made before it, in its own numbering.

Its Invoices sheet holds hand-made invoices the tool did not issue (`2026-1`,
`A/18`, and one in the tool's own format by chance). New invoices are never
numbered so that a bank reference naming one of the firm's would be read as
them ("Inv 2026-3" as INV-2026-0003), and a payment whose reference names a
hand-made invoice is never applied to another invoice by its amount: one the
bookkeeper already typed on that row is recognised, any other waits in Review
saying to record it on the row by hand.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import CSV_CONFIG, Tx, csv_bank

from automation.bank.match import (
    APPLIED,
    REVIEW,
    Allocation,
    Instruction,
    OpenInvoice,
    Payers,
    match_lines,
)
from automation.bank.record import BankLine
from automation.cli import main

D = Decimal
ACME, BETA = "Acme GmbH", "Beta BV"
BILLED = date(2026, 3, 2)


def hand_row(number: object, name: str, total: int, status: str | None = "Sent") -> dict:  # type: ignore[type-arg]
    return {"Invoice No": number, "Client": name, "Total": total, "Status": status}


def adopting_folder(folder: Folder, hand: list[dict], billed: list[tuple[str, int]]) -> None:  # type: ignore[type-arg]
    """Clients Acme and Beta (EUR), the hand-made invoices `hand` on Services and
    Invoices, and new work to bill: (client, amount) each."""
    folder.write_config(extra='currency = "EUR"\n' + CSV_CONFIG)
    services = [service(date(2026, 1, 15), row["Client"], "Before the tool", 1, row["Total"],
                        **{"Invoice No": row["Invoice No"]}) for row in hand]  # fmt: skip
    services += [service(BILLED, name, "Bookkeeping", 1, amount) for name, amount in billed]
    write_workbook(folder.workbook, [client(ACME, Currency="EUR"), client(BETA, Currency="EUR")],
                   services, invoices=hand)  # fmt: skip


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index(frame["Invoice No"].astype(str))


def payments_sheet(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    return frame.set_index("Bank Ref")


def test_new_numbers_skip_those_a_reference_to_the_firms_own_would_be_read_as(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The firm numbered 2026-1, 2026/2, 2026-3: "Inv 2026-3" would read as INV-2026-0003,
    so the tool starts at INV-2026-0004; Acme paying its old 2026-3 so is not credited to
    another client's invoice."""
    hand = [hand_row("2026-1", ACME, 200, "Paid"), hand_row("2026/2", BETA, 300, "Paid"),
            hand_row("2026-3", ACME, 500)]  # fmt: skip
    adopting_folder(folder, hand, [(ACME, 700), (BETA, 500)])
    assert main(["--workbook", str(folder.workbook), "--dry-run", "--as-of", "2026-03-02"]) == 0
    assert "INV-2026-0004" in capsys.readouterr().out
    assert folder.run("--as-of", "2026-03-02") == 0
    issued = [n for n in invoices(folder).index if n.startswith("INV-")]
    assert issued == ["INV-2026-0004", "INV-2026-0005"]

    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "march.csv").write_bytes(csv_bank([
        Tx(date(2026, 3, 6), D("500.00"), "ACME GMBH", purpose="Inv 2026-3 March bookkeeping",
           ref="TX41"),
    ]))  # fmt: skip
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-03-09") == 0  # the line waits in Payments
    line = payments_sheet(folder).loc["TX41"]
    assert line["Status"] == REVIEW and "2026-3" in line["Note"]
    assert "made before the tool" in line["Note"]
    assert invoices(folder)["Paid Amount"].isna().loc[["INV-2026-0004", "INV-2026-0005"]].all()
    assert len(folder.received) == sent  # no note to anyone about money not applied


def test_a_payment_naming_a_hand_made_invoice_is_not_applied_to_a_new_one(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Acme's 500 already typed on its hand row 2026-2 is recognised, not counted again on
    its new 500 invoice; Beta's reference to its hand row INV-2026-0003 (the tool's format
    by chance) and Acme's to 2026-1 wait in Review, not paid to the new invoices by amount."""
    hand = [hand_row("2026-1", ACME, 500), hand_row("2026-2", ACME, 500),
            hand_row("A/18", BETA, 400, None), hand_row("INV-2026-0003", BETA, 300),
            hand_row(1005, BETA, 2000)]  # fmt: skip
    adopting_folder(folder, hand, [(ACME, 500), (BETA, 300)])
    assert folder.run("--as-of", "2026-03-02") == 0
    shown = invoices(folder)
    assert list(shown.loc[["INV-2026-0004", "INV-2026-0005"], "Client"]) == [ACME, BETA]
    # the bookkeeper types Acme's payment of 2026-2 on its row, as always
    row = folder.row_of("Invoices", "Invoice No", "2026-2")
    folder.type_in("Invoices", row, Paid_Amount=D("500"), Paid_Date=date(2026, 3, 5))

    statement = folder.root / "march.csv"
    statement.write_bytes(csv_bank([
        Tx(date(2026, 3, 5), D("500.00"), "ACME GMBH", purpose="Invoice 2026-2", ref="TX1"),
        Tx(date(2026, 3, 6), D("300.00"), "Beta BV", purpose="INV-2026-0003", ref="TX2"),
        Tx(date(2026, 3, 6), D("500.00"), "ACME GMBH", purpose="Settlement 2026-1", ref="TX3"),
        Tx(date(2026, 3, 6), D("400.00"), "Beta BV", purpose="A/18", ref="TX4"),
    ]))  # fmt: skip
    sent = len(folder.received)
    pay = ["payments", "--workbook", str(folder.workbook), str(statement), "--as-of", "2026-03-09"]
    assert main([*pay[:1], "--dry-run", *pay[1:]]) == 1
    assert "thank" not in capsys.readouterr().out.lower()
    assert main(pay) == 1
    lines = payments_sheet(folder)
    typed = lines.loc["TX1"]
    assert (typed["Rule"], typed["Status"], typed["Invoice No"]) == ("Typed by hand", APPLIED,
                                                                     "2026-2")  # fmt: skip
    for ref, number in (("TX2", "INV-2026-0003"), ("TX3", "2026-1"), ("TX4", "A/18")):
        waiting = lines.loc[ref]
        assert waiting["Status"] == REVIEW, ref
        assert f"names {number}, an invoice made before the tool" in waiting["Note"]
        assert "record this payment on its row in Invoices by hand" in waiting["Note"]
    shown = invoices(folder)
    assert shown.loc[["INV-2026-0004", "INV-2026-0005"], "Paid Amount"].isna().all()
    assert D(str(shown.loc["2026-2", "Paid Amount"])) == D("500")  # typed once, not added
    assert folder.run("--as-of", "2026-03-09") == 0
    assert len(folder.received) == sent  # no thank-you for money that paid no new invoice

    # The bookkeeper names the hand-made 1005 on a waiting line: the number is right, so
    # the reply is what to do with it, not "check the number".
    folder.type_in("Payments", folder.row_of("Payments", "Bank Ref", "TX4"), Invoice_No=1005)
    assert main([*pay[:3], "--as-of", "2026-03-10"]) == 1
    note = payments_sheet(folder).loc["TX4", "Note"]
    assert note.startswith("1005 is an invoice made before the tool")
    assert "type Ignore here" in note and "check the number" not in note


def test_a_reference_written_as_the_tools_number_is_the_tools_beside_a_hand_lookalike() -> None:
    """A workbook whose numbers already collided (issued before the numbering skipped the
    firm's): "INV-2026-0003" as issued is the tool's invoice; "Inv 2026-3" could be either
    and waits for a person."""
    cedar = OpenInvoice("INV-2026-0003", "cedar", "EUR", date(2026, 3, 2), D("250.00"))
    payers = Payers({}, {"acme": "acme", "cedar": "cedar"})

    def decide(reference: str, payer: str) -> tuple[str, tuple[Allocation, ...], str]:
        line = BankLine(date(2026, 3, 6), D("250.00"), "EUR", "in", payer, (), reference, "R1")
        (d,) = match_lines([cedar], payers, [line], D("0"), made_before=["2026-3"])
        return d.status, d.allocations, d.note

    paid_to_cedar = (Allocation("INV-2026-0003", D("250.00")),)
    assert decide("INV-2026-0003", "Cedar")[:2] == (APPLIED, paid_to_cedar)
    status, paid, note = decide("Inv 2026-3 March bookkeeping", "Acme")
    assert (status, paid) == (REVIEW, ())
    assert "2026-3" in note and "INV-2026-0003" in note


def test_an_instruction_naming_a_hand_made_invoice_says_to_record_it_there() -> None:
    line = BankLine(date(2026, 3, 6), D("400.00"), "EUR", "in", "Beta", (), "Settlement", "R1")
    told = {"R1": Instruction("R1", ("1005",))}
    (d,) = match_lines([], Payers({}, {}), [line], D("0"), instructions=told,
                       made_before=["1005"])  # fmt: skip
    assert d.status == REVIEW
    assert d.note.startswith("1005 is an invoice made before the tool")
    (unknown,) = match_lines([], Payers({}, {}), [line], D("0"),
                             instructions={"R1": Instruction("R1", ("1006",))},
                             made_before=["1005"])  # fmt: skip
    assert "check the number" in unknown.note
