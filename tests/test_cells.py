"""Cell values at the boundary: the quick paths for the usual cells say what the rule says.

`is_blank` and `cell_text` answer plain text and floats without the general
checks (they are asked of every cell validated); every other kind of value,
subclasses included, goes the general way. `frame_records` is pandas'
`to_dict("records")` taken a column at a time.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation import validate
from automation.cells import CellError, cell_date, cell_text, is_blank
from automation.config import Config
from automation.read import SheetData, read_workbook
from automation.validate import frame_records, unbilled_rows, validate_clients, validate_services


class Text(str):
    """A str subclass (numpy's str_ is one): not the quick path's exact class."""


def general_is_blank(value: Any) -> bool:
    """The rule, as it was written before the quick paths."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return value is pd.NaT


def general_cell_text(value: Any) -> str:
    if general_is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    return str(value).strip()


VALUES = [
    "", " ", "\u00a0", " Acme ", "0", "NaN", Text(""), Text(" x "), np.str_(" y "),
    float("nan"), float("inf"), -0.0, 0.0, 12.0, 12.5, 1e20, np.float64("nan"), np.float64(3.0),
    0, 7, True, False, None, pd.NaT, pd.NA, Decimal("1.50"), date(2026, 3, 5),
    datetime(2026, 3, 5), datetime(2026, 3, 5, 9, 30), pd.Timestamp("2026-03-05"),
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_quick_paths_follow_the_rule(value: Any) -> None:
    assert is_blank(value) == general_is_blank(value)
    assert cell_text(value) == general_cell_text(value)
    assert type(cell_text(value)) is str


def _number_or_error(read: Any, value: Any) -> str:
    try:
        return repr(read(value))
    except CellError as exc:
        return f"CellError: {exc}"


@pytest.mark.parametrize("value", [*VALUES, "1,250.00", "abc", -2.5, 10**13], ids=repr)
def test_remembered_amounts_are_those_of_the_very_cells(value: Any) -> None:
    """A line's Quantity, Unit Price and Amount are remembered between rows; each row still
    reads as its own cells read, whatever was read before (1 after True, -0.0 after 0.0)."""
    nan = float("nan")
    for before in (True, 1, 1.0, 0.0, -0.0, "1"):
        for cells in ((before, 1, nan), (1, before, nan), (1, nan, before)):
            validate._line_amounts(*cells)
        for cells in ((value, 1, nan), (1, value, nan), (1, nan, value), (value, value, value)):
            assert repr(validate._line_amounts(*cells)) == repr(validate._amounts(*cells))


def test_frame_records_are_to_dict_records() -> None:
    frame = pd.DataFrame(index=pd.RangeIndex(5, 9))
    days = [datetime(2026, 3, 5), None, datetime(2026, 3, 6, 9, 30), None]
    frame["Date"] = np.array(days, object)
    frame["Client"] = np.array(["Acme", "Beta", float("nan"), "Gamma"], object)
    frame["Quantity"] = np.array([1, 2.5, "3", float("nan")], object)
    frame["Count"] = [1, 2, 3, 4]
    frame["Seen"] = pd.Series([None] * 4, index=frame.index, dtype=object)
    assert {str(t) for t in frame.dtypes} >= {"datetime64[us]", "str", "object", "int64"}
    got = list(frame_records(frame))
    want = frame.to_dict("records")
    assert [row for row, _ in got] == [5, 6, 7, 8]
    for (_, cells), expected in zip(got, want, strict=True):
        assert list(cells) == list(expected)
        for name, value in cells.items():
            if name == "Date":  # datetime64: the same days as datetime, None for NaT
                stamp = expected[name]
                assert value is None if stamp is pd.NaT else type(value) is datetime
                assert value is None or value == stamp.to_pydatetime()
                assert is_blank(value) == is_blank(stamp)
                assert cell_text(value) == cell_text(stamp)
                assert value is None or cell_date(value) == cell_date(stamp)
                continue
            assert type(value) is type(expected[name]), name
            assert repr(value) == repr(expected[name]), name
    assert list(frame_records(frame.iloc[:0])) == []
    stamps = pd.DataFrame({"At": pd.to_datetime(["2026-03-05 09:30:00.000000001", None])})
    assert str(stamps["At"].dtype) == "datetime64[ns]"  # finer than datetime: as pandas gives
    got_stamps = [cells["At"] for _, cells in frame_records(stamps)]
    assert [type(v) for v in got_stamps] == [pd.Timestamp, type(pd.NaT)]
    assert got_stamps[0] == stamps["At"][0]


def test_a_row_is_unbilled_when_its_invoice_cell_is_empty_or_blank_text() -> None:
    """As `isna() | astype(str).str.strip() == ""` says, for every kind of cell."""
    invoice = [
        "INV-1", "", " ", "\t", float("nan"), None, 0, 12.5, datetime(2026, 1, 1), pd.NaT,
        pd.NA, " INV-2 ", Text(" "), True,
    ]  # fmt: skip
    frame = pd.DataFrame(index=pd.RangeIndex(2, 2 + len(invoice)))
    frame["Invoice No"] = np.array(invoice, dtype=object)
    for column in ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"]:
        frame[column] = np.array(["x"] * len(invoice), dtype=object)
    sheet = SheetData("Services", 1, {c: c for c in frame.columns}, frozenset(), frame)
    cells = frame["Invoice No"]
    rule = cells.isna() | (cells.astype(str).str.strip() == "")
    assert unbilled_rows(sheet).index.tolist() == frame.index[rule.to_numpy()].tolist()
    assert unbilled_rows(sheet).index.tolist() == [3, 4, 5, 6, 7, 11, 12, 14]


def test_a_missing_day_in_a_column_of_days_is_said_to_be_missing(tmp_path: Path) -> None:
    """A Date column of days with one empty cell: the empty cell of a typed row is told as
    missing, the others are read as their days."""
    rows = [service(date(2026, 3, 2), "Acme", "Work"), service(None, "Acme", "More work")]
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], rows)
    data = read_workbook(book, Config())
    assert data.services.frame["Date"].tolist()[0] == datetime(2026, 3, 2)
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [line.service_date for line in lines] == [date(2026, 3, 2)]
    assert [(e.row, e.column, e.message) for e in errors.values()] == [
        (3, "Date", "the date is missing; type the date the service was provided.")
    ]


