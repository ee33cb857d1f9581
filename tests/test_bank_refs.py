"""Bank Refs: which of a bank's references identify a payment, and when a known one does not.

A reference that is a per-statement counter (`NONREF//000000000001`, FITID
`00000001`) is replaced by a fingerprint of the line, zero padding or not; and
a Bank Ref already imported for another amount or currency is another
payment, imported under a reference of its own, never dropped as "already
imported". A fingerprint is of what the line says, not of how the bank spelt
it (`150000.00` or `150000`), and a line recorded under the fingerprint
earlier versions gave it is still recognised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook
from statements import (
    CSV_CONFIG,
    Tx,
    camt053,
    csv_bank,
    mt940_sparkasse,
    ofx_sgml,
    onec_kazakh,
    onec_russian,
)

from automation.bank import mt940 as mt940_module
from automation.bank import onec as onec_module
from automation.bank import record as record_module
from automation.bank.camt import read_camt
from automation.bank.csvfile import read_csv
from automation.bank.mt940 import read_mt940
from automation.bank.ofx import read_ofx
from automation.bank.onec import read_onec
from automation.bank.record import BankLine, CsvLayout, new_lines, without_glued_twins
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


KASPI_DOC = Tx(date(2026, 3, 5), D("150000"), "Acme LLP", "123456789012",
               purpose="Оплата за бухгалтерские услуги", number="101")  # fmt: skip
EU_LINE = Tx(date(2026, 3, 5), D("1210"), "Acme B.V.", account="NL91ABNA0417164300",
             purpose="Audit March")  # fmt: skip
LAYOUT = CsvLayout(date="Buchungstag", amount="Betrag", currency="Währung", payer="Auftraggeber",
                   payer_id="IBAN", reference="Verwendungszweck", bank_ref="Referenz",
                   date_format="%d.%m.%Y", decimal=",", delimiter=";",
                   encoding="cp1252")  # fmt: skip
Reader = Callable[[bytes], tuple[list[BankLine], list[object]]]
#: One line without a bank id in each format: its file, the amount as written with cents
#: and written whole, how it is read, and the Bank Refs versions before this one gave the
#: two spellings (pinned: a workbook holds them; re-importing must still change nothing).
SPELT: dict[str, tuple[bytes, str, str, Reader, tuple[str, str]]] = {
    "1c-kazakh": (onec_kazakh([KASPI_DOC]), "СуммаПриход=150000.00", "СуммаПриход=150000",
                  lambda d: read_onec(d, "kaspi.txt"),
                  ("1C-57343fdf287dc4f3", "1C-a11a0a06ca2044b1")),
    "1c-russian": (onec_russian([Tx(date(2026, 3, 5), D("25000"), 'ООО "Ромашка"', "7701234567",
                                    "40702810500000012345", "Оплата за услуги", number="77")]),
                   "Сумма=25000.00", "Сумма=25000", lambda d: read_onec(d, "sber.txt"),
                   ("1C-02d3fc619fc5ab7f", "1C-9189566fdc8e086c")),
    "csv": (csv_bank([EU_LINE]), ";1210,00;", ";1210;",
            lambda d: read_csv(d, "bank.csv", LAYOUT, "EUR"),
            ("CSV-91cbb84e0fa4899b", "CSV-14fcb40a7a1568c8")),
    "ofx": (ofx_sgml([Tx(EU_LINE.day, EU_LINE.amount, EU_LINE.payer, purpose=EU_LINE.purpose,
                         ref="00000001")]),
            "<TRNAMT>1210.00", "<TRNAMT>1210", lambda d: read_ofx(d, "bank.ofx"),
            ("OFX-dcfb455a7f801ced", "OFX-1477fbf00a7b3f45")),
    "camt": (camt053([EU_LINE]), ">1210.00<", ">1210<", lambda d: read_camt(d, "bank.xml"),
             ("CAMT-034a3616ec329741", "CAMT-f632640fde04a7da")),
    "mt940": (mt940_sparkasse([EU_LINE]), "CR1210,00NTRF", "CR1210,NTRF",
              lambda d: read_mt940(d, "bank.sta"),
              ("MT940-e3045b935130163b", "MT940-4f8994f194aa37ae")),
}  # fmt: skip


def spelt(kind: str) -> tuple[BankLine, BankLine]:
    """The line of SPELT[kind] read with its amount written with cents, then whole."""
    data, cents, whole, read, _ = SPELT[kind]
    encoding = "utf-8" if kind == "camt" else "cp1251" if kind.startswith("1c") else "cp1252"
    assert cents.encode(encoding) in data
    (with_cents,), errors = read(data)
    (written_whole,), more = read(data.replace(cents.encode(encoding), whole.encode(encoding)))
    assert errors == more == []
    return with_cents, written_whole


@pytest.mark.parametrize("kind", SPELT)
def test_an_amount_written_another_way_is_the_same_line(kind: str) -> None:
    """One payment in two overlapping exports, `150000.00` in one and `150000` in the other,
    has one Bank Ref; a line recorded under either ref earlier versions gave is known."""
    with_cents, written_whole = spelt(kind)
    assert with_cents.bank_ref == written_whole.bank_ref
    assert new_lines([written_whole], {}) == [written_whole]
    for old in SPELT[kind][4]:
        for line in (with_cents, written_whole):
            assert new_lines([line], {old: (line.amount, line.currency, line.date)}) == []


def acme_twice(folder: Folder) -> None:
    """Acme LLP owes two invoices of KZT 150,000: INV-2026-0001 and INV-2026-0002."""
    folder.write_config(extra='currency = "KZT"')
    write_workbook(folder.workbook, [client("Acme LLP", Currency="KZT")],
                   [service(date(2026, 3, 2), "Acme LLP", "February", 1, 150000),
                    service(date(2026, 3, 3), "Acme LLP", "March", 1, 150000)])  # fmt: skip
    for day in ("2026-03-02", "2026-03-03"):
        assert folder.run("--as-of", day) == 0


def overlapping_exports(folder: Folder) -> tuple[str, str]:
    """Two Kaspi exports of 1-10 and 5-15 March listing the same document, its amount
    written `150000.00` in the first and `150000` in the second."""
    first, second = folder.root / "kl_to_1c_1-10.txt", folder.root / "kl_to_1c_5-15.txt"
    first.write_bytes(onec_kazakh([KASPI_DOC], start=date(2026, 3, 1), end=date(2026, 3, 10)))
    text = onec_kazakh([KASPI_DOC], start=date(2026, 3, 5), end=date(2026, 3, 15)).decode("cp1251")
    second.write_bytes(text.replace("СуммаПриход=150000.00", "СуммаПриход=150000").encode("cp1251"))
    return str(first), str(second)


def test_an_overlapping_1c_export_does_not_pay_another_invoice(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    acme_twice(folder)
    first, second = overlapping_exports(folder)
    assert payments(folder, first, "--as-of", "2026-03-10") == 0
    capsys.readouterr()
    assert payments(folder, second, "--as-of", "2026-03-16") == 0
    assert "1 file(s), 0 new incoming line(s)" in capsys.readouterr().out
    assert list(invoices(folder)["Status"]) == ["Paid", "Sent"]
    assert len(payments_sheet(folder)) == 1


def test_lines_recorded_by_an_earlier_version_are_not_imported_again(  # type: ignore[no-untyped-def]
    folder: Folder, capsys, monkeypatch
) -> None:
    """A ledger holds the line under the ref an earlier version gave the export that wrote
    `150000`: importing that file again, or the other export, changes nothing."""
    acme_twice(folder)
    first, second = overlapping_exports(folder)

    def as_before(prefix: str, parts: list[object], written: list[object] | None = None):  # type: ignore[no-untyped-def]
        texts = [p.isoformat() if isinstance(p, date) else str(p) for p in written or parts]
        return f"{prefix}-{record_module._digest(texts)}", ()

    with monkeypatch.context() as patch:
        patch.setattr(onec_module, "content_refs", as_before)
        assert payments(folder, second, "--as-of", "2026-03-16") == 0
    assert list(payments_sheet(folder)["Bank Ref"]) == [SPELT["1c-kazakh"][4][1]]
    capsys.readouterr()
    for again in (second, first):
        assert payments(folder, again, "--as-of", "2026-03-16") == 0
        assert "1 file(s), 0 new incoming line(s)" in capsys.readouterr().out
    assert list(invoices(folder)["Status"]) == ["Paid", "Sent"]
    assert len(payments_sheet(folder)) == 1


def mt940_free_text(txs: list[Tx]) -> bytes:
    """An MT940 statement whose `:86:` is the payment's text alone, without bank ids."""
    out = [":20:STMT", ":25:DE89370400440532013000", ":28C:1/1", ":60F:C260302EUR0,00"]
    for tx in txs:
        out += [f":61:{tx.day:%y%m%d}{tx.day:%m%d}C{tx.amount:.2f}NTRFNONREF".replace(".", ","),
                f":86:{tx.purpose}"]  # fmt: skip
    out += [":62F:C260306EUR0,00", "-"]
    return ("\r\n".join(out) + "\r\n").encode()


