"""The receivables report: buckets, per-client totals, currencies kept apart."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from automation.report import (
    AGING_BUCKETS,
    AGING_SHEET,
    CLIENT_HEADERS,
    CLIENT_SHEET,
    OPEN_HEADERS,
    OPEN_SHEET,
    OWED_HEADERS,
    OWED_SHEET,
    Receivable,
    ReportError,
    aging_bucket,
    aging_rows,
    currency_totals,
    open_items,
    owed_items,
    write_receivables_report,
)

AS_OF = date(2026, 6, 30)


def receivable(
    no: str,
    client: str,
    days_overdue: int,
    balance: str,
    currency: str = "USD",
    total: str | None = None,
) -> Receivable:
    due = AS_OF - timedelta(days=days_overdue)
    total_amount = Decimal(total if total is not None else balance)
    return Receivable(
        invoice_no=no,
        client=client,
        currency=currency,
        invoice_date=due - timedelta(days=30),
        due_date=due,
        total=total_amount,
        paid=total_amount - Decimal(balance),
        balance=Decimal(balance),
        status="Overdue" if days_overdue > 0 else "Sent",
    )


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "Current"),
        (0, "Current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "Over 90"),
        (400, "Over 90"),
    ],
)
def test_aging_bucket_edges(days: int, bucket: str) -> None:
    assert aging_bucket(AS_OF - timedelta(days=days), AS_OF) == bucket


ITEMS = [
    receivable("INV-1", "Acme Ltd", 0, "100.00"),
    receivable("INV-2", "Acme Ltd", 1, "10.10"),
    receivable("INV-3", "Acme Ltd", 30, "20.20"),
    receivable("INV-4", "Acme Ltd", 31, "30.30"),
    receivable("INV-5", "Acme Ltd", 60, "0.05"),
    receivable("INV-6", "Acme Ltd", 61, "61.00"),
    receivable("INV-7", "Acme Ltd", 90, "9.00"),
    receivable("INV-8", "Acme Ltd", 91, "91.00"),
    receivable("INV-9", "Beta GmbH", 45, "500.00", "EUR"),
    receivable("INV-10", "Acme Ltd", 10, "7.00", "EUR"),
    receivable("INV-11", "Beta GmbH", 5, "1000", "JPY"),
    receivable("INV-12", "Paid Up Inc", 70, "0.00", total="250.00"),
    receivable("INV-13", "Acme Ltd", 200, "-5.00", total="100.00"),
]


def test_aging_rows_sum_per_client_and_currency() -> None:
    rows = {(r.client, r.currency): r.buckets for r in aging_rows(ITEMS, AS_OF)}
    d = Decimal
    usd = ("100.00", "30.30", "30.35", "70.00", "91.00")
    assert rows[("Acme Ltd", "USD")] == tuple(d(x) for x in usd)
    assert rows[("Acme Ltd", "EUR")] == (d(0), d("7.00"), d(0), d(0), d(0))
    assert rows[("Beta GmbH", "EUR")] == (d(0), d(0), d("500.00"), d(0), d(0))
    assert ("Paid Up Inc", "USD") not in rows
    totals = currency_totals(aging_rows(ITEMS, AS_OF))
    assert totals["EUR"] == (d(0), d("7.00"), d("500.00"), d(0), d(0))
    assert sum(totals["USD"]) == d("321.65")
    assert sum(totals["JPY"]) == d("1000")


def test_one_days_invoices_are_listed_in_the_order_they_were_issued() -> None:
    # "N{seq}" numbers: as text N10 comes before N2.
    due = [receivable(n, "Acme Ltd", 5, "10.00") for n in ("N10", "N2", "N9")]
    assert [r.invoice_no for r in open_items(due)] == ["N2", "N9", "N10"]
    owed = [receivable(n, "Acme Ltd", 5, "-10.00") for n in ("N10", "N2")]
    assert [r.invoice_no for r in owed_items(owed)] == ["N2", "N10"]


def test_report_file(tmp_path: Path) -> None:
    path = write_receivables_report(ITEMS, AS_OF, tmp_path / "reports")
    assert path == tmp_path / "reports" / "receivables-2026-06-30.xlsx"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left

    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [OPEN_SHEET, AGING_SHEET, CLIENT_SHEET, OWED_SHEET]
    for sheet in wb:  # a title with the as-of date on every sheet, and print set-up
        assert sheet["A1"].value.endswith("as of 2026-06-30"), sheet.title
        assert sheet.page_setup.orientation == "landscape"
        # One page wide (1 is the default, left out of the file), any number long.
        assert (sheet.page_setup.fitToWidth or 1) == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_margins.left == 0.5
    assert wb[OPEN_SHEET].print_title_rows == "$3:$3"

    open_ws = wb[OPEN_SHEET]
    values = list(open_ws.iter_rows(min_row=3, values_only=True))
    assert values[0] == OPEN_HEADERS
    # The due date aging counts from is the first: named so, as the Invoices sheet's Due
    # Date moves with a reissue.
    assert values[0][4] == "First Due Date"
    numbers = {row[0] for row in values[1:]}
    assert numbers == {f"INV-{n}" for n in range(1, 12)}  # paid and credit excluded
    assert open_ws.freeze_panes == "A4"
    assert open_ws.auto_filter.ref == "A3:L14"
    by_no = {row[0]: row for row in values[1:]}
    assert by_no["INV-8"][8:10] == (91, "Over 90")
    assert by_no["INV-1"][8:10] == (0, "Current")
    assert by_no["INV-3"][4].date() == date(2026, 5, 31)
    assert open_ws.cell(row=4, column=5).number_format == "yyyy-mm-dd"
    jpy_row = next(i for i, row in enumerate(values) if row[0] == "INV-11") + 3
    assert open_ws.cell(row=jpy_row, column=8).number_format == "#,##0"
    assert open_ws.cell(row=4, column=8).number_format == "#,##0.00"
    # Headers sit where their data sits: numbers and dates right, text left.
    header = {c.value: c.alignment.horizontal for c in open_ws[3]}
    assert header["Balance"] == header["Invoice Date"] == header["Days Overdue"] == "right"
    assert header["Client"] is None and header["Invoice No"] is None
    # Columns as wide as their content: the client names fit.
    widths = {c: open_ws.column_dimensions[c].width for c in "ABH"}
    assert widths["B"] >= len("Acme Ltd") + 2 and widths["B"] < 20
    assert widths["A"] >= len("Invoice No") and widths["H"] >= len("1,000")

    aging = wb[AGING_SHEET]
    assert len(aging._charts) == 3  # one per currency, each on its own scale
    table = list(aging.iter_rows(min_row=3, values_only=True))
    assert table[0] == ("Client", "Currency", *AGING_BUCKETS, "Total")
    lines = {(r[0], r[1]): r[2:8] for r in table[1:] if r[0]}
    assert lines[("Acme Ltd", "USD")] == (100.0, 30.3, 30.35, 70.0, 91.0, 321.65)
    assert lines[("Total EUR", "EUR")] == (0, 7.0, 500.0, 0, 0, 507.0)
    assert lines[("Total USD", "USD")] == lines[("Acme Ltd", "USD")]
    assert lines[("Total JPY", "JPY")][-1] == 1000
    assert not any(label == "Total" for label, _ in lines)  # no grand total across currencies

    client_ws = wb[CLIENT_SHEET]
    header, *by_client = (r for r in client_ws.iter_rows(min_row=3, values_only=True) if r[0])
    assert header == CLIENT_HEADERS
    # One header row, on every printed page; the client's name on every row under it.
    assert client_ws.print_title_rows == "$3:$3" and client_ws.freeze_panes == "A4"
    assert [(r[0], r[1]) for r in by_client if r[1] in ("INV-9", "INV-10", "INV-11")] == [
        ("Acme Ltd", "INV-10"), ("Beta GmbH", "INV-9"), ("Beta GmbH", "INV-11"),
    ]  # fmt: skip
    assert sorted({r[0] for r in by_client}) == ["Acme Ltd", "Beta GmbH"]
    totals = [(r[0], r[1], r[7]) for r in by_client if str(r[1]).startswith("Total")]
    assert totals == [
        ("Acme Ltd", "Total EUR", 7),
        ("Acme Ltd", "Total USD", 321.65),
        ("Beta GmbH", "Total EUR", 500),
        ("Beta GmbH", "Total JPY", 1000),
    ]
    assert len(client_ws.row_breaks.brk) == 1  # a page per client

    # Paid more than due: the money the firm owes back is listed, as a positive amount.
    owed = list(wb[OWED_SHEET].iter_rows(min_row=3, values_only=True))
    assert owed[0] == OWED_HEADERS
    assert [(r[0], r[1], r[7]) for r in owed[1:]] == [("INV-13", "Acme Ltd", 5)]
    assert wb[OWED_SHEET].cell(row=4, column=8).number_format == "#,##0.00"


needs_soffice = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdfinfo") is None,
    reason="needs LibreOffice and poppler-utils",
)


def printed(report: Path, pdf_dir: Path) -> Path:
    """The report as LibreOffice prints it, a PDF in `pdf_dir`."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation={Path(profile).as_uri()}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                str(pdf_dir),
                str(report),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    return pdf_dir / report.with_suffix(".pdf").name