def test_a_totals_row_typed_under_the_lines_is_left_alone(tmp_path: Path) -> None:
    """ "TOTAL" with a SUM under the lines (no table) is no service and no mistake; a row
    labelled Total that names a client is still a line, and is checked as one."""
    import xlsxwriter
    from conftest import CLIENT_HEADERS

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"])
    for r in (1, 2):
        ws.write_datetime(r, 0, datetime(2026, 3, r), day)
        ws.write_row(r, 1, ["Acme", f"Work {r}", 1, 100])
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", None, 100)
    ws.write(4, 2, "TOTAL")
    ws.write_formula(4, 5, "=SUM(F2:F3)", None, 200)
    ws.write(6, 0, "Grand total:")
    ws.write_formula(6, 5, "=SUM(F2:F3)", None, 200)
    ws.write_row(8, 1, ["Acme", "Total"])  # a client: a line missing its date
    ws.write_formula(8, 5, "=SUM(F2:F3)", None, 200)
    ws.write(10, 0, "Total")  # summing the Quantity column as well
    ws.write_formula(10, 3, "=SUM(D2:D3)", None, 2)
    ws.write_formula(10, 5, "=SUM(F2:F3)", None, 200)
    ws.write_datetime(12, 0, datetime(2026, 3, 4), day)  # a date: a line missing its client
    ws.write_row(12, 2, ["Total", 1, 100])
    wb.close()
    data = read_workbook(path, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [line.row for line in lines] == [2, 3]
    assert [(e.row, e.column) for e in errors.values()] == [(9, "Date"), (13, "Client")]


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("1,250.00", "1250.00"), ("1.250,00", "1250.00"), ("€1.234,50", "1234.50"),
        ("12,5", "12.5"), ("+12,50", "12.50"), ("0,125", "0.125"), ("1,234,567", "1234567"),
        ("1.234.567", "1234567"), ("(40)", "-40"), ("$ 1,200.00", "1200.00"), ("1,5000", "1.5000"),
        ("1.500", "could be 1500 or 1.5"), ("€1.500", "could be 1500 or 1.5"),
        ("1,500", "could be 1500 or 1.5"), ("12.345", "could be 12345 or 12.345"),
        ("1e3", "is not a number"), ("1_000", "is not a number"), ("1,23.45", "grouped"),
        ("1,234,5", "grouped"), ("12 kg", "is not a number"),
        # a whole amount, as German and Swiss prices write it: the dash is "no cents"
        ("600,-", "600"), ("600.-", "600"), ("1.250,-", "1250"), ("€ 1.250,- EUR", "1250"),
        ("1,250,-", "is not a number"), ("12.5,-", "grouped"), ("600-", "is not a number"),
    ],
)  # fmt: skip
def test_numbers_typed_as_text_are_read_exactly_or_refused(text: str, read: str) -> None:
    """A text number is read one way only: a lone mark with three digits after it could
    be a thousands separator or a decimal mark, and is refused rather than guessed."""
    from automation.money import D, MoneyError

    if read[0].isdigit() or read[0] == "-":
        assert str(D(text)) == read
    else:
        with pytest.raises(MoneyError, match=read):
            D(text)


