"""The fast paths for a long history: same answers as the plain ones, history untouched."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from conftest import Folder, client, service, write_workbook

from automation.cells import cell_text
from automation.config import Config
from automation.read import read_workbook
from automation.render import PARALLEL_THRESHOLD
from automation.updates import UpdateSet, invoice_rows
from automation.validate import column_text

AS_OF = "2026-03-09"
HISTORY = 3000
CLIENTS = [f"Client {i:02d}" for i in range(20)]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def long_log(folder: Folder) -> None:
    """3,000 invoiced history rows (one invoice per client and week), 40 new lines."""
    services = []
    invoices = []
    seen: set[str] = set()
    for i in range(HISTORY):
        week = i // len(CLIENTS)
        number = f"INV-2025-{week * len(CLIENTS) + i % len(CLIENTS) + 1:04d}"
        day = date(2025, 1, 6) + timedelta(weeks=week % 50)
        services.append(
            service(day, CLIENTS[i % len(CLIENTS)], f"Visit {i}", 1, 50,
                    **{"Invoice No": number, "Due Date": day, "Status": "Invoiced"})
        )  # fmt: skip
        if number not in seen:
            seen.add(number)
            invoices.append({"Invoice No": number, "Client": CLIENTS[i % len(CLIENTS)],
                             "Total": 50, "Paid Amount": 50, "Status": "Paid"})  # fmt: skip
    for i in range(40):
        services.append(service(date(2026, 3, 2 + i % 5), CLIENTS[i % 20], f"New work {i}"))
    write_workbook(
        folder.workbook, [client(name) for name in CLIENTS], services, invoices=invoices,
        extra=True,
    )  # fmt: skip


def test_second_run_on_a_long_log_writes_nothing_and_leaves_history(folder: Folder) -> None:
    long_log(folder)
    before = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == len(CLIENTS)
    after = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    pd.testing.assert_frame_equal(before.iloc[:HISTORY], after.iloc[:HISTORY])
    # Numbering continues above the history's numbers of the same year only.
    assert set(after["Invoice No"].iloc[HISTORY:]) == {f"INV-2026-{n:04d}" for n in range(1, 21)}

    written = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 0
    assert digest(folder.workbook) == written
    assert len(folder.received) == len(CLIENTS)


def test_column_text_is_cell_text_for_every_kind_of_cell() -> None:
    values = ["  INV-1 ", None, float("nan"), 7.0, 7.5, datetime(2026, 1, 2), "", "  ", "NA",
              3, pd.NaT, True, pd.NA]  # fmt: skip
    column = pd.Series(values, dtype=object, index=range(5, 5 + len(values)))
    assert column_text(column).tolist() == column.map(cell_text).tolist()
    assert column_text(column).index.equals(column.index)


def test_invoice_rows_for_some_numbers_match_all_rows(folder: Folder) -> None:
    long_log(folder)
    data = read_workbook(folder.workbook, Config())
    as_of = date.fromisoformat(AS_OF)
    every = invoice_rows(data.invoices, as_of)
    wanted = {"INV-2025-0001", "INV-2025-0150", "INV-2099-0001"}
    some = invoice_rows(data.invoices, as_of, wanted)
    assert some == {n: every[n] for n in wanted if n in every}
    assert len(some) == 2


def test_update_set_compares_with_the_cells_present(folder: Folder) -> None:
    long_log(folder)
    data = read_workbook(folder.workbook, Config())
    services, h = data.services, data.services.headers
    updates = UpdateSet()
    updates.set(services, services.name, 2, "Status", "Invoiced", h)  # unchanged
    updates.set(services, services.name, 2, "Error", None, h)  # blank stays blank
    updates.set(services, services.name, 3, "Status", "Error", h)
    updates.set(services, services.name, HISTORY + 500, "Status", None, h)  # no such row
    updates.set(services, services.name, HISTORY + 500, "Status", "Invoiced", h)
    assert [(u.row, u.column, u.value) for u in updates.values()] == [
        (3, "Status", "Error"),
        (HISTORY + 500, "Status", "Invoiced"),
    ]


def test_update_set_compares_dates_with_the_dates_present(folder: Folder) -> None:
    long_log(folder)
    data = read_workbook(folder.workbook, Config())
    services, h = data.services, data.services.headers
    shown = services.frame["Due Date"].iloc[0].date()
    updates = UpdateSet()
    updates.set(services, services.name, 2, "Due Date", shown, h)  # unchanged
    updates.set(services, services.name, 3, "Due Date", date(2027, 1, 1), h)
    updates.set(services, services.name, HISTORY + 2, "Due Date", None, h)  # a new line's: empty
    updates.set(services, services.name, HISTORY + 3, "Due Date", date(2026, 4, 1), h)
    assert [(u.row, u.value) for u in updates.values()] == [
        (3, date(2027, 1, 1)),
        (HISTORY + 3, date(2026, 4, 1)),
    ]


def test_messages_built_in_the_render_workers_carry_their_own_invoice(folder: Folder) -> None:
    names = [f"Firm {i:02d}" for i in range(PARALLEL_THRESHOLD + 5)]  # enough for workers
    write_workbook(folder.workbook, [client(n) for n in names],
                   [service(date(2026, 3, 2), n, f"Audit {n}", 1, 100 + i)
                    for i, n in enumerate(names)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == len(names)
    for received in folder.received:
        message = received.message
        number = message["X-Invoice-No"]
        (part,) = [p for p in message.iter_attachments()]
        assert part.get_filename() == f"{number}.docx"
        on_disk = folder.root / "invoices" / "2026" / f"{number}.docx"
        assert part.get_content() == on_disk.read_bytes()
        text = message.get_body(("plain",)).get_content()
        assert number in text and number in str(message["Subject"])
    assert len({r.message["Message-ID"] for r in folder.received}) == len(names)


def test_sequence_checks_look_at_each_number_once_and_report_every_row(folder: Folder) -> None:
    from automation.reconcile import existing_seq_floor, sequence_errors

    too_long = "INV-2026-" + "9" * 12
    rows = [
        service(date(2026, 3, 2), "Client 00", f"Visit {i}", **{"Invoice No": number})
        for i, number in enumerate(["INV-2026-0007", too_long, "INV-2026-0007", too_long,
                                    "INV-2025-0900", "inv 12", "INV-2026-000000031"])
    ]  # fmt: skip
    invoices = [{"Invoice No": too_long, "Client": "Client 00", "Total": 50}]
    write_workbook(folder.workbook, [client("Client 00")], rows, invoices=invoices)
    config = Config()
    data = read_workbook(folder.workbook, config)
    errors = sequence_errors(data, config)
    assert [(e.sheet, e.row) for e in errors] == [("Services", 3), ("Services", 5), ("Invoices", 2)]
    assert all("12 digits" in e.message for e in errors)
    assert existing_seq_floor(data, config, date(2026, 3, 9)) == 31  # not the 12-digit one