@needs_soffice
def test_report_prints_one_page_wide(tmp_path: Path) -> None:
    many = ITEMS + [
        receivable(
            f"INV-{n}",
            f"Client with a rather long registered name {n} LLP",
            n % 120,
            f"{n * 1234.5:.2f}",
            ("USD", "EUR", "KZT")[n % 3],
        )
        for n in range(20, 50)
    ]
    pdf = printed(write_receivables_report(many, AS_OF, tmp_path), tmp_path / "pdf")
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info, re.M)
    assert len(sizes) == pages
    assert all(float(w) > float(h) for w, h in sizes)  # landscape, every page
    # One page wide: a sheet too wide would print its last columns on pages of their
    # own; here every page of a sheet holds its first and its last column.
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.split("\f")[:pages]
    clients = len({item.client for item in many if item.balance > 0})
    # Each page carries its sheet's name in the page header.
    client_pages = [p for p in text if CLIENT_SHEET in p]
    aging_pages = [p for p in text if AGING_SHEET in p and p not in client_pages]
    open_pages = [p for p in text if OPEN_SHEET in p and p not in client_pages + aging_pages]
    seen = client_pages + aging_pages + open_pages
    owed_pages = [p for p in text if OWED_SHEET in p and p not in seen]
    assert len(owed_pages) == 1 and "Owed Back" in owed_pages[0]  # INV-13, paid 5.00 over
    assert len(open_pages) + len(aging_pages) + len(client_pages) + len(owed_pages) == pages
    assert all("Invoice No" in p and "Credited" in p for p in open_pages)  # header repeated
    assert all("Client" in p and "Over 90" in p for p in aging_pages if "Currency" in p)
    assert len(client_pages) == clients  # a page per client, each whole
    assert all("Invoice No" in p and "Status" in p for p in client_pages)
    assert len(open_pages) <= 3 and len(aging_pages) <= 5