def test_a_tax_rate_of_100_percent_or_more_is_refused(tmp_path: Path) -> None:
    rates = ["12", "0,125", "12,5%", "100", "1200", "150%", "100.000", "1.250.000%"]
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client(f"C{i}", **{"Tax Rate": rate}) for i, rate in enumerate(rates)],
        [],
    )
    clients = validate_clients(read_workbook(book, Config()).clients, Config())
    assert [clients.clients[f"c{i}"].tax_rate for i in range(3)] == [
        Decimal("0.12"), Decimal("0.125"), Decimal("0.125")]  # fmt: skip
    assert [(e.row, e.column, e.message) for e in clients.errors] == [
        (5, "Tax Rate", '"100" would be a tax of 100%; write the rate as 12, 12% or 0.12.'),
        (6, "Tax Rate", '"1200" would be a tax of 1200%; write the rate as 12, 12% or 0.12.'),
        (7, "Tax Rate", '"150%" would be a tax of 150%; write the rate as 12, 12% or 0.12.'),
        (8, "Tax Rate", '"100.000" would be a tax of 100%; write the rate as 12, 12% or 0.12.'),
        (9, "Tax Rate",
         '"1.250.000%" would be a tax of 1250000%; write the rate as 12, 12% or 0.12.'),
    ]  # fmt: skip


def test_a_tax_rate_typed_as_text_with_three_decimals_is_read(tmp_path: Path) -> None:
    """ "8.875%" (New York City sales tax) and "6.625%" (New Jersey) typed as text were
    refused as "not a rate" while 9.25% and the number 8.875 were read: the three digits
    after the mark made them "1.500"-like, 8875% or 8.875%. A rate is under 100%, so only
    the decimal reading is a rate, with or without the percent sign."""
    rates = ["8.875%", "6.625%", "8,875 %", "8.875", "8,875", 8.875, "1.500", "1.250%"]
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client(f"C{i}", **{"Tax Rate": rate}) for i, rate in enumerate(rates)],
        [],
    )
    clients = validate_clients(read_workbook(book, Config()).clients, Config())
    assert clients.errors == ()
    assert [clients.clients[f"c{i}"].tax_rate * 100 for i in range(len(rates))] == [
        Decimal("8.875"), Decimal("6.625"), Decimal("8.875"), Decimal("8.875"),
        Decimal("8.875"), Decimal("8.875"), Decimal("1.5"), Decimal("1.25")]  # fmt: skip


