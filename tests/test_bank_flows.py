"""Bank lines across imports: a cumulative Paid Amount typed for two transfers, one
transfer in two formats of a statement, and a payment the bank returned and the
client paid again."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import pandas as pd
from conftest import Folder, client, service, write_workbook
from statements import CSV_CONFIG, Tx, camt053, csv_bank, ofx_sgml

from automation.bank.match import (
    APPLIED,
    REVIEW,
    Allocation,
    OpenInvoice,
    Payers,
    TypedPayment,
    match_lines,
)
from automation.bank.record import BankLine, repeated_from_other_files
from automation.cli import main
from automation.model import CellUpdate
from automation.writeback import apply_updates

D = Decimal
BETA = "beta llc"
PAYERS = Payers({"KZ222": BETA}, {BETA: BETA})
#: INV-2026-0007 (1200) paid: the bookkeeper typed 1200 with Paid Date 23 Jan;
#: INV-2026-0002 (800) of the same client still open.
INVOICES = [
    OpenInvoice("INV-2026-0002", BETA, "USD", date(2026, 1, 5), D("800.00")),
    OpenInvoice("INV-2026-0007", BETA, "USD", date(2026, 1, 12), D("0.00")),
]
TYPED = [TypedPayment("INV-2026-0007", BETA, D("1200.00"), date(2026, 1, 23),
                      parts=((D("1200.00"), date(2026, 1, 23)),))]  # fmt: skip


def transfer(amount: str, day: int, reference: str, ref: str) -> BankLine:
    return BankLine(date(2026, 1, day), D(amount), "USD", "in", "Beta LLC", ("KZ222",),
                    reference, ref, "jan.csv", day)  # fmt: skip


def test_two_transfers_typed_as_one_cumulative_paid_amount_are_recognised() -> None:
    """400 and 800, each naming INV-2026-0007, typed as 1200: both are the typed payment;
    the 800 never pays INV-2026-0002 by its amount."""
    first = transfer("400.00", 20, "INV-2026-0007 part 1", "T7001")
    rest = transfer("800.00", 23, "INV-2026-0007 rest", "T7002")
    decisions = match_lines(INVOICES, PAYERS, [first, rest], D("0"), typed=TYPED,
                            known_closed={"INV-2026-0007"})  # fmt: skip
    assert [(d.status, d.rule) for d in decisions] == [(APPLIED, "Typed by hand")] * 2
    assert [d.allocations for d in decisions] == [
        (Allocation("INV-2026-0007", D("400.00"), typed=True),),
        (Allocation("INV-2026-0007", D("800.00"), typed=True),),
    ]
    assert "one of 2 lines making up the $1,200.00 typed by hand on INV-2026-0007" in (
        decisions[1].note
    )


def test_a_line_that_may_be_part_of_a_typed_payment_waits_instead_of_paying_another() -> None:
    """Only the 800 is in this statement (the 400 comes in the next one): it may be part of
    the 1200 typed, so it waits; it is not applied to INV-2026-0002 by its amount."""
    rest = transfer("800.00", 23, "INV-2026-0007 rest", "T7002")
    (d,) = match_lines(INVOICES, PAYERS, [rest], D("0"), typed=TYPED,
                       known_closed={"INV-2026-0007"})  # fmt: skip
    assert (d.status, d.allocations) == (REVIEW, ())
    assert d.note == (
        "INV-2026-0007 already shows a payment of $1,200.00 typed by hand (Paid Date "
        "2026-01-23) that no bank line was found to be: type Ignore if this line is part of "
        "it, or the Invoice No it pays."
    )
    # Nothing typed is left on it (the bank paid it): last month's purpose re-used, as before.
    (reused,) = match_lines(INVOICES, PAYERS, [rest], D("0"), known_closed={"INV-2026-0007"})
    assert (reused.rule, reused.allocations) == (
        "Amount", (Allocation("INV-2026-0002", D("800.00")),))  # fmt: skip


def test_a_line_is_decided_as_if_the_invoices_it_may_not_see_yet_did_not_exist() -> None:
    """`unseen`: INV-2026-0002 issued (the day of the run) after the line was imported. The
    line naming it is decided as before it existed; the other line sees it."""
    early = transfer("800.00", 9, "INV-2026-0002", "T1")
    late = transfer("800.00", 9, "INV-2026-0002", "T2")
    one, two = match_lines(INVOICES, PAYERS, [early, late], D("0"),
                           unseen={"T1": {"INV-2026-0002"}})  # fmt: skip
    assert (one.status, one.note) == (
        REVIEW, "the payer is a client with no open invoice: type the Invoice No, or Ignore.")
    assert (two.rule, two.allocations) == ("Reference", (Allocation("INV-2026-0002", D("800")),))


def test_lines_of_one_file_never_repeat_each_other() -> None:
    """Two equal payments on one day in one file are two; the same two in another format
    of the statement repeat one each."""
    one = transfer("300.00", 9, "INV-2026-0002", "C1")
    two = BankLine(one.date, one.amount, "USD", "in", "Beta LLC", ("KZ222",), one.reference,
                   "C1#2", "jan.csv", 10)  # fmt: skip
    ofx = [BankLine(one.date, one.amount, "USD", "in", "BETA LLC", (), " inv-2026-0002", ref,
                    "jan.ofx", n) for n, ref in enumerate(("F1", "F2"), start=1)]  # fmt: skip
    assert repeated_from_other_files([one, two]) == {}
    assert repeated_from_other_files([one, two, *ofx]) == {"F1": one, "F2": two}
    other_day = BankLine(date(2026, 1, 10), one.amount, "USD", "in", "Beta LLC", (),
                         one.reference, "F3", "jan.ofx")  # fmt: skip
    assert repeated_from_other_files([one, other_day]) == {}


# -- end to end -------------------------------------------------------------------


def billed(folder: Folder, csv_config: str = CSV_CONFIG) -> None:
    folder.write_config(extra='currency = "EUR"\n' + csv_config)
    write_workbook(folder.workbook, [client("Acme GmbH", Currency="EUR"),
                                     client("Beta BV", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme GmbH", "Audit", 1, 1200),
                    service(date(2026, 3, 2), "Beta BV", "Payroll", 1, 300)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0


def payments(folder: Folder, *args: str) -> int:
    return main(["payments", "--workbook", str(folder.workbook), *args])


def sheet(folder: Folder, name: str) -> pd.DataFrame:
    return pd.read_excel(folder.workbook, sheet_name=name, engine="calamine")


def paid(folder: Folder, number: str) -> tuple[Decimal, Decimal]:
    row = sheet(folder, "Invoices").set_index("Invoice No").loc[number]
    return D(str(row["Paid Amount"])), D(str(row["Paid By Bank"]))


def test_one_transfer_in_a_csv_export_and_the_banks_ofx_is_applied_once(
    folder: Folder, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A CSV export without an id column (its Bank Ref a fingerprint), then the OFX of the
    same days with the bank's id: the 600 is paid once, the OFX line waits in Review."""
    billed(folder, CSV_CONFIG.replace('bank_ref = "Referenz"\n', ""))
    half = Tx(date(2026, 3, 5), D("600.00"), "ACME GMBH", purpose="INV-2026-0001 first half",
              ref="")  # fmt: skip
    export = folder.root / "export.csv"
    export.write_bytes(csv_bank([half]))
    download = folder.root / "download.ofx"
    download.write_bytes(ofx_sgml([Tx(half.day, half.amount, "Acme GmbH", ref="2026030500000001",
                                      purpose="INV-2026-0001  First Half")], "EUR"))  # fmt: skip
    assert payments(folder, str(export), "--as-of", "2026-03-06") == 0
    assert payments(folder, str(download), "--as-of", "2026-03-06") == 1  # one waits
    assert paid(folder, "INV-2026-0001") == (D("600"), D("600"))
    lines = sheet(folder, "Payments")
    assert list(lines["Status"]) == ["Applied", "Review"]
    assert lines.loc[1, "Note"] == (
        "the same date, amount, payer and reference as the line of 2026-03-05 imported from "
        f"export.csv (Bank Ref {lines.loc[0, 'Bank Ref']}): the same payment in another "
        "statement file, so nothing is applied. If it is a second payment, type the Invoice "
        "No; if not, type Ignore."
    )
    folder.run("--as-of", "2026-03-09")  # still waiting, still not applied
    assert paid(folder, "INV-2026-0001") == (D("600"), D("600"))
    capsys.readouterr()