LOYAL = [receivable(f"INV-{n}", "Loyal Client", n, f"{100 + n}.00") for n in range(1, 101)]


def test_by_client_repeats_its_header_row(tmp_path: Path) -> None:
    """Excel repeats one range of rows per sheet: By client has one header row at the
    top, and the client's name in every row, subtotals included."""
    items = [*LOYAL, receivable("INV-200", "Acme Ltd", 3, "10.00")]
    ws = openpyxl.load_workbook(write_receivables_report(items, AS_OF, tmp_path))[CLIENT_SHEET]
    assert ws.print_title_rows == "$3:$3"
    assert [c.value for c in ws[3]] == list(CLIENT_HEADERS)
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0]]
    assert len(rows) == 1 + 1 + 100 + 1  # Acme: an invoice, its total; the loyal client's
    assert {r[0] for r in rows[2:]} == {"Loyal Client"}
    assert rows[-1][1:3] == ("Total USD", "USD")
    assert rows[-1][CLIENT_HEADERS.index("Balance")] == sum(100 + n for n in range(1, 101))


@needs_soffice
def test_by_client_prints_headers_and_client_on_every_page(tmp_path: Path) -> None:
    """A client with 100 open invoices prints over several pages: each has the column
    headings and names the client."""
    pdf = printed(write_receivables_report(LOYAL, AS_OF, tmp_path), tmp_path / "pdf")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.split("\f")[:-1]
    client_pages = [page for page in text if CLIENT_SHEET in page]
    assert len(client_pages) >= 2
    for page in client_pages:
        lines = [line.split() for line in page.splitlines() if line.strip()]
        heading = next(n for n, words in enumerate(lines) if words[:2] == ["Client", "Invoice"])
        assert lines[heading + 1][:2] == ["Loyal", "Client"]  # the first row under it