def test_a_price_typed_with_another_currencys_sign_is_refused(tmp_path: Path) -> None:
    """ "$1,200.00" on a client billed in EUR is not 1,200 euros; "€1.234,50" is."""
    rows = [
        service(date(2026, 3, 2), "Acme", "Dollars", 1, "$1,200.00"),
        service(date(2026, 3, 2), "Acme", "Euros", 1, "€1.234,50"),
        service(date(2026, 3, 2), "Beta", "Dollars", 1, "$1,200.00"),
        service(date(2026, 3, 2), "Kyoto", "Yen", 1, "¥15000"),
        service(date(2026, 3, 2), "Acme", "Yen on a EUR client", 1, "¥15000"),
    ]
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client("Acme", Currency="EUR"), client("Beta", Currency="CAD"),
         client("Kyoto", Currency="JPY")],
        rows,
    )  # fmt: skip
    data = read_workbook(book, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [(line.row, line.unit_price) for line in lines] == [
        (3, Decimal("1234.50")), (4, Decimal("1200.00")), (5, Decimal("15000"))]  # fmt: skip
    assert [(e.row, e.column, e.message) for e in errors.values()] == [
        (2, "Unit Price", '"$1,200.00" is in USD, but Acme is billed in EUR; type the amount '
         "in EUR, or change the client's Currency."),
        (6, "Unit Price", '"¥15000" is in ¥, but Acme is billed in EUR; type the amount '
         "in EUR, or change the client's Currency."),
    ]  # fmt: skip


def test_a_price_typed_with_a_currency_code_is_read_or_refused(tmp_path: Path) -> None:
    """ "RUB 55320.62" for a client billed in RUB is 55,320.62 roubles (it was "not a
    number"); "1.250,00 EUR" is 1,250 euros; "USD 300" for that client is refused as
    another currency, "ABC 10" as no number."""
    rows = [
        service(date(2026, 3, 2), "Ivanov", "Roubles", 1, "RUB 55320.62"),
        service(date(2026, 3, 2), "Acme", "Euros", 1, "1.250,00 EUR"),
        service(date(2026, 3, 2), "Acme", "Dollars", 1, "USD 300"),
        service(date(2026, 3, 2), "Acme", "Letters", 1, "ABC 10"),
    ]
    book = write_workbook(
        tmp_path / "log.xlsx", [client("Ivanov", Currency="RUB"), client("Acme", Currency="EUR")],
        rows,
    )  # fmt: skip
    data = read_workbook(book, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [(line.row, line.unit_price) for line in lines] == [
        (2, Decimal("55320.62")), (3, Decimal("1250.00"))]  # fmt: skip
    assert [(e.row, e.column, e.message) for e in errors.values()] == [
        (4, "Unit Price", '"USD 300" is in USD, but Acme is billed in EUR; type the amount '
         "in EUR, or change the client's Currency."),
        (5, "Unit Price", '"ABC 10" is not a number; type it in digits, such as 2 or 1250.50.'),
    ]  # fmt: skip


def test_formulas_saved_without_their_result_are_refused_not_guessed(tmp_path: Path) -> None:
    """openpyxl saves formulas without their result, which the reader sees as empty cells:
    an Amount of Quantity x Unit Price is worked out as for an empty Amount; any other
    formula a line or a client needs is a row error, never a guess. Billed rows are left
    alone."""
    import openpyxl
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Clients"
    ws.append(CLIENT_HEADERS)
    tax = CLIENT_HEADERS.index("Tax Rate")
    acme = ["Acme", "ap@acme.example", None, None, "Net 30"]
    ws.append(acme + [None] * (tax - len(acme)) + ["=10+2"])
    ws.append(["Beta", "ap@beta.example", None, None, "Net 30"])
    ws = wb.create_sheet("Services")
    ws.append(SERVICE_HEADERS)
    day = datetime(2026, 3, 2)
    ws.append([day, "Beta", "Product", 2, 100, "=D2*E2"])
    ws.append([day, "Beta", "Discounted", 2, 100, "=D3*E3*0.9"])
    ws.append([day, "Beta", "Priced elsewhere", 2, "=Prices!B1"])
    ws.append([day, "Acme", "Taxed", 1, 50])
    ws.append([day, "Beta", "Billed before", 2, 100, "=D6*E6*0.9", "INV-2026-0001"])
    path = tmp_path / "saved_by_a_script.xlsx"
    wb.save(path)
    data = read_workbook(path, Config())
    book = validate_clients(data.clients, Config())
    assert [(e.row, e.column) for e in book.errors] == [(2, "Tax Rate")]
    assert "=10+2, whose result was never saved" in book.errors[0].message
    lines, errors = validate_services(data.services, book)
    assert [(line.row, line.amount) for line in lines] == [(2, Decimal("200.00"))]
    assert [(e.row, e.column) for e in errors.values()] == [
        (3, "Amount"), (4, "Unit Price"), (5, "Client")]  # fmt: skip
    assert "Amount 180" in errors[3].message  # =D3*E3*0.9 worked out: not 2 x 100
    assert "open it in Excel and save it, or in LibreOffice recalculate first" in errors[4].message


def test_plain_arithmetic_saved_without_its_result_is_worked_out(folder: Folder) -> None:
    """=ROUND(D2*E2,2), =PRODUCT(D3,E3), =(D4*E4), a Unit Price of =ROUND(400*1.05,2):
    plain arithmetic on the row's own Quantity and Unit Price, saved by a script without
    its result, is worked out as Excel would and billed; a formula reaching elsewhere
    still waits. The next run finds the billed rows unchanged."""
    import openpyxl
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Clients"
    ws.append(CLIENT_HEADERS)
    ws.append(["Beta", "beta@clients.example", None, None, "Net 30"])
    ws = wb.create_sheet("Services")
    ws.append(SERVICE_HEADERS)
    day = datetime(2026, 3, 2)
    ws.append([day, "Beta", "Rounded", 2.5, 33.333, "=ROUND(D2*E2,2)"])
    ws.append([day, "Beta", "Product", 3, 10, "=PRODUCT(D3,E3)"])
    ws.append([day, "Beta", "Bracketed", 1, "=ROUND(400*1.05,2)", "=(D4*E4)"])
    ws.append([day, "Beta", "Hours", "=1.5", 100])
    ws.append([day, "Beta", "Elsewhere", 1, 10, "=D2*E6"])  # another row's cell: waits
    # Excel reads the empty Quantity as 0 (not as the 1 of a line without a formula): waits
    ws.append([day, "Beta", "No hours typed", None, 100, "=D7*E7"])
    wb.save(folder.workbook)
    assert folder.run("--as-of", "2026-03-09") == 1
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Status"].tolist() == ["Invoiced"] * 4 + ["Error", "Error"]
    assert "=D2*E6, whose result was never saved" in services["Error"][4]
    assert "=D7*E7, whose result was never saved" in services["Error"][5]
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices["Total"].tolist() == [83.33 + 30 + 420 + 150]
    before = folder.workbook.read_bytes()
    assert folder.run("--as-of", "2026-03-09") == 1  # nothing changed, nothing told twice
    assert folder.workbook.read_bytes() == before
    assert len(folder.received) == 1


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("=ROUND(D7*E7,2)", "300.00"), ("=-D7+1", "-1.5"), ("=2.675*1", "2.675"),
        ("=ROUND(-2.675,2)", "-2.68"), ("=" + "(" * 60 + "D7" + ")" * 60, "2.5"),
        ("=\u0663+1", None), ("=\uff11+1", None),  # digits Excel does not read
        ("=" + "(" * 3000 + "1" + ")" * 3000, None),  # deeper than Excel nests: no crash
        ("=" + "-" * 5001 + "D7", "-2.5"), ("=+-+-D7", "2.5"),  # signs: no recursion
        ("=D8*E7", None), ("=1+", None), ("=ROUND(D7)", None), ("=", None), ("=1/0", None),
    ],
)  # fmt: skip
def test_plain_arithmetic_worked_out_as_excel_would(formula: str, value: str | None) -> None:
    from automation.rowformula import work_out

    refs = {"D": Decimal("2.5"), "E": Decimal("120")}
    worked = work_out(formula, 7, refs)
    assert (None if worked is None else str(worked)) == value


