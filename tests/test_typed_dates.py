"""Dates typed as text, services dated ahead, and what `check` says about them."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation.cells import CellError, cell_date
from automation.cli import main
from automation.config import ConfigError, parse_config
from automation.datetext import DateTextError, read_date_text
from automation.notices import one_year_after

AS_OF = "2026-03-09"


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-05", "", date(2026, 3, 5)),
        ("2026-03-05 14:30", "", date(2026, 3, 5)),
        ("2026-03-05T14:30:00", "", date(2026, 3, 5)),
        ("05.03.2026", "", date(2026, 3, 5)),
        ("5.3.2026", "MDY", date(2026, 3, 5)),  # dots are day first, whatever the order
        ("5 Mar 2026", "", date(2026, 3, 5)),
        ("5 March 2026", "", date(2026, 3, 5)),
        ("05-Mar-2026", "", date(2026, 3, 5)),
        ("March 5, 2026", "", date(2026, 3, 5)),
        ("Sept 30 2026", "", date(2026, 9, 30)),
        ("  march   5,  2026 ", "", date(2026, 3, 5)),
        ("05/03/2026", "DMY", date(2026, 3, 5)),
        ("05/03/2026", "MDY", date(2026, 5, 3)),
        ("05/03/2026", "dmy", date(2026, 3, 5)),
        ("25/03/2026", "", date(2026, 3, 25)),  # only one reading
        ("03/25/2026", "", date(2026, 3, 25)),
        ("03/03/2026", "", date(2026, 3, 3)),  # both readings are the same day
    ],
)
def test_unambiguous_forms_are_read(text: str, order: str, expected: date) -> None:
    assert read_date_text(text, order) == expected


@pytest.mark.parametrize(
    ("text", "order", "message"),
    [
        ("05/03/2026", "", '"05/03/2026" could be 5 March 2026 or 3 May 2026'),
        ("12/03/2026", "", "12 March 2026 or 3 December 2026"),
        ("25/03/2026", "MDY", 'not a real date with the month first (date_order = "MDY" in '
         "billing.toml); type it as 2026-03-25 if you meant 25 March 2026."),
        ("03/25/2026", "DMY", "not a real date with the day first"),
        ("31/02/2026", "DMY", '"31/02/2026" is not a real date.'),  # real in neither order
        ("31.02.2026", "", "not a real date"),
        ("5 Foo 2026", "", "is not a date"),
        ("05/03/26", "", "is not a date; type it as a date, e.g. 2026-03-05"),
        ("next Tuesday", "", "is not a date"),
    ],
)
def test_other_text_is_refused_with_what_to_type(text: str, order: str, message: str) -> None:
    with pytest.raises(DateTextError, match=re.escape(message)):
        read_date_text(text, order)


def test_ambiguous_message_names_both_readings_and_the_setting() -> None:
    with pytest.raises(CellError) as caught:
        cell_date("05/03/2026")
    text = str(caught.value)
    assert "2026-03-05 or 2026-05-03" in text and 'date_order = "DMY" or "MDY"' in text


def test_date_order_is_checked_in_the_config() -> None:
    assert parse_config({"billing": {"date_order": "MDY"}}).billing.date_order == "MDY"
    with pytest.raises(ConfigError, match="date_order"):
        parse_config({"billing": {"date_order": "YMD"}})


def test_one_year_after_a_leap_day() -> None:
    assert one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)


def us_and_text_dates(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd"), client("Beta LLC")],
        [
            service("12/03/2026", "Acme Ltd", "Ambiguous slash date"),
            service("25/02/2026", "Acme Ltd", "Only one reading"),
            service("5 Mar 2026", "Beta LLC", "Month name"),
            service(date(2026, 3, 20), "Beta LLC", "Next week"),
            service(date(2026, 3, 12), "Acme Ltd", "This week, still ahead"),
            service(date(2027, 6, 1), "Beta LLC", "A typo in the year"),
            service("05.03.1926", "Beta LLC", "A typo a century back"),
        ],
    )


def test_check_names_both_readings_and_says_what_waits(folder: Folder, capsys) -> None:
    us_and_text_dates(folder)
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 1
    out = capsys.readouterr().out
    assert (
        'Services row 2, Date: "12/03/2026" could be 12 March 2026 or 3 December 2026'
        in " ".join(out.split())
    )
    assert "Services row 7, Date: the date 2027-06-01 is more than a year after 2026-03-09" in out
    assert (
        "Services row 8, Date: the date 1926-03-05 is more than 5 years before 2026-03-09; "
        "check the year" in " ".join(out.split())
    )
    assert "2 services wait until billable; the first becomes billable on 2026-03-12." in out
    assert "row 3" not in out and "row 4" not in out


def test_run_bills_what_it_can_read_and_writes_the_errors(folder: Folder, capsys) -> None:
    us_and_text_dates(folder)
    assert folder.run("--as-of", AS_OF) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "2 services wait until billable; the first becomes billable on 2026-03-12." in out
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    status = services["Status"].fillna("").tolist()
    assert status == ["Error", "Invoiced", "Invoiced", "", "", "Error", "Error"]
    assert "could be 12 March 2026 or 3 December 2026" in services["Error"][0]
    assert "more than a year after" in services["Error"][5]


def test_date_order_decides_slash_dates(folder: Folder) -> None:
    us_and_text_dates(folder)
    folder.write_config(extra='date_order = "MDY"')
    assert folder.run("--as-of", "2026-12-04") == 1
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    # 12/03 is December 3 (billable on the 4th); 25/02 has no month 25; 2027-06-01 now waits.
    assert services["Status"].fillna("").tolist() == [
        "Invoiced",
        "Error",
        "Invoiced",
        "Invoiced",
        "Invoiced",
        "",
        "Error",
    ]
    assert "not a real date" in services["Error"][1]


def test_text_date_readings_reach_the_invoice(tmp_path: Path) -> None:
    # The whole path: 12/03/2026 with date_order DMY is 12 March on the line.
    from automation.config import BillingConfig, Config
    from automation.read import read_workbook
    from automation.validate import validate_clients, validate_services

    book = write_workbook(
        tmp_path / "log.xlsx", [client("Acme")], [service("12/03/2026", "Acme", "Work")]
    )
    config = Config(billing=BillingConfig(date_order="DMY"))
    data = read_workbook(book, config)
    lines, errors = validate_services(data.services, validate_clients(data.clients, config))
    assert errors == {} and lines[0].service_date == date(2026, 3, 12)


def test_a_date_formatted_as_a_duration_is_told_in_plain_words(folder: Folder, capsys) -> None:
    """A day typed into a cell formatted `[h]:mm` is read as a duration (46086 days): the
    Error says how to format the cell, never a program's value (`datetime.timedelta(...)`)."""
    import xlsxwriter
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    path = folder.workbook
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, [client("Acme").get(h, "") for h in CLIENT_HEADERS])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    hours = wb.add_format({"num_format": "[h]:mm"})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for r, fmt in ((1, hours), (2, day)):
        ws.write_datetime(r, 0, datetime(2026, 3, 5), fmt)
        ws.write_row(r, 1, ["Acme", "Bookkeeping", 1, 100])
    wb.close()
    assert main(["check", "--workbook", str(path), "--as-of", AS_OF]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "Services row 2, Date: the cell is formatted as a time or a duration (such as [h]:mm), "
        "not as a date; format it as a date (Format Cells > Date)" in out
    )
    assert "timedelta" not in out and "row 3" not in out
