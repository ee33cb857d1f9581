"""The `payments` command and `[bank]` settings: a CSV bank, renamed columns, bad input."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import CSV_CONFIG, Tx, csv_bank, onec_kazakh

from automation.cli import main
from automation.config import ConfigError, parse_config
from automation.ledger import Ledger
from automation.model import CellUpdate
from automation.writeback import apply_updates

D = Decimal


def billed_folder(folder: Folder, extra: str = "") -> None:
    folder.write_config(extra='currency = "EUR"\n' + CSV_CONFIG + extra)
    write_workbook(folder.workbook, [client("Acme GmbH", Currency="EUR"),
                                     client("Beta BV", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme GmbH", "Audit", 1, 1200),
                    service(date(2026, 3, 2), "Beta BV", "Payroll", 1, 300)])  # fmt: skip
    apply_updates(folder.workbook, [CellUpdate("Clients", 3, "Payer ID", "NL91ABNA0417164300")],
                  header_rows={"Clients": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0


def payments(folder: Folder, *args: str) -> int:
    return main(["payments", "--workbook", str(folder.workbook), *args])


def test_a_csv_bank_with_renamed_payments_columns(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    billed_folder(folder, '\n[columns.Payments]\nStatus = "State"\n"Invoice No" = "Invoice"\n')
    path = folder.root / "umsaetze.csv"
    path.write_bytes(csv_bank([
        Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH", account="DE89370400440532013000",
           purpose="Rechnung INV-2026-0001", ref="T1"),
        Tx(date(2026, 3, 6), D("300.00"), "B.V. Beta", account="NL91 ABNA 0417 1643 00",
           purpose="Maart", ref="T2"),
        Tx(date(2026, 3, 6), D("-19.99"), "Telekom", purpose="Rechnung 4711", ref="T3"),
    ]))  # fmt: skip
    assert payments(folder, str(path), "--as-of", "2026-03-09") == 0
    out = capsys.readouterr().out
    assert "1 file(s), 2 new incoming line(s); 2 applied." in out and "1,200.00" in out
    sheet = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    assert list(sheet.columns) == ["Date", "Amount", "Currency", "Payer", "Payer ID",
                                   "Reference", "Bank Ref", "File", "Invoice", "Rule", "State",
                                   "Note"]  # fmt: skip
    assert list(sheet["State"]) == ["Applied", "Applied"]
    assert list(sheet["Rule"]) == ["Reference", "Amount"]  # Beta by its IBAN, spaces and all
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert list(invoices["Status"]) == ["Paid", "Paid"]
    assert folder.run("--as-of", "2026-03-09") == 0  # the weekly run thanks them
    assert sum("Thank" in str(r.message["Subject"]) for r in folder.received) == 2


def test_payments_exits_0_when_every_line_is_applied_whatever_else_is_wrong(  # type: ignore[no-untyped-def]
    folder: Folder, capsys
) -> None:
    """Exit 1 is for lines waiting for review: a Resend typed "maybe" on another invoice
    is listed (the weekly run's exit code counts it), and the import still exits 0."""
    billed_folder(folder)
    apply_updates(folder.workbook, [CellUpdate("Invoices", 3, "Resend", "maybe")],
                  header_rows={"Invoices": 1})  # fmt: skip
    path = folder.root / "march.csv"
    path.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH",
                                  purpose="Rechnung INV-2026-0001", ref="T1")]))  # fmt: skip
    assert payments(folder, str(path), "--as-of", "2026-03-09") == 0
    out = capsys.readouterr().out
    assert "1 applied" in out and "Invoices row 3, Resend" in out
    assert folder.run("--as-of", "2026-03-09") == 1  # the weekly run: the row needs fixing
    broken = folder.root / "april.csv"
    broken.write_bytes(b"\x00\x01 not a statement")
    assert payments(folder, str(broken), "--as-of", "2026-03-09") == 1  # the import's own