def test_a_payment_typed_as_a_sum_saved_without_its_result_is_worked_out(
    folder: Folder,
) -> None:
    """Paid Amount =60+40 typed in a workbook a script saved (openpyxl keeps no result):
    worked out, the invoice is Paid and thanked; one reaching elsewhere still waits."""
    import openpyxl

    write_workbook(
        folder.workbook,
        [client("Acme"), client("Beta")],
        [service(date(2026, 3, 2), name, "Work", 1, 100) for name in ("Acme", "Beta")],
    )
    assert folder.run("--as-of", "2026-03-09") == 0
    wb = openpyxl.load_workbook(folder.workbook)
    ws = wb["Invoices"]
    heads = [c.value for c in ws[1]]
    paid, when = heads.index("Paid Amount") + 1, heads.index("Paid Date") + 1
    ws.cell(2, paid, "=60+40")
    ws.cell(3, paid, "=Payments!B2")  # another sheet's cell: not worked out
    for row in (2, 3):
        ws.cell(row, when, datetime(2026, 3, 12))
    wb.save(folder.workbook)
    assert folder.run("--as-of", "2026-03-16") == 1
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices["Status"].tolist()[0] == "Paid" and invoices["Balance"].tolist()[0] == 0
    assert "=Payments!B2, whose result was never saved" in invoices["Note"][1]
    assert [m["Subject"] for m in (r.message for r in folder.received[2:])] == [
        "Thank you for paying invoice INV-2026-0001"
    ]


