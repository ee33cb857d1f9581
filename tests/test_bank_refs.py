"""Bank Refs: which of a bank's references identify a payment, and when a known one does not.

A reference that is a per-statement counter (`NONREF//000000000001`, FITID
`00000001`) is replaced by a fingerprint of the line, zero padding or not; and
a Bank Ref already imported for another amount or currency is another
payment, imported under a reference of its own, never dropped as "already
imported".
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
from conftest import Folder, client, service, write_workbook
from statements import CSV_CONFIG, Tx, csv_bank, ofx_sgml

from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx
from automation.bank.record import BankLine, new_lines
from automation.cli import main

D = Decimal


def german_week(number: int, day: str, amount: str, purpose: str, payer: str) -> bytes:
    """A Sparkasse-style MT940 statement of one credit whose `:61:` bank reference is the
    statement's own zero-padded counter."""
    return (
        f":20:STARTUMSE\r\n:25:37040044/0532013000\r\n:28C:{number:05d}/001\r\n"
        f":60F:C{day}EUR1000,00\r\n"
        f":61:{day}{day[2:]}CR{amount}NTRFNONREF//000000000001\r\n"
        f":86:166?00GUTSCHR. UEBERWEISUNG?109310?20SVWZ+{purpose}?32{payer}\r\n"
        f":62F:C{day}EUR2000,00\r\n-\r\n"
    ).encode("latin-1")


def test_zero_padded_counters_are_not_bank_ids() -> None:
    (first,), _ = read_mt940(german_week(1, "260304", "300,00", "INV-2026-0001", "ACME"), "1.sta")
    (second,), _ = read_mt940(german_week(2, "260311", "1200,00", "INV-2026-0002", "BETA"),
                              "2.sta")  # fmt: skip
    assert first.bank_ref != second.bank_ref
    assert first.bank_ref.startswith("MT940-") and second.bank_ref.startswith("MT940-")
    jan = [Tx(date(2026, 3, 5), D("300.00"), "ACME CORP", purpose="INV-2026-0001", ref="00000001")]
    feb = [Tx(date(2026, 3, 12), D("1200.00"), "BETA", purpose="INV-2026-0002", ref="00000001")]
    (one,), _ = read_ofx(ofx_sgml(jan), "a.ofx")
    (two,), _ = read_ofx(ofx_sgml(feb), "b.ofx")
    assert one.bank_ref != two.bank_ref and one.bank_ref.startswith("OFX-")


