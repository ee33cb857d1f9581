"""billing.toml settings that cannot be used stop `check` and the run (exit 2) before
anything is numbered or sent, naming the line and what is wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import client, service, write_workbook

from automation.cli import main
from automation.config import ConfigError, parse_config

COMPANY = '[company]\nname = "Ledgerwise"\nemail = "billing@ledgerwise.example"\n'
OUTBOX = '[email]\nmode = "outbox"\n'


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str) -> str:
    """What `check` and the run say of `toml` (both exit 2, nothing numbered)."""
    book = write_workbook(tmp_path / "log.xlsx", [client("Acme")],
                          [service(date(2026, 3, 2), "Acme", "Work")])  # fmt: skip
    (tmp_path / "billing.toml").write_text(toml, encoding="utf-8")
    before = book.read_bytes()
    assert main(["check", "--workbook", str(book), "--as-of", "2026-03-09"]) == 2
    said = " ".join(capsys.readouterr().out.split())
    assert main(["--workbook", str(book), "--as-of", "2026-03-09"]) == 2
    assert " ".join(capsys.readouterr().out.split()) == said
    assert book.read_bytes() == before  # nothing numbered
    return said


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            COMPANY + OUTBOX + '[columns.Invoices]\n"Paid Amount" = "Total"\n',
            'billing.toml, line 7: [columns.Invoices] "Paid Amount" = "Total": Paid Amount '
            "would have the same header as Total (its default header) in the Invoices sheet; "
            "two columns cannot share a header, or the run would read one as the other. Give "
            "Paid Amount a header of its own, or rename Total too.",
        ),
        (
            COMPANY + OUTBOX + '[columns.Services]\nStatus = "Error"\n',
            'billing.toml, line 7: [columns.Services] Status = "Error": Status would have the '
            "same header as Error (its default header) in the Services sheet",
        ),
        (
            COMPANY + OUTBOX + '[columns.Services]\nClient = "Date"\n',
            'billing.toml, line 7: [columns.Services] Client = "Date": Client would have the '
            "same header as Date (its default header) in the Services sheet",
        ),
        (  # compared as headers are matched: case and spaces do not tell them apart
            COMPANY + OUTBOX + '[columns.services]\nClient = "Name"\nDescription = " NAME "\n',
            'billing.toml, line 8: [columns.services] Description = " NAME ": Description '
            'would have the same header as Client (Client = "Name") in the Services sheet; '
            "two columns cannot share a header, or the run would read one as the other. Give "
            "Description a header of its own.",
        ),
        (
            COMPANY + OUTBOX + '[columns.Invoices]\n"paid  amount" = "total"\n',
            'billing.toml, line 7: [columns.Invoices] "paid amount" = "total": Paid Amount '
            "would have the same header as Total",
        ),
        (
            COMPANY + OUTBOX + '[columns.Clients]\nClient = "Name"\nclient = "Customer"\n',
            "billing.toml, line 8: [columns.Clients] client renames Client a second time; "
            "keep one.",
        ),
    ],
)
def test_two_columns_of_a_sheet_never_share_a_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, said: str
) -> None:
    """A rename onto another column's header would merge the two: "Paid Amount" = "Total"
    reads every invoice's Total as paid, and thanks the client for paying in full."""
    assert said in refused(tmp_path, capsys, toml)


def test_renames_that_leave_every_header_distinct_are_kept() -> None:
    """Total renamed away frees its header; a rename to a column's own header is no clash."""
    config = parse_config(
        {"columns": {"Invoices": {"Total": "Invoice Total", "Paid Amount": "Total"},
                     "Services": {"Client": "client", "Description": "Work"}}}
    )  # fmt: skip
    assert config.columns == {
        "Invoices": {"Total": "Invoice Total", "Paid Amount": "Total"},
        "Services": {"Client": "client", "Description": "Work"},
    }
    with pytest.raises(ConfigError, match="Paid Amount would have the same header as Total"):
        parse_config({"columns": {"Invoices": {"Paid Amount": "TOTAL"}}})


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            '[company]\nname = "Ledgerwise\\nBookkeeping"\n'
            'email = "billing@ledgerwise.example"\n' + OUTBOX,
            "billing.toml, line 2: [company] name must be one line; it contains a line break: "
            "it is the sender name of every email, which a mail header holds on one line (the "
            "company address may have several lines: put them under [company] address).",
        ),
        (
            COMPANY + OUTBOX + 'from_name = """Ledgerwise\nBookkeeping"""\n',
            "billing.toml, line 6: [email] from_name must be one line; it contains a line "
            "break: it is the sender name of every email",
        ),
    ],
)
def test_a_sender_name_on_two_lines_is_refused_before_anything_is_numbered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, said: str
) -> None:
    """Else every invoice is numbered and every email fails on its From."""
    assert said in refused(tmp_path, capsys, toml)