def test_a_zero_standing_for_a_result_not_worked_out_is_no_result(tmp_path: Path) -> None:
    """XlsxWriter (pandas, web exports) writes 0 as the result of a formula it was given no
    result for, and asks for recalculation on open: such an Amount of Quantity x Unit
    Price is worked out, not refused as 0; one given its result is read as it is."""
    import xlsxwriter
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    path = tmp_path / "exported.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    for r, (quantity, price) in enumerate([(3, 45.5), (2, 120)], start=1):
        ws.write_datetime(r, 0, datetime(2026, 3, 2), wb.add_format({"num_format": "yyyy-mm-dd"}))
        ws.write_row(r, 1, ["Acme", "Work", quantity, price])
        if r == 1:
            ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}")  # no result given: <v>0</v>
        else:
            ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", None, quantity * price)
    wb.close()
    data = read_workbook(path, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert errors == {}
    assert [(line.row, line.amount) for line in lines] == [(2, Decimal("136.50")),
                                                           (3, Decimal("240.00"))]  # fmt: skip


def _saved_without_recalculating(path: Path) -> None:
    """`path` as LibreOffice saves it with its default settings: the results as they were
    (XlsxWriter's stand-in 0s kept as results), the request to recalculate on open gone."""
    import re
    import zipfile

    parts = {}
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            parts[name] = book.read(name)
    parts["xl/workbook.xml"] = re.sub(rb'\s*fullCalcOnLoad="1"', b"", parts["xl/workbook.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, data in parts.items():
            book.writestr(name, data)


def _script_made_log(path: Path) -> None:
    """A log written by a script with XlsxWriter: some formulas with their results, some
    with 0 in place of a result never worked out. Rows (Excel):
    2 Unit Price =VLOOKUP (0), Amount =D2*E2 (0)   3 Amount =ROUND(400*1.05,2) (0)
    4 the same Amount, given its result 420         5 Unit Price typed 0, Amount =D5*E5 (0)
    6 Unit Price =VLOOKUP (0), Amount typed 0       7 Unit Price typed 100, Amount =D7*E7 (0)
    8 Quantity typed 0, Unit Price =VLOOKUP (0)     9 Quantity =SUM(Hours!B:B) (0)
    10 billed before: Amount =ROUND(400*1.05,2) (0)
    11 no Date; Unit Price =VLOOKUP (0), Amount =D11*E11 (0)"""
    import xlsxwriter
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    lookup = "=VLOOKUP(B{r},Prices!A:B,2,FALSE)"
    rows = [
        ("Hours at the client's rate", 2.5, lookup, ("=D{r}*E{r}", 0)),
        ("Fixed fee", None, None, ("=ROUND(400*1.05,2)", 0)),
        ("Fixed fee worked out", None, None, ("=ROUND(400*1.05,2)", 420)),
        ("Courtesy call", 1, 0, ("=D{r}*E{r}", 0)),
        ("Waived", 1, lookup, 0),
        ("Hours at the old rate", 2, 100, ("=D{r}*E{r}", 0)),
        ("No charge", 0, lookup, None),
        ("Hours logged elsewhere", ("=SUM(Hours!B:B)", 0), 100, ("=D{r}*E{r}", 0)),
        ("Billed before", None, None, ("=ROUND(400*1.05,2)", 0), "INV-2026-0001"),
    ]
    for r, (description, *cells) in enumerate(rows, start=1):
        ws.write_datetime(r, 0, datetime(2026, 3, 2), day)
        ws.write_row(r, 1, ["Acme", description])
        for col, cell in enumerate(cells, start=3):
            if isinstance(cell, tuple):
                ws.write_formula(r, col, cell[0].format(r=r + 1), None, cell[1])
            elif isinstance(cell, str) and cell.startswith("="):
                ws.write_formula(r, col, cell.format(r=r + 1), None, 0)
            elif cell is not None:
                ws.write(r, col, cell)
    ws.write_row(10, 1, ["Acme", "Date not typed yet", 1])
    ws.write_formula(10, 4, lookup.format(r=11), None, 0)
    ws.write_formula(10, 5, "=D11*E11", None, 0)
    wb.close()


def test_a_formula_saved_with_the_result_0_is_never_billed_as_0(tmp_path: Path) -> None:
    """The log a script wrote, opened and saved in LibreOffice as it is set by default: the
    0s stand as results, and nothing asks for recalculation. A new line whose Quantity,
    Unit Price or Amount is such a formula is a row error saying how to recalculate,
    unless a 0 typed on the line says zero is meant; billed rows are left alone."""
    path = tmp_path / "saved_in_libreoffice.xlsx"
    _script_made_log(path)
    _saved_without_recalculating(path)
    data = read_workbook(path, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [(line.row, line.amount) for line in lines] == [
        (4, Decimal("420.00")), (5, Decimal("0.00")), (6, Decimal("0.00")),
        (8, Decimal("0.00"))]  # fmt: skip
    assert [(e.row, e.column) for e in errors.values()] == [
        (2, "Unit Price"), (3, "Amount"), (7, "Amount"), (9, "Quantity"), (11, "Date")]  # fmt: skip
    assert errors[2].message == (
        "the formula =VLOOKUP(B2,Prices!A:B,2,FALSE) in Unit Price was saved with the result 0: "
        "if 0 is right, type 0 in its place; if not, the workbook was saved without working its "
        "formulas out, so recalculate them (in LibreOffice: Data > Calculate > Recalculate Hard, "
        "Ctrl+Shift+F9), save, and run again."
    )
    assert "=ROUND(400*1.05,2) in Amount was saved with the result 0" in errors[3].message


def test_the_stand_in_0s_of_a_log_asking_for_recalculation_stay_no_results(
    tmp_path: Path,
) -> None:
    """The same log as XlsxWriter wrote it (recalculation asked for on open): its 0s are
    results never worked out, as before: plain arithmetic on the row is worked out
    (=ROUND(400*1.05,2) is 420), any other such formula is a row error asking for the
    workbook to be saved with its results."""
    path = tmp_path / "exported.xlsx"
    _script_made_log(path)
    data = read_workbook(path, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert [(line.row, line.amount) for line in lines] == [
        (3, Decimal("420.00")), (4, Decimal("420.00")), (5, Decimal("0.00")),
        (7, Decimal("200.00"))]  # fmt: skip
    assert [(e.row, e.column) for e in errors.values()] == [
        (2, "Unit Price"), (6, "Unit Price"), (8, "Unit Price"), (9, "Quantity"),
        (11, "Unit Price")]  # fmt: skip
    assert errors[2].message.endswith(
        "open it in Excel and save it, or in LibreOffice recalculate first (Data > Calculate > "
        "Recalculate Hard, Ctrl+Shift+F9) and save it, then run again."
    )


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_log_saved_in_libreoffice_without_recalculating_bills_no_stand_in_0(
    folder: Folder, tmp_path: Path
) -> None:
    """Told to open the script's log in LibreOffice and save it, the bookkeeper did, with
    LibreOffice's default (formulas of an .xlsx not recalculated on load): the lines whose
    results are the script's 0s were billed at $0.00 and marked Invoiced. They wait now,
    Status Error, and the rest of the lines are billed (exit 1)."""
    made = tmp_path / "made" / "log.xlsx"
    made.parent.mkdir()
    _script_made_log(made)
    profile = tmp_path / "lo"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><oor:items '
        'xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<item oor:path="/org.openoffice.Office.Calc/Formula/Load">'
        '<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>1</value></prop></item>'
        "</oor:items>"
    )  # 1: never recalculate, LibreOffice's default
    out = tmp_path / "saved"
    cmd = [str(shutil.which("soffice")), f"-env:UserInstallation=file://{profile}",
           "--headless", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out),
           str(made)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shutil.copy(out / "log.xlsx", folder.workbook)
    assert folder.run("--as-of", "2026-03-09") == 1
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    status = dict(zip(services.index + 2, services["Status"].fillna(""), strict=True))
    assert status == {2: "Error", 3: "Error", 4: "Invoiced", 5: "Invoiced", 6: "Invoiced",
                      7: "Error", 8: "Invoiced", 9: "Error", 10: "", 11: "Error"}  # fmt: skip
    assert "in Unit Price was saved with the result 0: if 0 is right" in services["Error"][0]
    invoices = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert invoices["Total"].tolist() == [420]
    assert len(folder.received) == 1


@pytest.mark.parametrize(
    ("formula", "worked_out"),
    [("D7*E7", True), ("$E$7 * $D$7", True), ("[@Quantity]*[@[Unit Price]]", True),
     ("tblServices[[#This Row],[Quantity]]*tblServices[[#This Row],[Unit Price]]", True),
     ("D7*E7*0.9", False), ("D8*E8", False), ("D7+E7", False), ("[@Quantity]*[@Amount]", False)],
)  # fmt: skip
def test_an_unsaved_amount_is_worked_out_only_when_it_is_quantity_times_price(
    formula: str, worked_out: bool
) -> None:
    headers = {c: c for c in ("Date", "Client", "Description", "Quantity", "Unit Price", "Amount")}
    sheet = SheetData("Services", 1, headers, frozenset(headers), pd.DataFrame(),
                      columns={c: i for i, c in enumerate(headers, start=1)})  # fmt: skip
    assert validate._is_product(validate._Product.of(sheet), 7, formula) is worked_out


def test_hours_typed_as_a_time_say_how_to_type_them(tmp_path: Path) -> None:
    """A Quantity formatted [h]:mm (26:00) or h:mm (1:30) is a time to the reader: the row
    error says to type hours as a number, with the number to type."""
    import xlsxwriter
    from conftest import CLIENT_HEADERS

    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    hours = wb.add_format({"num_format": "[h]:mm"})
    clock = wb.add_format({"num_format": "h:mm"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price"])
    for r, (quantity, style) in enumerate([(26 / 24, hours), (1.5 / 24, clock)], start=1):
        ws.write_datetime(r, 0, datetime(2026, 3, 2), wb.add_format({"num_format": "yyyy-mm-dd"}))
        ws.write_row(r, 1, ["Acme", "Advice"])
        ws.write_number(r, 3, quantity, style)
        ws.write_number(r, 4, 80)
    wb.close()
    data = read_workbook(path, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert lines == []
    assert [(e.row, e.column, e.message) for e in errors.values()] == [
        (2, "Quantity", "26:00 is a time, not a number; type hours as a number (26.00 for "
         "26:00) and format the cell as a number."),
        (3, "Quantity", "1:30 is a time, not a number; type hours as a number (1.50 for 1:30) "
         "and format the cell as a number."),
    ]  # fmt: skip


def test_a_column_named_otherwise_is_not_left_unread(tmp_path: Path) -> None:
    """"Qty" for Quantity: unread, every line would be billed as one; the workbook is refused
    with the two ways out, and with the rename in billing.toml it is read."""
    import openpyxl

    from automation.config import parse_config
    from automation.read import WorkbookError

    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], [])
    wb = openpyxl.load_workbook(book)
    ws = wb["Services"]
    for cell in ws[1]:
        if cell.value == "Quantity":
            cell.value = "Qty"
    ws.append([datetime(2026, 3, 2), "Acme", "Work", 3, 45.5])
    wb.save(book)
    with pytest.raises(WorkbookError, match="has no Quantity column, but has 'Qty'"):
        read_workbook(book, Config())
    config = parse_config({"columns": {"Services": {"Quantity": "Qty"}}})
    data = read_workbook(book, config)
    lines, errors = validate_services(data.services, validate_clients(data.clients, config))
    assert [(line.quantity, line.amount) for line in lines] == [(Decimal(3), Decimal("136.50"))]


@pytest.mark.parametrize(
    ("sheet", "header", "column", "harm"),
    [("Services", "Invoice Number", "Invoice No", "the lines numbered there would be billed again"),
     ("Invoices", "Amount Paid", "Paid Amount", "paid invoices would be reminded"),
     ("Invoices", "Date paid", "Paid Date", "paid invoices would be reminded")],
)  # fmt: skip
def test_an_invoice_number_or_payment_column_named_otherwise_is_not_left_unread(
    tmp_path: Path, sheet: str, header: str, column: str, harm: str
) -> None:
    """A log kept before the tool: "Invoice Number" on its billed lines, "Amount Paid" on its
    invoices. Left unread, history would be billed again and payers reminded: refused, with
    the rename that reads it."""
    import openpyxl

    from automation.config import parse_config
    from automation.read import WorkbookError

    services = [service(date(2025, 6, 2), "Acme", "Old work", 1, 400, **{"Invoice No": "2025-031"})]
    invoices = [{"Invoice No": "2025-031", "Client": "Acme", "Total": 400, "Paid Amount": 400,
                 "Paid Date": datetime(2025, 7, 1)}]  # fmt: skip
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")], services, invoices=invoices)
    wb = openpyxl.load_workbook(book)
    for cell in wb[sheet][1]:
        if cell.value == column:
            cell.value = header
    wb.save(book)
    with pytest.raises(WorkbookError) as caught:
        read_workbook(book, Config())
    said = str(caught.value)
    assert f"has no {column} column, but has {header!r}" in said and harm in said
    assert f'[columns.{sheet}] "{column}" = "{header}"' in said
    read_workbook(book, parse_config({"columns": {sheet: {column: header}}}))


X14_LIST = (
    b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    b'<x14:dataValidations count="1" '
    b'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    b'<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Lists!$A$1:$A$5'
    b"</xm:f></x14:formula1><xm:sqref>E2:E100</xm:sqref></x14:dataValidation>"
    b"</x14:dataValidations></ext></extLst></worksheet>"
)


def test_excels_own_formulas_past_the_cells_are_no_cells(tmp_path: Path) -> None:
    """Excel keeps the formulas of a drop-down fed from another sheet and of a data bar's
    fixed limits after the cells (`<xm:f>` in extLst): they are not the last cell's
    formula saved without its result (that withheld the newest line every week)."""
    import zipfile

    import xlsxwriter
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    made = tmp_path / "made.xlsx"
    book = xlsxwriter.Workbook(str(made))
    clients = book.add_worksheet("Clients")
    clients.write_row(0, 0, CLIENT_HEADERS)
    for r, name in enumerate(("Acme", "Beta"), start=1):
        clients.write_row(r, 0, [name, f"ap@{name.lower()}.example", None, None, "Net 30"])
    services = book.add_worksheet("Services")
    services.write_row(0, 0, SERVICE_HEADERS)
    dated = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, (name, qty, price) in enumerate([("Acme", 2, 80), ("Beta", 1, 120.5)], start=1):
        services.write_datetime(r, 0, datetime(2026, 3, 2), dated)
        services.write_row(r, 1, [name, "Work", qty, price])
        services.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", None, qty * price)
    services.conditional_format("F2:F100", {
        "type": "data_bar", "data_bar_2010": True,
        "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 1000,
    })  # fmt: skip
    book.add_worksheet("Lists").write_column(0, 0, ["Net 30", "Net 15"])
    book.close()
    path = tmp_path / "log.xlsx"
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":  # Clients: a Terms drop-down
                part = part.replace(b"</worksheet>", X14_LIST)
            out.writestr(info, part)
    with zipfile.ZipFile(path) as archive:
        assert b"<xm:f>1000</xm:f>" in archive.read("xl/worksheets/sheet2.xml")
    data = read_workbook(path, Config())
    book_ = validate_clients(data.clients, Config())
    assert not book_.errors
    lines, errors = validate_services(data.services, book_)
    assert errors == {}
    assert [(line.row, line.amount) for line in lines] == [
        (2, Decimal("160.00")), (3, Decimal("120.50"))]  # fmt: skip


def test_an_amount_typed_as_the_rounded_yen_figure_is_billed(folder: Any) -> None:
    """0.5 x ¥37,783 is ¥18,891.5; a yen has no smaller unit, so ¥18,892 (what the tool
    bills with the Amount left empty) is the Amount to type. It was refused, asking for
    a half yen; a dollar Amount 50 cents off is still refused, new or rebilled."""
    write_workbook(
        folder.workbook,
        [client("Tanaka", Currency="JPY"), client("Smith")],
        [service(date(2026, 3, 2), "Tanaka", "Review", 0.5, 37783, Amount=18892),
         service(date(2026, 3, 2), "Smith", "Review", 0.5, 37783, Amount=18892)],
    )  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 1  # Smith's row is wrong
    frame = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(frame["Status"]) == ["Invoiced", "Error"]
    assert "does not equal Quantity x Unit Price" in frame["Error"][1]
    total = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")["Total"]
    assert list(total) == [18892]
    folder.type_in("Services", 3, Amount=Decimal("18891.5"))
    assert folder.run("--as-of", "2026-03-16") == 0  # the billed row is not taken as edited
    assert list(pd.read_excel(folder.workbook, "Invoices", engine="calamine")["Total"]) == [
        18892, 18891.5]  # fmt: skip
    folder.type_in("Services", 3, Amount=18892)
    folder.type_in("Invoices", 3, Status="Rebill")
    assert folder.run("--as-of", "2026-03-23") == 1
    sheet = pd.read_excel(folder.workbook, sheet_name="Invoices", engine="calamine")
    assert len(sheet) == 2 and "Rebill waits: Services row 3, Amount" in str(list(sheet["Note"]))
