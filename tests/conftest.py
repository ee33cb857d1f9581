"""Shared fixtures: workbooks built in code the way Excel writes them, a real
SMTP server on loopback, and a billing folder tying them together."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from hypothesis import settings

# No per-example deadline: a loaded CI machine must not turn a slow first
# look-up (a locale, a year of holidays) into a failure.
settings.register_profile("billing", deadline=None)
settings.load_profile("billing")

sys.path.insert(0, str(Path(__file__).parent))

from excel_rules import excel_problems, xlsx_files  # noqa: E402
from smtp_servers import Recorder, running_server  # noqa: E402

from automation.cli import main  # noqa: E402

CLIENT_HEADERS = [
    "Client",
    "Email",
    "CC",
    "Address",
    "Terms",
    "Currency",
    "Language",
    "Tax Rate",
    "Active",
]
SERVICE_HEADERS = [
    "Date",
    "Client",
    "Description",
    "Quantity",
    "Unit Price",
    "Amount",
    "Invoice No",
    "Due Date",
    "Status",
    "Error",
]


def client(name: str, **values: Any) -> dict[str, Any]:
    slug = "".join(ch for ch in name.lower() if ch.isalnum()) or "client"
    row = {"Client": name, "Email": f"{slug}@clients.example", "Terms": "Net 30"}
    row.update(values)
    return row


def service(
    day: date, client_name: str, description: str, qty: Any = 1, price: Any = 100, **values: Any
) -> dict[str, Any]:
    row = {
        "Date": day,
        "Client": client_name,
        "Description": description,
        "Quantity": qty,
        "Unit Price": price,
    }
    row.update(values)
    return row


def write_workbook(
    path: Path,
    clients: Sequence[dict[str, Any]],
    services: Sequence[dict[str, Any]],
    *,
    title_rows: int = 0,
    invoices: Sequence[dict[str, Any]] | None = None,
    extra: bool = False,
) -> Path:
    """An .xlsx as Excel leaves it: Amount as a formula with its cached value."""
    wb = xlsxwriter.Workbook(str(path))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    for r, row in enumerate(clients, start=1):
        for c, name in enumerate(CLIENT_HEADERS):
            if name in row and row[name] is not None:
                ws.write(r, c, row[name])
    ws = wb.add_worksheet("Services")
    for t in range(title_rows):
        ws.write(t, 0, f"Title line {t + 1}")
    header = title_rows
    ws.write_row(header, 0, SERVICE_HEADERS)
    for i, row in enumerate(services):
        r = header + 1 + i
        for c, name in enumerate(SERVICE_HEADERS):
            value = row.get(name)
            if name == "Amount" and "Amount" not in row:
                qty, price = row.get("Quantity"), row.get("Unit Price")
                if isinstance(qty, int | float) and isinstance(price, int | float):
                    ws.write_formula(r, c, f"=D{r + 1}*E{r + 1}", money, qty * price)
                continue
            if value is None:
                continue
            if isinstance(value, datetime | date) and not isinstance(value, str):
                ws.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            else:
                ws.write(r, c, value)
    if invoices is not None:
        ws = wb.add_worksheet("Invoices")
        headers = list(invoices[0]) if invoices else ["Invoice No"]
        ws.write_row(0, 0, headers)
        for r, row in enumerate(invoices, start=1):
            for c, name in enumerate(headers):
                if row.get(name) is not None:
                    ws.write(r, c, row[name])
    if extra:
        ws = wb.add_worksheet("Notes")
        ws.write(0, 0, "Keep me")
        ws.write_formula(1, 0, "=1+2", None, 3)
    wb.close()
    return path


@dataclass
class Folder:
    """A bookkeeper's billing folder: workbook, config, and a mail server."""

    root: Path
    recorder: Recorder
    port: int
    config_extra: str = ""
    workbook: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workbook = self.root / "service_log.xlsx"

    def write_config(self, extra: str = "", email: str = "") -> Path:
        text = f"""
[company]
name = "Ledgerwise Bookkeeping"
email = "billing@ledgerwise.example"
[billing]
workbook = "service_log.xlsx"
{extra}
[email]
mode = "smtp"
host = "127.0.0.1"
port = {self.port}
security = "none"
from = "billing@ledgerwise.example"
{email}
"""
        path = self.root / "billing.toml"
        path.write_text(text)
        return path

    def run(self, *args: str) -> int:
        return main(["--workbook", str(self.workbook), *args])

    def type_in(self, sheet: str, row: int, **cells: object) -> None:
        """Cells typed on an Excel `row` of `sheet` (headers in row 1) and saved, as the
        bookkeeper would: `Paid_Amount=...` is the Paid Amount column."""
        from automation.model import CellUpdate
        from automation.writeback import apply_updates

        updates = [CellUpdate(sheet, row, c.replace("_", " "), v) for c, v in cells.items()]
        apply_updates(self.workbook, updates, header_rows={sheet: 1})

    def row_of(self, sheet: str, column: str, value: object) -> int:
        """The Excel row of the first row of `sheet` whose `column` holds `value`."""
        import pandas as pd

        frame = pd.read_excel(self.workbook, sheet_name=sheet, engine="calamine")
        return int(list(frame[column]).index(value)) + 2

    @property
    def received(self) -> list[Any]:
        return self.recorder.received


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    with running_server(recorder) as port:
        yield recorder, port


@pytest.fixture
def folder(tmp_path: Path, smtp: tuple[Recorder, int]) -> Folder:
    recorder, port = smtp
    result = Folder(tmp_path, recorder, port)
    result.write_config()
    return result


@pytest.fixture(autouse=True)
def _excel_rules(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every workbook a test leaves in its tmp_path must pass Excel's file rules.

    Inputs built with XlsxWriter, workbooks the tool wrote back, backups and
    reports alike. A test that builds a deliberately broken file says so with
    ``@pytest.mark.broken_workbooks``.
    """
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is None or request.node.get_closest_marker("broken_workbooks"):
        return
    found = {str(p.relative_to(tmp)): excel_problems(p) for p in xlsx_files(tmp)}
    assert {name: problems for name, problems in found.items() if problems} == {}


def tables_within(container: Any) -> Iterator[Any]:
    """The tables of a python-docx document or cell, and those nested in their cells
    (an invoice's totals sit in a cell at the foot of its table of lines)."""
    from docx.table import _Cell

    for table in container.tables:
        yield table
        for row in table.rows:
            for tc in row._tr.tc_lst:  # each cell once, however many columns it spans
                yield from tables_within(_Cell(tc, table))