def two_clients(folder: Folder, extra: str = "") -> None:
    folder.write_config(extra='currency = "EUR"\n' + extra)
    write_workbook(folder.workbook, [client("Acme GmbH", Currency="EUR"),
                                     client("Beta BV", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme GmbH", "Audit", 1, 300),
                    service(date(2026, 3, 2), "Beta BV", "Payroll", 1, 1200)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0


def payments(folder: Folder, *args: str) -> int:
    return main(["payments", "--workbook", str(folder.workbook), *args])


def invoices(folder: Folder) -> pd.DataFrame:
    frame = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    return frame.set_index("Invoice No")


def test_next_weeks_statement_with_the_same_counter_is_imported(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    two_clients(folder)
    week1, week2 = folder.root / "week1.sta", folder.root / "week2.sta"
    week1.write_bytes(german_week(1, "260304", "300,00", "INV-2026-0001", "ACME GMBH"))
    week2.write_bytes(german_week(2, "260311", "1200,00", "INV-2026-0002", "BETA BV"))
    assert payments(folder, str(week1), "--as-of", "2026-03-05") == 0
    capsys.readouterr()
    assert payments(folder, str(week2), "--as-of", "2026-03-12") == 0
    assert "1 file(s), 1 new incoming line(s); 1 applied." in capsys.readouterr().out
    assert list(invoices(folder)["Status"]) == ["Paid", "Paid"]
    assert payments(folder, str(week2), "--as-of", "2026-03-12") == 0  # again: nothing new
    assert "0 new incoming line(s)" in capsys.readouterr().out


def line(ref: str, amount: str, currency: str = "EUR", day: int = 9) -> BankLine:
    return BankLine(date(2026, 3, day), D(amount), currency, "in", "Acme", (), "x", ref)


def test_a_known_bank_ref_for_another_amount_or_currency_is_another_line() -> None:
    known = {"T1": (D("300.00"), "EUR", date(2026, 3, 9))}
    same, other, dollars = line("T1", "300.00"), line("T1", "1200.00"), line("T1", "300.00", "USD")
    assert new_lines([same], known) == []
    assert new_lines([line("T1", "300.00", day=11)], known) == []  # value date, not booking
    (fresh,) = new_lines([other], known)
    assert fresh.bank_ref.startswith("T1~") and fresh.amount == D("1200.00")
    assert (
        new_lines([other], {**known, fresh.bank_ref: (D("1200.00"), "EUR", date(2026, 3, 9))}) == []
    )
    assert new_lines([dollars], known)[0].bank_ref.startswith("T1~")
    # The same amount under the same id a month on: a retainer paid again, not a repeat.
    (later,) = new_lines([line("T1", "300.00", day=31)], known)
    assert later.bank_ref.startswith("T1~") and later.date == date(2026, 3, 31)
    # two files of one import: the first keeps the bank's ref, the second gets its own
    first, second = new_lines([same, other, same], {})
    assert first.bank_ref == "T1" and second.bank_ref == fresh.bank_ref


def payments_sheet(folder: Folder) -> pd.DataFrame:
    return pd.read_excel(folder.workbook, sheet_name="Payments", engine="calamine")


def test_a_reused_bank_ref_is_imported_and_said(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    two_clients(folder, CSV_CONFIG)
    march, april = folder.root / "march.csv", folder.root / "april.csv"
    march.write_bytes(csv_bank([Tx(date(2026, 3, 5), D("300.00"), "ACME GMBH",
                                   purpose="INV-2026-0001", ref="TX-REF-1")]))  # fmt: skip
    april.write_bytes(csv_bank([Tx(date(2026, 3, 12), D("1200.00"), "BETA BV",
                                   purpose="INV-2026-0002", ref="TX-REF-1")]))  # fmt: skip
    assert payments(folder, str(march), "--as-of", "2026-03-09") == 0
    capsys.readouterr()
    assert payments(folder, str(april), "--as-of", "2026-03-13") == 0
    assert "1 file(s), 1 new incoming line(s); 1 applied." in capsys.readouterr().out
    assert list(invoices(folder)["Status"]) == ["Paid", "Paid"]
    sheet = payments_sheet(folder)
    assert sheet["Bank Ref"][0] == "TX-REF-1" and sheet["Bank Ref"][1].startswith("TX-REF-1~")
    assert sheet["Note"][1].startswith(
        "the bank's reference TX-REF-1 was already imported for another line of €300.00 on "
        "2026-03-05;"
    )
    assert payments(folder, str(april), "--as-of", "2026-03-13") == 0  # again: nothing new
    assert "0 new incoming line(s)" in capsys.readouterr().out
    assert len(payments_sheet(folder)) == 2


def test_a_long_statement_lists_review_lines_first_and_points_to_the_sheet(  # type: ignore[no-untyped-def]
    folder: Folder, capsys, monkeypatch
) -> None:
    """A table of 5,000 lines took longer to print than the import took: the terminal lists
    the first BANK_TABLE_ROWS, the lines waiting for review first, and says where the rest
    are."""
    from automation import cli

    two_clients(folder, CSV_CONFIG)
    monkeypatch.setattr(cli, "BANK_TABLE_ROWS", 1)
    statement = folder.root / "march.csv"
    statement.write_bytes(csv_bank([
        Tx(date(2026, 3, 5), D("300.00"), "ACME GMBH", purpose="INV-2026-0001", ref="TX-A1"),
        Tx(date(2026, 3, 6), D("77.00"), "SOMEONE", purpose="gift", ref="TX-A2"),
    ]))  # fmt: skip
    capsys.readouterr()
    assert payments(folder, str(statement), "--as-of", "2026-03-09") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Review" in out and "SOMEONE" in out and "ACME GMBH" not in out
    assert "... and 1 more lines (1 Applied): every line is in the Payments sheet." in out
    assert len(payments_sheet(folder)) == 2