def test_a_csv_bank_that_numbers_each_exports_lines_from_one(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    # March's export and April's both have a line "1": different payments, both applied
    billed_folder(folder)
    march, april = folder.root / "march.csv", folder.root / "april.csv"
    march.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH",
                                   purpose="Rechnung INV-2026-0001", ref="1")]))  # fmt: skip
    april.write_bytes(csv_bank([Tx(date(2026, 4, 2), D("300.00"), "Beta BV",
                                   purpose="INV-2026-0002", ref="1"),
                                Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH",
                                   purpose="Rechnung INV-2026-0001", ref="2")]))  # fmt: skip
    assert payments(folder, str(march), "--as-of", "2026-03-09") == 0
    capsys.readouterr()
    assert payments(folder, str(april), "--as-of", "2026-04-06") == 0
    assert "1 file(s), 1 new incoming line(s); 1 applied." in capsys.readouterr().out
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert list(invoices["Status"]) == ["Paid", "Paid"]
    assert [float(x) for x in invoices["Paid Amount"]] == [1200.0, 300.0]


def test_part_payments_typed_at_two_runs_are_each_recognised_in_their_bank_lines(
    folder: Folder, capsys
) -> None:  # type: ignore[no-untyped-def]
    """500 typed on 4 March (a run saw it), 800 in all on 12 March (a run saw that too): the
    bank's 500 and 300 are those two payments, not 800 more."""
    billed_folder(folder)

    def typed(amount: str, day: date) -> None:
        apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Paid Amount", D(amount)),
                                        CellUpdate("Invoices", 2, "Paid Date", day)],
                      header_rows={"Invoices": 1})  # fmt: skip

    typed("500", date(2026, 3, 4))
    assert folder.run("--as-of", "2026-03-09") == 0
    typed("800", date(2026, 3, 12))
    assert folder.run("--as-of", "2026-03-16") == 0
    path = folder.root / "march.csv"
    path.write_bytes(csv_bank([
        Tx(date(2026, 3, 4), D("500.00"), "ACME GMBH", purpose="INV-2026-0001", ref="T500"),
        Tx(date(2026, 3, 12), D("300.00"), "ACME GMBH", purpose="INV-2026-0001", ref="T300"),
    ]))  # fmt: skip
    capsys.readouterr()
    assert payments(folder, str(path), "--as-of", "2026-03-23") == 0
    sheet = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    assert list(sheet["Rule"]) == ["Typed by hand", "Typed by hand"]
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    row = invoices.set_index("Invoice No").loc["INV-2026-0001"]
    assert (D(str(row["Paid Amount"])), D(str(row["Balance"]))) == (D("800"), D("400"))
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-03-23") == 0
    assert len(folder.received) == sent  # no note of money that did not come


def test_a_new_payment_of_a_typed_parts_amount_is_added_once_that_part_was_banked(
    folder: Folder,
) -> None:
    """500 in cash (never in the bank), then 300 by transfer, recognised as typed; a new
    300 two days later is a payment of its own: added (1,100), not taken for the 300."""
    billed_folder(folder)

    def typed(amount: str, day: date) -> None:
        apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Paid Amount", D(amount)),
                                        CellUpdate("Invoices", 2, "Paid Date", day)],
                      header_rows={"Invoices": 1})  # fmt: skip

    def bank(name: str, day: date, ref: str) -> str:
        path = folder.root / name
        path.write_bytes(csv_bank([Tx(day, D("300.00"), "ACME GMBH", purpose="INV-2026-0001",
                                      ref=ref)]))  # fmt: skip
        return str(path)

    typed("500", date(2026, 3, 4))
    assert folder.run("--as-of", "2026-03-09") == 0
    typed("800", date(2026, 3, 12))
    assert payments(folder, bank("m1.csv", date(2026, 3, 12), "T300"), "--as-of", "2026-03-13") == 0
    assert folder.run("--as-of", "2026-03-16") == 0
    assert payments(folder, bank("m2.csv", date(2026, 3, 14), "T301"), "--as-of", "2026-03-17") == 0
    sheet = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    assert list(sheet["Rule"]) == ["Typed by hand", "Reference"]
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert float(invoices.loc[0, "Paid Amount"]) == 1100.0