def with_statement_info(statement: bytes, info: str) -> bytes:
    """The statement with its own :86: after its closing balance and a `-XXX` end (ING)."""
    assert statement.endswith(b"\r\n-\r\n")
    return statement[: -len(b"-\r\n")] + f":86:{info}\r\n-XXX\r\n".encode()


ACME_PART = Tx(date(2026, 3, 4), D("100.00"), "ACME GMBH", account="DE02120300000000202051",
               purpose="Acme part payment INV-2026-0001")  # fmt: skip
ACME_REST = replace(ACME_PART, day=date(2026, 3, 5), amount=D("50.00"),
                    purpose="Acme rest of INV-2026-0001")  # fmt: skip


@pytest.mark.parametrize("bank", [mt940_free_text, mt940_sparkasse])
@pytest.mark.parametrize("with_week1", [False, True])
def test_a_line_imported_with_the_statement_information_glued_is_known_again(  # type: ignore[no-untyped-def]
    folder: Folder, capsys, monkeypatch, bank, with_week1
) -> None:
    """Earlier versions added an MT940 statement's own :86: (ING's totals) and its
    `-XXX` end to its last line's Reference (or, in `?NN` details, to the payer's name),
    and hashed them into its Bank Ref. The next week's overlapping statement lists that
    payment with its own text: it is the line imported then, not a second payment (nor
    when the first week's file is imported again with it)."""
    two_clients(folder)
    week1, week2 = folder.root / "week1.sta", folder.root / "week2.sta"
    week1.write_bytes(with_statement_info(bank([ACME_PART]), "D000000C000001D0,00C100,00"))
    week2.write_bytes(with_statement_info(bank([ACME_PART, ACME_REST]),
                                          "D000000C000002D0,00C150,00"))  # fmt: skip
    with monkeypatch.context() as patch:  # read as versions before this one read it
        patch.setattr(mt940_module, "_without_statement_info", lambda text: text)
        assert payments(folder, str(week1), "--as-of", "2026-03-04") == 0
    (stored,) = payments_sheet(folder).itertuples()
    assert "D000000C000001D0,00C100,00" in f"{stored.Payer} {stored.Reference}"
    capsys.readouterr()
    files = [str(week1), str(week2)] if with_week1 else [str(week2)]
    assert payments(folder, *files, "--as-of", "2026-03-06") == 0
    assert f"{len(files)} file(s), 1 new incoming line(s); 1 applied." in capsys.readouterr().out
    assert invoices(folder)["Paid Amount"]["INV-2026-0001"] == 150
    assert len(payments_sheet(folder)) == 2
    assert payments(folder, str(week2), "--as-of", "2026-03-06") == 0  # again: nothing new
    assert "0 new incoming line(s)" in capsys.readouterr().out
    assert invoices(folder)["Paid Amount"]["INV-2026-0001"] == 150