def test_the_company_name_may_have_a_line_break_when_from_name_is_the_sender() -> None:
    config = parse_config(
        {"company": {"name": "Ledgerwise\nBookkeeping"}, "email": {"from_name": "Ledgerwise"}}
    )
    assert config.email.from_name == "Ledgerwise"


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            COMPANY + '[billing]\ndefault_terms = "Net thirty"\n' + OUTBOX,
            'billing.toml, line 5: [billing] default_terms: Payment terms "Net thirty" are '
            "not understood",
        ),
        (
            COMPANY + OUTBOX + '[columns.Services]\nQty = "Hours"\n',
            "billing.toml, line 7: [columns.Services] has an unknown column 'Qty'; its columns:",
        ),
        (
            COMPANY + OUTBOX + '[columns.Servicez]\nQuantity = "Hours"\n',
            "billing.toml, line 6: [columns] has no sheet 'Servicez' (did you mean "
            "'Services'?)",
        ),
        (
            COMPANY + OUTBOX + '[columns]\nServicez = { Quantity = "Hours" }\n',
            "billing.toml, line 7: [columns] has no sheet 'Servicez'",
        ),
        (
            COMPANY + '[billing]\nholidays_country = "US"\nholidays_subdivision = "ZZ"\n'
            + OUTBOX,
            "billing.toml, line 6: [billing] holidays_subdivision 'ZZ' is not a subdivision "
            "of US the holidays package knows (US's are AK, AL,",
        ),
        (
            COMPANY + '[billing]\nholidays_subdivision = "CA"\n' + OUTBOX,
            "billing.toml, line 5: [billing] holidays_subdivision 'CA' needs holidays_country",
        ),
        (
            COMPANY + OUTBOX + '[bank]\ncurrency = "RUR"\n',  # the rouble's code until 1998
            "billing.toml, line 7: [bank] currency 'RUR' is not the code of a currency in use "
            "today; use RUB.",
        ),
        (
            COMPANY + '[billing]\ncurrency = "XXX"\n' + OUTBOX,  # ISO's "no currency"
            "billing.toml, line 5: [billing] currency 'XXX' is not the code of a currency in "
            "use today; use e.g. USD, EUR, KZT.",
        ),
        (
            COMPANY + OUTBOX + '[bank]\ncurrency = "XYZ"\n',
            "billing.toml, line 7: [bank] currency must be an ISO currency code such as "
            "\"EUR\", not 'XYZ'.",
        ),
        (
            COMPANY + OUTBOX + 'bcc = "archive at ledgerwise"\n',
            "billing.toml, line 6: [email] bcc has an invalid address: 'archive at ledgerwise'.",
        ),
        (
            COMPANY + OUTBOX + 'reply_to = "accounts at ledgerwise"\n',
            "billing.toml, line 6: [email] reply_to has an invalid address: "
            "'accounts at ledgerwise'.",
        ),
        (
            COMPANY + OUTBOX + 'redirect_to = "me at home"\n',
            "billing.toml, line 6: [email] redirect_to has an invalid address: 'me at home'.",
        ),
        (
            COMPANY + OUTBOX + 'report_to = "x y z"\n',
            "billing.toml, line 6: [email] report_to has an invalid address: 'x y z'.",
        ),
        (
            COMPANY + OUTBOX + 'from = "billing at ledgerwise"\n',
            "billing.toml, line 6: [email] from 'billing at ledgerwise' is not a valid email "
            "address.",
        ),
        (
            '[company]\nname = "Ledgerwise"\naddress = "1 Main St"\n'
            'email = "billing at ledgerwise"\n' + OUTBOX,
            "billing.toml, line 4: [company] email 'billing at ledgerwise' is not a valid "
            "email address.",
        ),
        (  # the company email as Reply-To (the sender is `from`)
            '[company]\nname = "Ledgerwise"\nemail = "billing at ledgerwise"\n'
            + OUTBOX + 'from = "billing@ledgerwise.example"\n',
            "billing.toml, line 3: [company] email has an invalid address: "
            "'billing at ledgerwise'.",
        ),
    ],
)
def test_each_refused_setting_names_its_line_and_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, said: str
) -> None:
    assert said in refused(tmp_path, capsys, toml)


@pytest.mark.parametrize("separator", ["\u2028", "\u0085"])
def test_a_line_separator_inside_a_string_moves_no_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], separator: str
) -> None:
    """TOML ends a line at LF only: a U+2028 or NEL pasted inside the address is no line
    break there (str.splitlines() took it for one: every line after it was told one off)."""
    toml = (
        f'[company]\nname = "Ledgerwise"\naddress = "1 Example{separator} Street"\n'
        'email = "billing@ledgerwise.example"\n[email]\nmode = "outbox"\n'
        'from_name = "Billing\\nDept"\n'
    )
    said = refused(tmp_path, capsys, toml)
    assert "billing.toml, line 7: [email] from_name must be one line" in said, said
