"""Excel error values (#DIV/0!, #REF!) in the cells the tool reads are reported, never billed.

The spreadsheet reader shows an error cell as empty: a broken Amount formula
would be billed as Quantity x Unit Price, dropping whatever else the formula
did (a discount, a cap). The run names the error on that row instead.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
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