def test_only_the_statement_information_makes_a_stored_line_the_same() -> None:
    """Two payments of one day, amount and payer are two unless the stored one says what
    the new one says and more after it; a stored line read again exactly is that line."""
    first = BankLine(date(2026, 3, 4), D("100.00"), "EUR", "in", "Acme", ("DE0212",),
                     "Instalment 1 INV-2026-0001", "MT940-0123456789abcdef")  # fmt: skip
    second = replace(first, reference="Instalment 2 INV-2026-0001",
                     bank_ref="MT940-1123456789abcdef")  # fmt: skip
    glued = replace(first, reference=f"{first.reference} D000000C000002D0,00C200,00 -XXX",
                    bank_ref="MT940-2123456789abcdef")  # fmt: skip
    assert without_glued_twins([first, second], [first, second], [glued]) == [second]
    assert without_glued_twins([second], [second], [glued]) == [second]
    # the stored line is one the file lists as it is: the shorter one is another payment
    longer = replace(glued, bank_ref="MT940-3123456789abcdef")
    assert without_glued_twins([first], [first, longer], [glued]) == [first]
    # a bank's own id, or another reader's fingerprint, was never glued to
    for ref in ("2026030412345678", "CSV-2123456789abcdef"):
        assert without_glued_twins([first], [first], [replace(glued, bank_ref=ref)]) == [first]
    for other in (replace(first, payer_ids=()), replace(first, amount=D("100.01")),
                  replace(first, payer="Acme Two")):  # fmt: skip
        assert without_glued_twins([other], [other], [glued]) == [other]
    # the text the stored line has after the Reference, after the payer's name just as well
    named = replace(first, payer="Acme", reference="Instalment 1")
    stored = replace(named, payer="AcmeD000000C", bank_ref=glued.bank_ref)
    assert without_glued_twins([named], [named], [stored]) == []