def test_a_named_file_waiting_in_the_inbox_is_read_once(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    billed_folder(folder)
    inbox = folder.root / "statements"
    inbox.mkdir()
    path = inbox / "umsaetze.csv"
    path.write_bytes(csv_bank([
        Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH", purpose="Rechnung INV-2026-0001",
           ref="T1"),
    ]))  # fmt: skip
    assert payments(folder, str(path), "--as-of", "2026-03-09", "--dry-run") == 0
    assert "1 file(s), 1 new incoming line(s)" in capsys.readouterr().out


def test_missing_and_unreadable_statement_files(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    billed_folder(folder)
    assert payments(folder, str(folder.root / "nope.txt")) == 2
    assert "no such statement file" in capsys.readouterr().out
    junk = folder.root / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a statement")
    before = folder.workbook.read_bytes()
    assert payments(folder, str(junk), "--as-of", "2026-03-09") == 1
    assert "photo.jpg: it is not a statement format the tool reads" in capsys.readouterr().out
    assert folder.workbook.read_bytes() == before


def test_a_dry_run_before_the_first_run_reads_the_statement_named(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    """No ledger yet (`payments --dry-run` tried first): the file is read and told about as
    the import would, not passed over as "No new incoming payments" with exit 0."""
    folder.write_config(extra='currency = "EUR"\n' + CSV_CONFIG)
    write_workbook(folder.workbook, [client("Acme GmbH", Currency="EUR")], [])
    junk = folder.root / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a statement")
    good = folder.root / "umsaetze.csv"
    good.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH", ref="T1")]))
    assert payments(folder, str(junk), str(good), "--as-of", "2026-03-09", "--dry-run") == 1
    out = capsys.readouterr().out
    assert "photo.jpg: it is not a statement format the tool reads" in out
    assert "2 file(s), 1 new incoming line(s)" in out
    assert not (folder.root / ".billing" / "ledger.sqlite").exists()


def test_a_broken_inbox_file_stays_and_is_listed(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    billed_folder(folder)
    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "bad.csv").write_bytes(
        csv_bank(
            [Tx(date(2026, 3, 5), D("1200.00"), "X", purpose="INV-2026-0001", ref="T1")]
        ).replace(b"05.03.2026", b"2026-03-05")
    )
    assert folder.run("--as-of", "2026-03-09") == 1
    assert "bad.csv, line 2: Buchungstag" in capsys.readouterr().out
    assert (inbox / "bad.csv").exists() and not (inbox / "imported").exists()


def test_an_inbox_file_with_an_unreadable_line_is_imported_and_moved_once(  # type: ignore[no-untyped-def]
    folder: Folder, capsys
) -> None:
    """The readable line is applied, the file leaves the inbox, the bad line is listed once."""
    billed_folder(folder)
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = csv_bank([Tx(date(2026, 3, 6), D("300.00"), "Beta BV", purpose="INV-2026-0002",
                        ref="T1")])  # fmt: skip
    (inbox / "with-total.csv").write_bytes(paid + "Schlusssaldo;1500,00;;;;;\r\n".encode("cp1252"))
    assert folder.run("--as-of", "2026-03-09") == 1
    out = capsys.readouterr().out
    assert "with-total.csv, line 3: Buchungstag" in out
    assert "with-total.csv: 1 line(s) could not be read" in out
    assert not (inbox / "with-total.csv").exists()
    assert [p.name for p in (inbox / "imported").iterdir()] == ["with-total.csv"]
    assert folder.run("--as-of", "2026-03-09") == 0  # said once: the file is imported
    out = capsys.readouterr().out
    assert "with-total.csv" not in out and "Bank statements" not in out
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    beta = invoices.set_index("Invoice No").loc["INV-2026-0002"]
    assert (beta["Paid Amount"], beta["Paid By Bank"], beta["Status"]) == (300, 300, "Paid")


def test_an_inbox_file_stays_while_the_payments_sheet_is_not_the_tools(  # type: ignore[no-untyped-def]
    folder: Folder, capsys
) -> None:
    """Nothing can be recorded then: the statement must not be filed away unimported."""
    billed_folder(folder)
    book = openpyxl.load_workbook(folder.workbook)
    book.create_sheet("Payments").append(["Date", "Who", "My own notes"])
    book.save(folder.workbook)
    inbox = folder.root / "statements"
    inbox.mkdir()
    paid = [Tx(date(2026, 3, 6), D("300.00"), "Beta BV", purpose="INV-2026-0002", ref="T1")]
    (inbox / "march.csv").write_bytes(csv_bank(paid))
    assert folder.run("--as-of", "2026-03-09") == 1
    assert "not the tool's" in capsys.readouterr().out
    assert (inbox / "march.csv").exists()


def test_check_lists_a_payer_id_on_two_clients(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    billed_folder(folder)
    apply_updates(folder.workbook, [CellUpdate("Clients", 2, "Payer ID", "NL91ABNA0417164300")],
                  header_rows={"Clients": 1})  # fmt: skip
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 1
    assert "is also the Payer ID of" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("section", "message"),
    [({"fee_tolerance": -1}, "cannot be negative"),
     ({"fee_tolerance": "a lot"}, "must be an amount"),
     ({"csv": {"date": "D", "reference": "R"}}, "must name the amount column"),
     ({"csv": {"date": "D", "amount": "A", "reference": "R", "decimal": ";"}}, "decimal"),
     ({"inbox": ""}, "inbox"),
     ({"folder": "x"}, "unknown option 'folder'")],
)  # fmt: skip
def test_bank_settings_are_checked(section: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        parse_config({"bank": section})


def test_a_ledger_from_before_bank_import_gains_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE bank_lines; DROP TABLE bank_allocations;")
    conn.close()
    with Ledger.open(path) as ledger:
        tables = {n for (n,) in ledger.conn.execute("SELECT name FROM sqlite_master")}
    assert {"bank_lines", "bank_allocations"} <= tables


def test_bank_text_is_shown_literally(folder: Folder, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "250")
    billed_folder(folder)
    path = folder.root / "b.csv"
    path.write_bytes(
        csv_bank(
            [
                Tx(
                    date(2026, 3, 5),
                    D("5.00"),
                    "[bold red]Evil[/]",
                    purpose="[link=https://evil.example]pay[/link]",
                    ref="X1",
                )
            ]
        )
    )
    assert payments(folder, str(path), "--as-of", "2026-03-09") == 1  # a stranger: review
    out = capsys.readouterr().out
    assert "[bold red]Evil[/]" in out


def test_a_dollar_sign_in_a_csv_is_the_billing_currencys_dollar(tmp_path: Path) -> None:
    """No [bank] currency and no currency column: "$" on a Canadian firm's statement is
    CAD (the currency clients are billed in), and its cents are checked as CAD's."""
    from automation.bank.apply import _read_files

    config = parse_config({
        "billing": {"currency": "CAD"},
        "bank": {"csv": {"date": "Date", "amount": "Amount", "reference": "Memo"}},
    })  # fmt: skip
    path = tmp_path / "chequing.csv"
    path.write_text("Date,Amount,Memo\n2026-03-05,$500.00,INV-2026-0001\n2026-03-06,1.005,x\n")
    lines, outcome = _read_files([path], config)
    assert [(ln.amount, ln.currency) for ln in lines] == [(D("500.00"), "CAD")]
    assert ["3 decimals; CAD amounts have at most 2" in str(e) for e in outcome.errors] == [True]


def test_bank_currency_set_wins_over_the_iban_guess_of_a_1c_file(tmp_path: Path) -> None:
    """A 1C file says no currency; its KZ IBAN only suggests KZT (a Kazakh bank gives its
    dollar accounts KZ IBANs too): a [bank] currency the bookkeeper set wins, and with
    none set (even with [billing] currency USD) the IBAN's KZT stays."""
    from automation.bank.apply import _read_files

    path = tmp_path / "kl_to_1c.txt"
    path.write_bytes(onec_kazakh([Tx(date(2026, 3, 12), D("350.00"), "Acme LLP", "180940012345",
                                     "", "Payment INV-2026-0001")]))  # fmt: skip
    set_usd = parse_config({"billing": {"currency": "USD"}, "bank": {"currency": "USD"}})
    lines, _ = _read_files([path], set_usd)
    assert [(ln.amount, ln.currency) for ln in lines] == [(D("350.00"), "USD")]
    unset = parse_config({"billing": {"currency": "USD"}})
    lines, _ = _read_files([path], unset)
    assert [ln.currency for ln in lines] == ["KZT"]


def test_payments_without_a_file_applies_the_typed_review_lines_and_the_inbox(
    folder: Folder, capsys
) -> None:  # type: ignore[no-untyped-def]
    """README: type the Invoice No on a Review line; "the next run (or `payments`)
    applies it": `payments` needs no FILE for that, and reads the inbox as the run does."""
    billed_folder(folder)
    path = folder.root / "misc.csv"
    path.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("1500.00"), "STRANGER", purpose="misc",
                                  ref="T1")]))  # fmt: skip
    assert payments(folder, str(path), "--as-of", "2026-03-09") == 1  # waits in Review
    apply_updates(folder.workbook,
                  [CellUpdate("Payments", 2, "Invoice No", "INV-2026-0001 1200; INV-2026-0002")],
                  header_rows={"Payments": 1})  # fmt: skip
    inbox = folder.root / "statements"
    inbox.mkdir()
    (inbox / "later.csv").write_bytes(csv_bank([
        Tx(date(2026, 3, 10), D("1.00"), "ACME GMBH", purpose="INV-2026-0001", ref="T2")]))
    capsys.readouterr()
    assert payments(folder, "--as-of", "2026-03-11") == 0
    assert "1 file(s), 1 new incoming line(s)" in capsys.readouterr().out
    sheet = pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")
    assert len(sheet) == 2 and sheet.loc[0, "Status"] == "Applied"
    assert not (inbox / "later.csv").exists()


