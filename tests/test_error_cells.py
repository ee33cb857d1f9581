"""Excel error values (#DIV/0!, #REF!, #N/A) in the cells the tool reads are reported, never
billed nor printed.

The spreadsheet reader shows an error cell as empty: a broken Amount formula
would be billed as Quantity x Unit Price, dropping whatever else the formula
did (a discount, a cap). The run names the error on that row instead.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS, Folder

from automation.cli import main

AS_OF = "2026-03-09"


def _log_with_error(folder: Folder, error: str) -> None:
    wb = xlsxwriter.Workbook(str(folder.workbook))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    amount = SERVICE_HEADERS.index("Amount")
    for r, (desc, broken) in enumerate([("Audit", False), ("Payroll, 10% off", True)], start=1):
        ws.write_datetime(r, 0, datetime(2026, 3, 2), day)
        ws.write_row(r, 1, ["Acme", desc, 2, 100])
        if broken:
            ws.write_formula(r, amount, f"=D{r + 1}*E{r + 1}*(1-G9/0)", None, error)
        else:
            ws.write_formula(r, amount, f"=D{r + 1}*E{r + 1}", None, 200)
    wb.close()


def test_an_error_in_amount_is_a_row_error_and_the_rest_is_billed(folder: Folder, capsys) -> None:
    _log_with_error(folder, "#DIV/0!")
    assert folder.run("--as-of", AS_OF) == 1
    out = capsys.readouterr().out
    assert "Services row 3" in out and "#DIV/0!" in out
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="openpyxl")
    assert services.loc[0, "Status"] == "Invoiced"
    assert services.loc[1, "Status"] == "Error"
    assert "#DIV/0!" in services.loc[1, "Error"]
    assert pd.isna(services.loc[1, "Invoice No"])
    assert len(folder.received) == 1  # one invoice, for the readable row only


def test_check_reports_the_error_too(folder: Folder, capsys) -> None:
    _log_with_error(folder, "#REF!")
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 1
    assert "#REF!" in capsys.readouterr().out


#: Clients columns, each with what it holds when it does not show an error.
CLIENT_CELLS = {
    "Client": "Acme",
    "Email": "ap@acme.example",
    "CC": "boss@acme.example",
    "Address": "1 Road",
    "Terms": "Net 30",
    "Currency": "USD",
    "Language": "en",
    "Tax Rate": 12,
    "Active": "Yes",
    "Payer ID": "180940012345",
}
SHOWN = "shows the Excel error #N/A (its formula failed): fix the formula or type"


def _lookups(folder: Folder, client_error: str = "", service_error: str = "") -> None:
    """Acme billed for two lines; the Clients cell `client_error` and the Services cell
    `service_error` (of the second line) hold a VLOOKUP that failed (#N/A), as Excel
    saves it."""
    wb = xlsxwriter.Workbook(str(folder.workbook))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    lookup = "VLOOKUP(A2,Lookups!A:B,2,FALSE)"
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, list(CLIENT_CELLS))
    for c, (column, value) in enumerate(CLIENT_CELLS.items()):
        if column == client_error:
            ws.write_formula(1, c, lookup, None, "#N/A")
        else:
            ws.write(1, c, value)
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    for r, description in enumerate(["Audit", "Looked up"], start=1):
        cells = [datetime(2026, 3, 2), "Acme", description, 2, 100]
        for c, (column, value) in enumerate(zip(SERVICE_HEADERS, cells, strict=False)):
            if r == 2 and column == service_error:
                ws.write_formula(r, c, lookup, None, "#N/A")
            elif isinstance(value, datetime):
                ws.write_datetime(r, c, value, day)
            else:
                ws.write(r, c, value)
    wb.add_worksheet("Lookups")
    wb.close()


@pytest.mark.parametrize("column", ["Description", "Client", "Quantity", "Date"])
def test_an_error_in_a_services_column_is_a_row_error_never_printed(
    folder: Folder, capsys, column: str
) -> None:
    """A Description looked up by a VLOOKUP that failed was billed and mailed as the text
    "#N/A" (exit 0, `check` content); it is a row error naming the error, as in Quantity."""
    _lookups(folder, service_error=column)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 1
    said = f"Services row 3, {column}: {SHOWN}"
    assert said in capsys.readouterr().out
    assert folder.run("--as-of", AS_OF) == 1
    assert said in capsys.readouterr().out
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="openpyxl")
    assert list(services["Status"]) == ["Invoiced", "Error"]
    assert services.loc[1, "Error"].startswith(SHOWN)
    (mail,) = folder.received  # the readable line only
    assert b"#N/A" not in mail.data


@pytest.mark.parametrize("column", list(CLIENT_CELLS))
def test_an_error_in_a_clients_column_holds_the_client(folder: Folder, capsys, column: str) -> None:
    """Every Clients column is read: an Address (printed on the invoice), a CC or a Payer
    ID showing #N/A was taken as typed. Each is a row error on the Clients row, told once
    (not as "#N/A is not a valid email address" too), and the client is not billed."""
    _lookups(folder, client_error=column)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 1
    out = capsys.readouterr().out
    instead = {"Client": "the client's name", "Tax Rate": "the rate"}.get(column, "the text")
    assert f"Clients row 2, {column}: {SHOWN} {instead}." in out
    assert out.count("#N/A") == 1
    assert folder.run("--as-of", AS_OF) == 1
    assert folder.received == []
