"""CSV exports that write every amount unsigned and say in a column of its own which way
the money went (VR-Bank's Soll/Haben S/H, Debit/Credit, DR/CR): `[bank.csv] direction`.

Money going out must never be taken for a client's payment (a refund applied as their
payment, and thanked for), so a file with such a column and no `direction` is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation.bank.csvfile import read_csv
from automation.bank.detect import read_statement
from automation.bank.record import BankConfig, CsvLayout
from automation.cli import main
from automation.config import ConfigError, parse_config

D = Decimal
LAYOUT = CsvLayout(date="Buchungstag", amount="Umsatz", payer="Name", reference="Zweck",
                   direction="Soll/Haben", date_format="%d.%m.%Y", decimal=",",
                   delimiter=";")  # fmt: skip


def vr_bank(rows: list[tuple[str, str, str, str]], mark_header: str = "Soll/Haben") -> bytes:
    """Buchungstag;Name;Zweck;Umsatz;<mark_header>: (name, purpose, amount, mark) per line."""
    out = [f'"Buchungstag";"Name";"Zweck";"Umsatz";"{mark_header}"']
    out += [f'"06.03.2026";"{n}";"{p}";"{a}";"{m}"' for n, p, a, m in rows]
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


@pytest.mark.parametrize("mark", ["S", "s", "D", "DR", "Debit", "SOLL", "out", "-"])
def test_a_mark_of_money_out_is_outgoing(mark: str) -> None:
    (line,), errors = read_csv(vr_bank([("Acme", "Erstattung", "300,00", mark)]), "vr.csv", LAYOUT)
    assert errors == [] and (line.direction, line.amount) == ("out", D("300.00"))


@pytest.mark.parametrize("mark", ["H", "h", "C", "CR", "credit", "Haben", "IN", "+"])
def test_a_mark_of_money_in_is_incoming(mark: str) -> None:
    (line,), errors = read_csv(vr_bank([("Acme", "INV-2026-0001", "300,00", mark)]), "vr.csv",
                               LAYOUT)  # fmt: skip
    assert errors == [] and (line.direction, line.amount) == ("in", D("300.00"))


def test_a_mark_it_does_not_know_refuses_the_line_with_its_value() -> None:
    lines, errors = read_csv(vr_bank([("Acme", "a", "300,00", "X"), ("Beta", "b", "50,00", ""),
                                      ("Gamma", "c", "-20,00", "H"),
                                      ("Delta", "d", "10,00", "H")]), "vr.csv", LAYOUT)  # fmt: skip
    assert [ln.payer for ln in lines] == ["Delta"]
    assert [str(e) for e in errors] == [
        "vr.csv, line 2: Soll/Haben: 'X' is not one of S, D, DR, Debit, Soll, Out, - (money "
        "out) or H, C, CR, Credit, Haben, In, + (money in).",
        "vr.csv, line 3: Soll/Haben: it is empty, and must be one of S, D, DR, Debit, Soll, "
        "Out, - (money out) or H, C, CR, Credit, Haben, In, + (money in).",
        "vr.csv, line 4: Soll/Haben: 'H' says money in, but the amount is below zero.",
    ]


@pytest.mark.parametrize(
    "header",
    ["Soll/Haben", "S/H", "Debit/Credit", "Credit/Debit", "DR/CR", "CR/DR", "Dr/Cr", "D/C",
     "Credit/Debit indicator"],
)  # fmt: skip
def test_a_direction_column_without_the_setting_refuses_the_file(
    tmp_path: Path, header: str
) -> None:
    path = tmp_path / "vr.csv"
    path.write_bytes(vr_bank([("Acme", "Erstattung INV-2026-0001", "300,00", "S")], header))
    lines, (error,) = read_statement(path, BankConfig(csv=replace(LAYOUT, direction="")))
    assert lines == []
    assert str(error) == (
        f"vr.csv: its column {header!r} says which way the money went; set direction = "
        f'"{header}" in [bank.csv], so that money going out is not taken for a payment.'
    )


def test_vr_banks_column_without_a_header(tmp_path: Path) -> None:
    """VR-Bank's export names its S/H column " ": without `direction` it is refused;
    `direction = " "` reads it."""
    path = tmp_path / "vr.csv"
    path.write_bytes(vr_bank([("Acme", "Erstattung", "300,00", "S"),
                              ("Beta", "INV-2026-0002", "50,00", "H")], " "))  # fmt: skip
    unset = replace(LAYOUT, direction="")
    lines, (error,) = read_statement(path, BankConfig(csv=unset))
    assert lines == [] and str(error) == (
        "vr.csv: the column after 'Umsatz' has no header but says which way the money went "
        "('S' on line 2); set direction = \" \" in [bank.csv], so that money going out is not "
        "taken for a payment."
    )
    lines, errors = read_statement(path, BankConfig(csv=replace(LAYOUT, direction=" ")))
    assert errors == [] and [ln.direction for ln in lines] == ["out", "in"]


def test_direction_is_a_bank_csv_setting() -> None:
    csv = {"date": "D", "amount": "A", "reference": "R"}
    config = parse_config({"bank": {"csv": {**csv, "direction": "Soll/Haben"}}})
    assert config.bank.csv.direction == "Soll/Haben"
    with pytest.raises(ConfigError, match="sets both debit and direction"):
        parse_config({"bank": {"csv": {**csv, "direction": "S/H", "debit": "Out"}}})
    with pytest.raises(ConfigError, match="direction must be text"):
        parse_config({"bank": {"csv": {**csv, "direction": 1}}})


def test_a_refund_to_a_client_is_not_taken_for_its_payment(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    folder.write_config(extra='currency = "EUR"\n[bank.csv]\ndate = "Buchungstag"\n'
                        'amount = "Umsatz"\npayer = "Name"\nreference = "Zweck"\n'
                        'direction = "Soll/Haben"\ndate_format = "%d.%m.%Y"\ndecimal = ","\n'
                        'delimiter = ";"\nencoding = "cp1252"\n')  # fmt: skip
    write_workbook(folder.workbook, [client("Acme Corp", Currency="EUR")],
                   [service(date(2026, 3, 2), "Acme Corp", "Audit", 1, 300)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-02") == 0
    path = folder.root / "vr.csv"
    path.write_bytes(vr_bank([("Acme Corp", "Vorschuss-Erstattung INV-2026-0001", "300,00", "S")]))
    assert main(["payments", "--workbook", str(folder.workbook), str(path),
                 "--as-of", "2026-03-09"]) == 0  # fmt: skip
    assert "0 new incoming line(s)" in capsys.readouterr().out
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices["Paid Amount"].isna().all()  # nothing paid, no thank-you