def test_report_with_nothing_open(tmp_path: Path) -> None:
    paid = [receivable("INV-1", "Acme Ltd", 3, "0", total="10")]
    path = write_receivables_report(paid, AS_OF, tmp_path)
    wb = openpyxl.load_workbook(path)
    assert wb[OPEN_SHEET].max_row == 3  # title, blank row, headers
    assert wb[AGING_SHEET]["A4"].value == "No open invoices."
    assert wb[CLIENT_SHEET]["A3"].value == "No open invoices."
    assert wb[AGING_SHEET]._charts == []


def test_report_replaces_last_copy(tmp_path: Path) -> None:
    first = write_receivables_report(ITEMS, AS_OF, tmp_path)
    second = write_receivables_report(ITEMS[:1], AS_OF, tmp_path)
    assert first == second
    assert openpyxl.load_workbook(second)[OPEN_SHEET].max_row == 4


def test_report_error_when_target_unwritable(tmp_path: Path) -> None:
    (tmp_path / "receivables-2026-06-30.xlsx").mkdir()  # a directory cannot be replaced by a file
    with pytest.raises(ReportError, match="receivables-2026-06-30.xlsx"):
        write_receivables_report(ITEMS, AS_OF, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["receivables-2026-06-30.xlsx"]


def test_dates_stored_as_write_datetime_stores_them(tmp_path: Path) -> None:
    """The report writes each date's serial number itself: the cells are XlsxWriter's own."""
    import xlsxwriter

    from automation.report import _Formats

    days = [date(1900, 1, 1), date(1900, 2, 28), date(1900, 3, 1), date(1999, 12, 31),
            date(2026, 6, 30), date(9999, 12, 31)]  # fmt: skip
    sheets = []
    for name in ("datetime", "serial"):
        workbook = xlsxwriter.Workbook(str(tmp_path / f"{name}.xlsx"))
        formats = _Formats(workbook)
        sheet = workbook.add_worksheet()
        for row, day in enumerate(days * 2):  # the second time from the cache
            if name == "datetime":
                sheet.write_datetime(row, 0, day, formats.date)
            else:
                sheet.write_number(row, 0, formats.serial(day), formats.date)
        workbook.close()
        with zipfile.ZipFile(tmp_path / f"{name}.xlsx") as package:
            sheets.append(package.read("xl/worksheets/sheet1.xml"))
    assert sheets[0] == sheets[1]
    assert b"<v>61</v>" in sheets[1] and b"<v>2958465</v>" in sheets[1]
    values = [c.value.date() for (c,) in openpyxl.load_workbook(tmp_path / "serial.xlsx").active]
    assert values == days * 2


def test_a_report_a_full_temporary_folder_stops_names_that_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xlsxwriter writes its parts in TMPDIR: when that disk was full, the bookkeeper was told
    "[Errno 28] No space left on device; close it if it is open in Excel"."""
    from xlsxwriter.exceptions import FileCreateError

    from automation import space
    from automation.report import cannot_write

    temp, real = tempfile.gettempdir(), shutil.disk_usage

    def usage(path: Path | str) -> Any:
        told = real(path)
        return told._replace(free=4096) if str(path) == temp else told

    monkeypatch.setattr(space.shutil, "disk_usage", usage)
    target = tmp_path / "reports" / "receivables-2026-03-09.xlsx"
    told = str(cannot_write(target, FileCreateError(OSError(28, "No space left on device"))))
    assert told.startswith(f"cannot write {target.name}: the disk of the temporary folder {temp}")
    assert "free some space there and run again" in told and "Excel" not in told