def paid_then_returned(folder: Folder) -> str:
    """Beta's 300 paid by bank and thanked for, then a camt file with its reversal only:
    what `payments` printed for that file."""
    billed(folder)
    first = folder.root / "first.csv"
    first.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("300.00"), "Beta BV",
                                   purpose="INV-2026-0002", ref="T1005")]))  # fmt: skip
    assert payments(folder, str(first), "--as-of", "2026-03-06") == 0
    assert folder.run("--as-of", "2026-03-09") == 0  # the thank-you
    assert paid(folder, "INV-2026-0002") == (D("300"), D("300"))
    back = Tx(date(2026, 3, 9), D("-300.00"), "Beta BV", purpose="RETURN INV-2026-0002",
              ref="R2001")  # fmt: skip
    returned = folder.root / "returned.xml"
    returned.write_bytes(camt053([back]).replace(
        b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>", 1))
    return str(returned)


def test_a_file_holding_only_a_reversal_is_not_said_to_have_unreadable_lines(
    folder: Folder, capsys
) -> None:  # type: ignore[no-untyped-def]
    returned = paid_then_returned(folder)
    capsys.readouterr()
    assert payments(folder, returned, "--as-of", "2026-03-10") == 1  # the reversal is listed
    out = capsys.readouterr().out
    assert "reversed a credit of 300.00 EUR" in out
    assert "Bank statements: 1 file(s), 0 new incoming line(s); 0 applied.\n" in out
    assert "could not be read" not in out and "other 1 line(s)" not in out


def test_a_payment_returned_and_paid_again_leaves_paid_by_bank_within_paid_amount(
    folder: Folder,
) -> None:
    """300 paid by bank, returned (Paid Amount lowered to 0, as the bookkeeper is told),
    then paid again: Paid Amount 300 and Paid By Bank 300, not 600."""
    payments(folder, paid_then_returned(folder), "--as-of", "2026-03-10")
    row = folder.row_of("Invoices", "Invoice No", "INV-2026-0002")
    apply_updates(folder.workbook, [CellUpdate("Invoices", row, "Paid Amount", D("0"))],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-03-11") == 0
    assert paid(folder, "INV-2026-0002") == (D("0"), D("0"))  # the bank's part followed
    again = folder.root / "again.csv"
    paid_again = Tx(date(2026, 3, 12), D("300.00"), "Beta BV", purpose="INV-2026-0002 again",
                    ref="T1020")  # fmt: skip
    again.write_bytes(csv_bank([paid_again]))
    assert payments(folder, str(again), "--as-of", "2026-03-13") == 0
    assert paid(folder, "INV-2026-0002") == (D("300"), D("300"))
    assert folder.run("--as-of", "2026-03-16") == 0  # and it stays so
    assert paid(folder, "INV-2026-0002") == (D("300"), D("300"))


# -- a Review line on a day the run issues invoices --------------------------------


def more_work_for_acme(folder: Folder, amount: str = "500") -> None:
    """INV-2026-0001 (Acme, 1200) and -0002 (Beta, 300) issued on 2 March; 500 more work
    for Acme (or `amount`), billed by the next weekly run (INV-2026-0003)."""
    billed(folder)
    apply_updates(folder.workbook, [
        CellUpdate("Services", 4, "Date", date(2026, 3, 5)),
        CellUpdate("Services", 4, "Client", "Acme GmbH"),
        CellUpdate("Services", 4, "Description", "Payroll"),
        CellUpdate("Services", 4, "Amount", D(amount)),
    ], header_rows={"Services": 1})  # fmt: skip


def digest(folder: Folder) -> str:
    return hashlib.sha256(folder.workbook.read_bytes()).hexdigest()


def statement(folder: Folder, name: str, amount: str, ref: str, purpose: str = "Services") -> str:
    path = folder.root / name
    path.write_bytes(csv_bank([Tx(date(2026, 3, 9), D(amount), "Acme GmbH", purpose=purpose,
                                  ref=ref)]))  # fmt: skip
    return str(path)


def test_a_review_line_is_not_applied_by_a_rerun_to_an_invoice_issued_that_day(
    folder: Folder, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Acme's 500 arrives on 9 March before the run that day bills its 500 (INV-2026-0003):
    it waits in Review through that run and through a second run the same day (the
    workbook, the Payments sheet and the mail as the first run left them); the next
    day's run applies it to INV-2026-0003 and thanks Acme."""
    more_work_for_acme(folder)
    assert payments(folder, statement(folder, "mon.csv", "500.00", "T3001"),
                    "--as-of", "2026-03-09") == 1  # fmt: skip
    first = folder.run("--as-of", "2026-03-09")
    assert list(sheet(folder, "Invoices")["Invoice No"])[-1] == "INV-2026-0003"
    state, mail = digest(folder), len(folder.received)
    note = sheet(folder, "Payments").loc[0, "Note"]
    assert note.startswith(
        "from a client, but the amount matches no open balance (INV-2026-0001 €1,200.00)"
    )
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-09", "--dry-run") == first
    assert "0 applied, 1 wait for review" in capsys.readouterr().out  # the preview agrees

    assert folder.run("--as-of", "2026-03-09") == first
    assert digest(folder) == state and len(folder.received) == mail
    lines = sheet(folder, "Payments")
    assert (lines.loc[0, "Status"], lines.loc[0, "Note"]) == ("Review", note)
    unpaid = sheet(folder, "Invoices").set_index("Invoice No").loc["INV-2026-0003"]
    assert unpaid[["Paid Amount", "Paid By Bank"]].isna().all()

    assert folder.run("--as-of", "2026-03-10") == 0
    assert paid(folder, "INV-2026-0003") == (D("500"), D("500"))
    assert list(sheet(folder, "Payments")["Status"]) == ["Applied"]
    assert [str(m.message["Subject"]) for m in folder.received[mail:]] == [
        "Thank you for paying invoice INV-2026-0003"
    ]


def test_review_notes_are_not_rewritten_by_a_second_run_the_same_day(folder: Folder) -> None:
    """A 700 from Acme waits in Review (no balance is 700), imported before the run that
    bills INV-2026-0003, and a 650 imported after it (decided knowing INV-2026-0003): a
    second run that day writes neither Note again, nor any other cell."""
    more_work_for_acme(folder)
    payments(folder, statement(folder, "early.csv", "700.00", "T3002"), "--as-of", "2026-03-09")
    folder.run("--as-of", "2026-03-09")
    notes, state = list(sheet(folder, "Payments")["Note"]), digest(folder)
    folder.run("--as-of", "2026-03-09")
    assert list(sheet(folder, "Payments")["Note"]) == notes
    assert digest(folder) == state

    payments(folder, statement(folder, "late.csv", "650.00", "T3003"), "--as-of", "2026-03-09")
    notes, state = list(sheet(folder, "Payments")["Note"]), digest(folder)
    assert [n.split(":")[0] for n in notes] == [
        "from a client, but the amount matches no open balance (INV-2026-0001 €1,200.00)",
        "from a client, but the amount matches no open balance (INV-2026-0001 €1,200.00, "
        "INV-2026-0003 €500.00)",
    ]
    folder.run("--as-of", "2026-03-09")
    assert list(sheet(folder, "Payments")["Note"]) == notes
    assert digest(folder) == state


def test_an_invoice_issued_that_day_typed_on_a_review_line_is_applied_the_next_day(
    folder: Folder,
) -> None:
    """The bookkeeper types INV-2026-0003, billed by the run that day, on the waiting 500:
    a second run that day says when it is applied, and the next day's run applies it."""
    more_work_for_acme(folder)
    payments(folder, statement(folder, "mon.csv", "500.00", "T3001"), "--as-of", "2026-03-09")
    folder.run("--as-of", "2026-03-09")
    folder.type_in("Payments", 2, Invoice_No="INV-2026-0003")
    folder.run("--as-of", "2026-03-09")
    line = sheet(folder, "Payments").loc[0]
    assert (line["Status"], line["Invoice No"]) == ("Review", "INV-2026-0003")
    assert line["Note"] == (
        "'INV-2026-0003' is not an open invoice the tool issued; check the number. (An "
        "invoice issued on the day of the run is matched from the next day's run on.)"
    )
    state = digest(folder)
    folder.run("--as-of", "2026-03-09")
    assert digest(folder) == state
    folder.run("--as-of", "2026-03-10")
    line = sheet(folder, "Payments").loc[0]
    assert (line["Status"], line["Rule"]) == ("Applied", "Bookkeeper")
    assert paid(folder, "INV-2026-0003") == (D("500"), D("500"))


def test_a_payment_imported_after_the_run_goes_to_the_invoice_it_issued_that_day(
    folder: Folder,
) -> None:
    """INV-2026-0003 (1200, as INV-2026-0001 still open) issued on 9 March and paid that
    day, naming it: `payments` after the run applies it to INV-2026-0003, not by its amount
    to the older invoice, and a second run that day leaves it so."""
    more_work_for_acme(folder, "1200")
    folder.run("--as-of", "2026-03-09")
    assert payments(folder, statement(folder, "late.csv", "1200.00", "T3004", "INV-2026-0003"),
                    "--as-of", "2026-03-09") == 0  # fmt: skip
    line = sheet(folder, "Payments").loc[0]
    assert (line["Status"], line["Rule"], line["Invoice No"]) == (
        "Applied", "Reference", "INV-2026-0003")  # fmt: skip
    state = digest(folder)
    folder.run("--as-of", "2026-03-09")
    assert paid(folder, "INV-2026-0003") == (D("1200"), D("1200"))
    unpaid = sheet(folder, "Invoices").set_index("Invoice No").loc["INV-2026-0001"]
    assert pd.isna(unpaid["Paid Amount"])
    assert digest(folder) == state
