"""The Invoices sheet renamed by the bookkeeper, and one deleted or never made.

A workbook with no Invoices sheet gets a new one; but when another sheet holds the
invoices the tool issued (the Invoices sheet renamed, "AR Ledger"), a new sheet would
be a second ledger: the payments typed in the renamed one would go unread and a client
who paid would be reminded and reissued. The run stops (exit 2), as it does for a
renamed Clients or Services sheet, naming the sheet to rename back.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xlsxwriter
from conftest import Folder, client, service, write_workbook

from automation.cli import main
from automation.config import Config, parse_config
from automation.read import read_workbook
from automation.sheet_heads import sheet_heads

FIRST, LATER = "2026-03-10", "2026-04-06"


def write_frames(path: Path, frames: dict[str, pd.DataFrame]) -> Any:
    """A workbook of `frames` (as pandas reads sheets), left open for more sheets."""
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for sheet, frame in frames.items():
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, list(frame.columns))
        for r, row in enumerate(frame.itertuples(index=False), start=1):
            for c, value in enumerate(row):
                if isinstance(value, datetime):  # a pandas Timestamp too
                    ws.write_datetime(r, c, pd.Timestamp(value).to_pydatetime(), day)
                elif not pd.isna(value):
                    ws.write(r, c, value)
    return wb


def sheets_of(path: Path) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, sheet_name=None, engine="calamine")


def rebuild(folder: Folder, name: str | None, **typed: Any) -> None:
    """The workbook as the run left it, its Invoices sheet called `name` (None: deleted,
    a Notes sheet left), with `typed` cells typed into its first row ("Paid_Amount")."""
    sheets = sheets_of(folder.workbook)
    invoices = sheets.pop("Invoices")
    for column, value in typed.items():
        header = column.replace("_", " ")
        invoices[header] = invoices[header].astype(object)
        invoices.loc[0, header] = value
    if name is not None:
        sheets[name] = invoices
    else:
        sheets["Notes"] = pd.DataFrame({"Note": ["call Beta"]})
    write_frames(folder.workbook, sheets).close()


def first_run(folder: Folder) -> None:
    write_workbook(folder.workbook, [client("Beta", Terms="Net 14")],
                   [service(date(2026, 3, 2), "Beta", "Design", 1, 500)])  # fmt: skip
    assert folder.run("--as-of", FIRST) == 0
    assert len(folder.received) == 1  # INV-2026-0001 issued


@pytest.mark.parametrize(
    ("command", "options"), [((), ()), ((), ("--dry-run",)), (("check",), ())]
)
def test_a_renamed_invoices_sheet_stops_the_run(
    folder: Folder,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
    options: tuple[str, ...],
) -> None:
    """Beta's payment typed in the renamed sheet: nothing is written or sent, and the sheet
    to rename back is named; once it is, Beta's payment counts and nothing is reissued."""
    first_run(folder)
    rebuild(folder, "AR Ledger", Paid_Amount=500, Paid_Date=datetime(2026, 3, 20))
    before = folder.workbook.read_bytes()
    capsys.readouterr()
    assert main([*command, "--workbook", str(folder.workbook), "--as-of", LATER, *options]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "Cannot run: the workbook has no 'Invoices' sheet (it has: Clients, Services, "
        "AR Ledger), but its sheet 'AR Ledger' holds invoices the tool issued (INV-2026-0001). "
        "Rename 'AR Ledger' back to Invoices" in out
    )
    assert folder.workbook.read_bytes() == before
    assert len(folder.received) == 1
    assert not (folder.root / "outbox").exists()

    rebuild_named(folder, "AR Ledger", "Invoices")
    capsys.readouterr()
    assert folder.run("--as-of", LATER) == 0, capsys.readouterr().out
    rows = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert list(rows["Status"]) == ["Paid"]
    subjects = [str(m.message["Subject"]) for m in folder.received[1:]]
    assert not [s for s in subjects if "INV-2026-0001" in s and "thank" not in s.lower()]


def rebuild_named(folder: Folder, old: str, new: str) -> None:
    """The sheet `old` renamed `new` (the workbook written anew, as `rebuild` writes it)."""
    sheets = {new if n == old else n: f for n, f in sheets_of(folder.workbook).items()}
    write_frames(folder.workbook, sheets).close()


def test_a_deleted_invoices_sheet_is_made_again(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """No sheet holds the invoices: the sheet is created again and its rows written back."""
    first_run(folder)
    rebuild(folder, None)
    capsys.readouterr()
    assert folder.run("--as-of", LATER) in (0, 1)
    assert "had no row in the Invoices sheet" in " ".join(capsys.readouterr().out.split())
    rows = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert list(rows["Invoice No"]) == ["INV-2026-0001"]


def look_alike_book(path: Path, headers: list[str], rows: list[list[Any]]) -> Path:
    """Clients and Services, and a sheet "Old invoices" of the bookkeeper's own."""
    write_workbook(path, [client("Beta")], [service(date(2026, 3, 2), "Beta", "Design", 1, 500)])
    wb = write_frames(path, sheets_of(path))
    ws = wb.add_worksheet("Old invoices")
    ws.write(0, 0, "Invoices kept by hand")
    ws.write_row(2, 0, headers)
    for r, row in enumerate(rows, start=3):
        ws.write_row(r, 0, row)
    wb.close()
    return path


def test_a_look_alike_sheet_before_the_first_run_does_not_stop_it(folder: Folder) -> None:
    """The bookkeeper's own list of invoices, its headers the tool's: the ledger issued none
    of them, so the first run makes its Invoices sheet and issues as usual."""
    look_alike_book(folder.workbook, ["Invoice No", "Client", "Total"], [["OLD-7", "Beta", 90]])
    assert folder.run("--as-of", FIRST) == 0
    assert len(folder.received) == 1
    names = list(sheets_of(folder.workbook))
    assert names == ["Clients", "Services", "Old invoices", "Invoices"]


def test_a_look_alike_is_found_by_the_headers_billing_toml_names(tmp_path: Path) -> None:
    """[columns.Invoices] renames say which headers the Invoices sheet has; the numbers
    below them are what the ledger is asked about."""
    book = look_alike_book(tmp_path / "log.xlsx", ["Inv #", "Client", "Amount due"],
                           [["INV-2026-0001", "Beta", 500], [None, None, None], [7, "Beta", 5]])
    assert read_workbook(book, Config()).invoices_elsewhere == {}
    renamed = parse_config(
        {"columns": {"Invoices": {"Invoice No": "Inv #", "Total": "Amount due"}}}
    )
    found = read_workbook(book, renamed).invoices_elsewhere
    assert found == {"Old invoices": frozenset({"INV-2026-0001", "7"})}


def test_only_the_first_rows_of_another_sheet_are_read(tmp_path: Path) -> None:
    """A long sheet is inflated up to the row after those asked for, and read from there."""
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Report")
    for r in range(5000):
        ws.write_row(r, 0, [f"row {r + 1}", r])
    ws = wb.add_worksheet("Empty")
    wb.close()
    heads = list(sheet_heads(path, ["report", "Empty"], 3))
    assert [head.name for head in heads] == ["Report"]
    xml = b"".join(heads[0].xml)
    assert xml.count(b"<row ") == 3 and xml.endswith(b"</sheetData></worksheet>")
