"""Monthly statements kept back (a Hold, a refusing server) go as one, never several at once.

A client whose statements waited for months gets, at the first run that may send
them, one statement from the first month kept back to the last month due, as
after months with no run; the months are stated, so nothing of them goes again.
"""

from __future__ import annotations

from datetime import date

import pytest
from conftest import Folder, client, service, write_workbook
from test_statement import numbers_of, pay, statement_lines, statements_to, type_in


def test_statements_held_for_months_go_as_one_when_the_hold_is_cleared(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """October's statement is sent; then an invoice goes on Hold, and November's and
    December's wait. Cleared in January: one statement, November 1 to December 31,
    opening with October's closing balance; a rerun and a later run send nothing, and
    January's follows on from it."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 10, 1), "Ames", "October work", 1, 1000)])  # fmt: skip
    assert folder.run("--as-of", "2026-10-01") == 0
    assert folder.run("--as-of", "2026-11-03") == 0  # October's statement
    (first,) = numbers_of(folder, "Ames")
    type_in(folder, first, Status="Hold")
    folder.type_in("Services", 3, Date=date(2026, 11, 15), Client="Ames",
                   Description="November payroll", Quantity=1, Unit_Price=200,
                   Amount=200)  # fmt: skip
    assert folder.run("--as-of", "2026-11-16") == 0
    capsys.readouterr()
    assert folder.run("--as-of", "2026-12-03") == 0
    assert "Statement for Ames (2026-11) waits" in capsys.readouterr().out
    assert folder.run("--as-of", "2027-01-04") == 0
    assert "Statement for Ames (2026-11 to 2026-12) waits" in capsys.readouterr().out
    assert len(statements_to(folder, "Ames")) == 1
    assert folder.run("--as-of", "2027-01-05", "--dry-run") == 0  # the dry run tells it too
    assert "Statement for Ames (2026-11 to 2026-12) waits" in capsys.readouterr().out
    pay(folder, first, "300", date(2027, 1, 8))
    type_in(folder, first, Status=None)
    assert folder.run("--as-of", "2027-01-11", "--dry-run") == 0  # and that it goes now
    shown = capsys.readouterr().out
    assert "Nothing to send" not in shown and "statement" in shown and "Ames" in shown
    assert folder.run("--as-of", "2027-01-11") == 0
    october, held = statements_to(folder, "Ames")
    assert held["Subject"] == (
        "Statement of account for November 1, 2026 – December 31, 2026: $1,200.00 due"
    )
    lines = statement_lines(held)
    assert lines[0][1:] == ["Balance brought forward", "", "", "$1,000.00"]  # October's close
    assert statement_lines(october)[-1][1:] == ["Closing balance", "", "", "$1,000.00"]
    assert lines[-1][1:] == ["Closing balance", "", "", "$1,200.00"]
    kept = folder.root / "account-statements" / "2026"
    assert sorted(p.name for p in kept.glob("*.docx")) == [
        "Ames-2026-10-31.docx", "Ames-2026-11-01-2026-12-31.docx"
    ]  # fmt: skip
    assert folder.run("--as-of", "2027-01-11") == 0  # a rerun sends nothing
    assert folder.run("--as-of", "2027-01-18") == 0  # nor a later run that month
    assert len(statements_to(folder, "Ames")) == 2
    assert folder.run("--as-of", "2027-02-03") == 0  # January's, following on
    january = statements_to(folder, "Ames")[-1]
    assert january["Subject"].startswith(
        "Statement of account for January 1, 2027 – January 31, 2027"
    )
    assert statement_lines(january)[0][1:] == ["Balance brought forward", "", "", "$1,200.00"]
    assert len(statements_to(folder, "Ames")) == 3


def test_a_first_statement_held_for_months_covers_every_month_held(folder: Folder) -> None:
    """A client never sent a statement, on Hold from its first month: cleared, it gets one
    statement from the first month held, not one per month (nor only the last)."""
    folder.write_config(extra='default_terms = "Net 30"\n[statements]\nday = 3')
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2025, 6, 1), "Ames", "June bookkeeping", 1, 100)])  # fmt: skip
    assert folder.run("--as-of", "2025-06-02") == 0
    type_in(folder, numbers_of(folder, "Ames")[0], Status="Hold")
    for day in ("2025-07-07", "2025-08-04", "2025-09-08"):
        assert folder.run("--as-of", day) == 0
    assert statements_to(folder, "Ames") == []
    type_in(folder, numbers_of(folder, "Ames")[0], Status=None)
    assert folder.run("--as-of", "2025-09-15") == 0
    (mail,) = statements_to(folder, "Ames")
    assert mail["Subject"] == (
        "Statement of account for June 1, 2025 – August 31, 2025: $100.00 due"
    )
    assert folder.run("--as-of", "2025-09-15") == 0
    assert len(statements_to(folder, "Ames")) == 1


def test_a_refused_statement_and_the_next_months_go_as_one(folder: Folder) -> None:
    """October's statement is refused, and still is when November's is due: once the
    server takes mail again, the client gets one statement for October and November."""
    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 9, 28), "Ames", "Bookkeeping", 1, 1000)])  # fmt: skip
    assert folder.run("--as-of", "2026-10-01") == 0  # invoiced
    folder.recorder.refuse = frozenset({"ames@clients.example"})
    assert folder.run("--as-of", "2026-11-01") == 1
    assert folder.run("--as-of", "2026-12-01") == 1
    folder.recorder.refuse = frozenset()
    assert folder.run("--as-of", "2026-12-07") == 0
    (mail,) = statements_to(folder, "Ames")
    assert mail["Subject"] == (
        "Statement of account for October 1, 2026 – November 30, 2026: $1,000.00 due"
    )
    assert folder.run("--as-of", "2026-12-14") == 0
    assert len(statements_to(folder, "Ames")) == 1


@pytest.mark.parametrize(
    ("column", "wrong", "right"),
    [("Language", "de", "en"), ("Email", "ames@@clients.example", "ames@clients.example")],
)
def test_a_statement_kept_back_by_the_clients_row_goes_at_the_first_run_after_the_fix(
    folder: Folder, capsys: pytest.CaptureFixture[str], column: str, wrong: str, right: str
) -> None:
    """March's statement is due while the client's row stops its mail: the run says so and
    sends nothing. Fixed the next day: March's statement goes at that run (the dry run says
    so first), once; May's run sends April's, following on from it."""
    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 3, 2), "Ames", "Bookkeeping", 1, 250)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-20") == 0
    folder.type_in("Clients", 2, **{column: wrong})
    capsys.readouterr()
    assert folder.run("--as-of", "2026-04-01", "--dry-run") == 1
    preview = capsys.readouterr().out
    assert "statement of account" not in preview  # it would not go: the row stops it
    assert "no reminder, payment note or statement goes" in preview
    assert folder.run("--as-of", "2026-04-01") == 1
    assert "no reminder, payment note or statement goes" in capsys.readouterr().out
    assert statements_to(folder, "Ames") == []
    folder.type_in("Clients", 2, **{column: right})
    assert folder.run("--as-of", "2026-04-02", "--dry-run") == 0
    preview = capsys.readouterr().out
    assert "statement of account" in preview and "Ames" in preview
    assert folder.run("--as-of", "2026-04-02") == 0
    (march,) = statements_to(folder, "Ames")
    assert march["Subject"] == (
        "Statement of account for March 1, 2026 – March 31, 2026: $250.00 due"
    )
    assert folder.run("--as-of", "2026-04-02") == 0  # a rerun sends nothing
    assert folder.run("--as-of", "2026-04-10") == 0  # nor a later run that month
    assert len(statements_to(folder, "Ames")) == 1
    assert folder.run("--as-of", "2026-05-01") == 0
    april = statements_to(folder, "Ames")[-1]
    assert april["Subject"].startswith("Statement of account for April 1, 2026 – April 30, 2026")
    assert statement_lines(april)[0][1:] == ["Balance brought forward", "", "", "$250.00"]
    assert len(statements_to(folder, "Ames")) == 2


def test_statements_kept_back_by_the_clients_row_for_months_go_as_one(folder: Folder) -> None:
    """The row stays wrong past April's and May's days: once fixed, one statement from
    March 1 to April 30, as for a Hold, and nothing of those months again."""
    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 3, 2), "Ames", "Bookkeeping", 1, 250)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-20") == 0
    folder.type_in("Clients", 2, Language="de")
    assert folder.run("--as-of", "2026-04-01") == 1
    assert folder.run("--as-of", "2026-05-01") == 1
    assert statements_to(folder, "Ames") == []
    folder.type_in("Clients", 2, Language="en")
    assert folder.run("--as-of", "2026-05-04") == 0
    (mail,) = statements_to(folder, "Ames")
    assert mail["Subject"] == (
        "Statement of account for March 1, 2026 – April 30, 2026: $250.00 due"
    )
    assert folder.run("--as-of", "2026-05-11") == 0
    assert len(statements_to(folder, "Ames")) == 1


def test_an_inactive_client_gets_no_statement_for_the_months_it_was_inactive(
    folder: Folder,
) -> None:
    """Active = No on the month's day (its row not checked, a wrong Language or not): no
    statement is owed for that month, even once the client is active again."""
    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(folder.workbook, [client("Ames")],
                   [service(date(2026, 3, 2), "Ames", "Bookkeeping", 1, 250)])  # fmt: skip
    assert folder.run("--as-of", "2026-03-20") == 0
    folder.type_in("Clients", 2, Active="No", Language="de")
    assert folder.run("--as-of", "2026-04-01") == 0
    folder.type_in("Clients", 2, Active="Yes", Language="en")
    assert folder.run("--as-of", "2026-04-02") == 0
    assert statements_to(folder, "Ames") == []
    assert folder.run("--as-of", "2026-05-01") == 0
    (mail,) = statements_to(folder, "Ames")
    assert mail["Subject"].startswith("Statement of account for April 1, 2026 – April 30, 2026")