def test_payments_dry_run_shows_no_corrections_the_import_would_not_make(  # type: ignore[no-untyped-def]
    folder: Folder, capsys
) -> None:
    """Void and Rebill typed: `payments` leaves them to the weekly run, and so does what its
    dry run shows (it showed a new invoice and two credit notes, and rendered the draft)."""
    billed_folder(folder)
    folder.type_in("Invoices", 2, Status="Void")
    folder.type_in("Invoices", 3, Status="Rebill")
    path = folder.root / "umsaetze.csv"
    path.write_bytes(csv_bank([
        Tx(date(2026, 3, 5), D("1200.00"), "ACME GMBH", purpose="Rechnung INV-2026-0001",
           ref="T1"),
    ]))  # fmt: skip
    assert payments(folder, str(path), "--as-of", "2026-03-09", "--dry-run") in (0, 1)
    shown = capsys.readouterr().out
    assert "Preview documents" not in shown and "INV-2026-0003" not in shown, shown
    assert not list((folder.root / "preview").rglob("*.docx"))
    assert payments(folder, str(path), "--as-of", "2026-03-09") in (0, 1)
    assert not list((folder.root / "invoices").rglob("CN-*.docx"))
    assert not list((folder.root / "invoices").rglob("INV-2026-0003*"))
