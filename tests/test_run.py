"""The weekly run end to end: real workbook, real SMTP server, real .docx files."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest
from conftest import Folder, client, service, tables_within, write_workbook

AS_OF = "2026-03-09"


def sheet(path: Path, name: str, header: int = 0) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=name, header=header, engine="calamine")


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in tables_within(document):
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def attachment(message) -> tuple[str, str, bytes]:
    for part in message.iter_attachments():
        return part.get_filename(), part.get_content_type(), part.get_payload(decode=True)
    raise AssertionError("no attachment")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def basic(folder: Folder, **kw) -> None:
    write_workbook(
        folder.workbook,
        [
            client("Acme Ltd", Terms="Net 30", **{"Tax Rate": "10%"}),
            client("Beta LLC", Terms="Due on receipt", CC="boss@beta.example"),
        ],
        [
            service(date(2026, 3, 2), "Acme Ltd", "Bookkeeping, February", 2, 150),
            service(date(2026, 3, 3), "acme ltd ", "Payroll run", 1, 80.5),
            service(date(2026, 3, 4), "Beta LLC", "Tax return", 1, 400),
        ],
        **kw,
    )


def test_full_run_emails_invoices_and_writes_back(folder: Folder) -> None:
    basic(folder, title_rows=2, extra=True)
    assert folder.run("--as-of", AS_OF) == 0

    assert len(folder.received) == 2
    by_to = {tuple(r.rcpt_tos): r for r in folder.received}
    acme = by_to[("acmeltd@clients.example",)].message
    name, kind, data = attachment(acme)
    assert name == "INV-2026-0001.docx"
    assert kind == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    text = docx_text(data)
    assert "Acme Ltd" in text and "Bookkeeping, February" in text and "Payroll run" in text
    assert "INV-2026-0001" in text
    assert "$418.55" in text  # (300 + 80.50) x 1.10, rounded half-up
    assert "8 April 2026" in text or "April 8, 2026" in text  # Net 30 from 9 March
    beta = by_to[("betallc@clients.example", "boss@beta.example")].message
    assert beta["Cc"] == "boss@beta.example"

    services = sheet(folder.workbook, "Services", header=2)
    assert list(services["Invoice No"]) == ["INV-2026-0001", "INV-2026-0001", "INV-2026-0002"]
    assert list(services["Status"]) == ["Invoiced"] * 3
    assert services["Due Date"].iloc[0].date() == date(2026, 4, 8)
    assert services["Due Date"].iloc[2].date() == date(2026, 3, 9)  # due on receipt
    assert services["Amount"].tolist() == [300, 80.5, 400]  # formulas keep their values
    invoices = sheet(folder.workbook, "Invoices")
    row = invoices.set_index("Invoice No").loc["INV-2026-0001"]
    assert row["Client"] == "Acme Ltd" and row["Status"] == "Sent"
    assert Decimal(str(row["Total"])) == Decimal("418.55")
    assert row["Terms"] == "Net 30"
    wb = openpyxl.load_workbook(folder.workbook)
    assert wb["Notes"]["A2"].value == "=1+2"
    assert isinstance(wb["Invoices"]["E2"].value, datetime)
    assert (folder.root / "invoices" / "2026" / "INV-2026-0002.docx").exists()
    assert list((folder.root / ".billing" / "backups").glob("service_log-*.xlsx"))


def test_second_run_sends_nothing_and_changes_nothing(folder: Folder) -> None:
    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    before = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 2
    assert digest(folder.workbook) == before


def test_numbers_continue_without_gaps(folder: Folder) -> None:
    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    services = sheet(folder.workbook, "Services")
    assert set(services["Invoice No"]) == {"INV-2026-0001", "INV-2026-0002"}
    # A new line next week gets the next number.
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(
        folder.workbook,
        [
            CellUpdate("Services", 5, "Date", date(2026, 3, 10)),
            CellUpdate("Services", 5, "Client", "Beta LLC"),
            CellUpdate("Services", 5, "Description", "Advice"),
            CellUpdate("Services", 5, "Amount", Decimal("50")),
        ],
        header_rows={"Services": 1},
    )
    assert folder.run("--as-of", "2026-03-16") == 0
    services = sheet(folder.workbook, "Services")
    assert services["Invoice No"].iloc[3] == "INV-2026-0003"


def test_bad_rows_are_reported_and_the_rest_is_billed(folder: Folder, capsys) -> None:
    write_workbook(
        folder.workbook,
        [
            client("Acme Ltd"),
            client("NoMail Inc", Email="not-an-address"),
            client("Odd Terms", Terms="whenever"),
        ],
        [
            service(date(2026, 3, 2), "Acme Ltd", "Good line", 1, 100),
            service(date(2026, 3, 2), "Acme Lt", "Typo client", 1, 100),
            service(None, "Acme Ltd", "No date", 1, 100),
            service(date(2026, 3, 2), "Acme Ltd", "Price is text", 1, "abc"),
            service(date(2026, 3, 2), "Acme Ltd", "Mismatch", 2, 100, Amount=150),
            service(date(2026, 3, 2), "NoMail Inc", "Needs email", 1, 100),
            service(date(2026, 3, 2), "Odd Terms", "Needs terms", 1, 100),
        ],
    )
    assert folder.run("--as-of", AS_OF) == 1
    out = capsys.readouterr().out
    assert len(folder.received) == 1
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Invoiced"] + ["Error"] * 6
    errors = services["Error"].tolist()
    assert pd.isna(errors[0])
    assert '"Acme Lt" is not in Clients' in errors[1]
    assert "date is missing" in errors[2]
    assert '"abc" is not a number; type it in digits, such as 2 or 1250.50.' in errors[3]
    assert "does not equal Quantity x Unit Price" in errors[4]
    assert "not-an-address" in errors[5]
    assert "Clients row 4 is fixed" in errors[6] and "whenever" in errors[6]
    assert "use one of: Net 30, 30 days" in errors[6]  # the rows name the accepted forms
    assert out.count("use one of") == 1  # the output lists them once, for the Clients row
    assert "Services row 3, Client:" in out
    assert "Services row 5, Unit Price:" in out


def test_fixed_row_is_billed_and_its_error_cleared(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [service(date(2026, 3, 2), "Acme Lt", "Typo", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 1
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(
        folder.workbook,
        [CellUpdate("Services", 2, "Client", "Acme Ltd")],
        header_rows={"Services": 1},
    )
    assert folder.run("--as-of", AS_OF) == 0
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Invoiced"]
    assert pd.isna(services["Error"].iloc[0])


def test_hostile_text_renders_literally(folder: Folder) -> None:
    hostile = "R&D <script>alert(1)</script> {{ total }} {% if %} \U0001f600"
    write_workbook(
        folder.workbook,
        [client("Tom & Jerry <Ltd>")],
        [service(date(2026, 3, 2), "Tom & Jerry <Ltd>", hostile, 1, 10)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    _, _, data = attachment(folder.received[0].message)
    text = docx_text(data)
    assert hostile in text
    assert "Tom & Jerry <Ltd>" in text


def test_dry_run_changes_nothing(folder: Folder, capsys) -> None:
    basic(folder)
    before = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    assert digest(folder.workbook) == before
    assert folder.received == []
    assert not (folder.root / ".billing").exists()
    assert not (folder.root / "invoices").exists()
    assert len(list((folder.root / "preview").rglob("*.docx"))) == 2
    out = capsys.readouterr().out
    assert "Dry run" in out and "INV-2026-0001" in out
    # The numbers were not used up.
    assert folder.run("--as-of", AS_OF) == 0
    assert {r.message["Subject"] for r in folder.received} and "INV-2026-0001" in str(
        folder.received[0].message["Subject"]
    ) + str(folder.received[1].message["Subject"])


def test_not_yet_billable_lines_wait(folder: Folder) -> None:
    folder.write_config(extra="bill_after_days = 3")
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [
            service(date(2026, 3, 2), "Acme Ltd", "Old enough", 1, 100),
            service(date(2026, 3, 7), "Acme Ltd", "Too recent", 1, 100),
        ],
    )
    assert folder.run("--as-of", AS_OF) == 0
    services = sheet(folder.workbook, "Services")
    assert services["Status"].iloc[0] == "Invoiced"
    assert pd.isna(services["Status"].iloc[1]) and pd.isna(services["Invoice No"].iloc[1])


def test_inactive_client_is_skipped(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Gone Ltd", Active="No")],
        [service(date(2026, 3, 2), "Gone Ltd", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert folder.received == []
    assert sheet(folder.workbook, "Services")["Status"].tolist() == ["Skipped"]


@pytest.mark.parametrize("said", ["No", "Нет", "нет", "Жоқ", "No.", "n", "FALSE", False, 0,
                                  "Inactive"])  # fmt: skip
def test_no_in_any_language_of_the_documents_stops_the_invoices(folder: Folder, said) -> None:
    """`Нет`, `Жоқ` and `No.` were read as active (only no, n, false, 0 and inactive were
    not): the client was invoiced. The words are the Resend cell's."""
    write_workbook(
        folder.workbook,
        [client("Gone Ltd", Active=said)],
        [service(date(2026, 3, 2), "Gone Ltd", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert folder.received == []
    assert sheet(folder.workbook, "Services")["Status"].tolist() == ["Skipped"]


@pytest.mark.parametrize("said", ["Yes", "да", "Иә", "Y.", True, 1, "Active"])
def test_yes_in_any_language_of_the_documents_keeps_the_client_billed(folder: Folder, said) -> None:
    write_workbook(
        folder.workbook,
        [client("Kept Ltd", Active=said)],
        [service(date(2026, 3, 2), "Kept Ltd", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 1
    assert sheet(folder.workbook, "Services")["Status"].tolist() == ["Invoiced"]


def test_an_active_cell_saying_neither_yes_nor_no_is_told_and_the_client_waits(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """`Closed` was read as active and the client invoiced without a word: now it is a
    Clients row error, and the client's lines wait (Error, pointing there), unbilled."""
    write_workbook(
        folder.workbook,
        [client("Shut Ltd", Active="Closed"), client("Acme Ltd")],
        [service(date(2026, 3, 2), "Shut Ltd", "Work", 1, 100),
         service(date(2026, 3, 2), "Shut Ltd", "Bad price", 1, "abc"),
         service(date(2026, 3, 2), "Acme Ltd", "Work", 1, 100)],
    )  # fmt: skip
    told = 'Clients row 2, Active: "Closed" is neither Yes nor No; type Yes, or No to never'
    assert main_check(folder) == 1
    assert told in " ".join(capsys.readouterr().out.split())
    assert folder.run("--as-of", AS_OF) == 1
    assert told in " ".join(capsys.readouterr().out.split())
    assert [m["To"] for m in (r.message for r in folder.received)] == ["acmeltd@clients.example"]
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Error", "Error", "Invoiced"]
    assert services["Error"][0] == (
        'not billed until Clients row 2 is fixed: "Closed" is neither Yes nor No.'
    )
    assert "is not a number" in services["Error"][1]  # its own mistake, told as for any row


def test_only_one_client(folder: Folder) -> None:
    basic(folder)
    assert folder.run("--as-of", AS_OF, "--only", "beta llc") == 0
    assert len(folder.received) == 1
    assert folder.received[0].rcpt_tos[0] == "betallc@clients.example"


def test_outbox_mode_writes_eml(folder: Folder, tmp_path: Path) -> None:
    basic(folder)
    outbox = tmp_path / "out"
    assert folder.run("--as-of", AS_OF, "--outbox", str(outbox)) == 0
    assert len(list(outbox.glob("*.eml"))) == 2
    assert folder.received == []


def test_existing_invoice_numbers_are_not_billed_or_reused(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [
            service(
                date(2026, 1, 5),
                "Acme Ltd",
                "Billed by hand",
                1,
                100,
                **{"Invoice No": "INV-2026-0041"},
            ),
            service(date(2026, 3, 2), "Acme Ltd", "New", 1, 100),
        ],
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 1
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == ["INV-2026-0041", "INV-2026-0042"]


@pytest.mark.parametrize("typed", ["inv-2026-0041", "INV 2026 0041", "Inv/2026/0041"])
def test_an_invoice_number_typed_in_another_spelling_is_not_reused(
    folder: Folder, typed: str
) -> None:
    """A number typed by hand in lower case or with other separators is the same number
    to a bank reference (`inv 2026 41` pays it): the next one issued is 0042, never 0041
    again (a payment quoting it went to the other client's invoice)."""
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [
            service(date(2026, 1, 5), "Acme Ltd", "Billed by hand", 1, 100,
                    **{"Invoice No": typed}),
            service(date(2026, 3, 2), "Acme Ltd", "New", 1, 100),
        ],
    )  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == [typed, "INV-2026-0042"]


@pytest.mark.parametrize(
    ("number_format", "other", "first"),
    [
        ("INV-{year}-{month:02d}-{seq:03d}", "INV-2026-0350", "INV-2026-03-001"),
        ("INV-{seq:05d}", "INV20260001", "INV-00001"),
    ],
)
def test_another_formats_number_sets_no_floor(
    folder: Folder, number_format: str, other: str, first: str
) -> None:
    """A number of another format (the one used before a change of number_format) is not
    read as this format's, separators left out: the series starts at 1, with no gap."""
    folder.write_config(f'number_format = "{number_format}"')
    write_workbook(folder.workbook, [client("Acme Ltd")], [
        service(date(2026, 2, 2), "Acme Ltd", "Numbered before", 1, 100,
                **{"Invoice No": other}),
        service(date(2026, 3, 2), "Acme Ltd", "New", 1, 100),
    ])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    assert sheet(folder.workbook, "Services")["Invoice No"].tolist() == [other, first]


def test_a_billed_rows_invoice_no_typed_over_is_put_back_and_sets_no_floor(
    folder: Folder, capsys
) -> None:
    """INV-2026-0001 typed over as INV-2026-0050 on a billed row: the ledger knows the line
    went on 0001; the next invoice is 0003, not 0051 (a gap of 48 numbers in the series)."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == ["INV-2026-0001", "INV-2026-0001", "INV-2026-0002"]
    apply_updates(folder.workbook, [
        CellUpdate("Services", 3, "Invoice No", "INV-2026-0050"),  # Acme's second line
        CellUpdate("Services", 5, "Date", date(2026, 3, 10)),
        CellUpdate("Services", 5, "Client", "Beta LLC"),
        CellUpdate("Services", 5, "Description", "Advice"),
        CellUpdate("Services", 5, "Amount", Decimal("50")),
    ], header_rows={"Services": 1})  # fmt: skip
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-16", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "INV-2026-0003" in out and "INV-2026-0051" not in out
    assert "Services row 3 (INV-2026-0050 -> INV-2026-0001)" in out
    from automation.cli import main

    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-16"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Services row 3 (INV-2026-0050 -> INV-2026-0001)" in out  # check tells it as well
    assert folder.run("--as-of", "2026-03-16") == 0
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == ["INV-2026-0001", "INV-2026-0001", "INV-2026-0002", "INV-2026-0003"]
    subjects = [str(r.message["Subject"]) for r in folder.received]
    assert any("INV-2026-0003" in s for s in subjects)
    assert not any("0051" in s for s in subjects)


def test_old_unbilled_lines_of_an_adopted_log_are_pointed_out(folder: Folder, capsys) -> None:
    """A log kept before the tool, its June 2025 line without an invoice number: check says
    it would be billed as new work, and how to keep it from that."""
    write_workbook(folder.workbook, [client("Acme")],
                   [service(date(2025, 6, 2), "Acme", "Old work", 1, 400),
                    service(date(2026, 3, 2), "Acme", "New work", 1, 480)])  # fmt: skip
    from automation.cli import main

    capsys.readouterr()
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", AS_OF]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ("1 unbilled service is dated more than 90 days before 2026-03-09 (the oldest "
            "2025-06-02): they are billed as new work. If they were billed before this tool, "
            "type their invoice numbers in Invoice No first.") in out  # fmt: skip
    assert folder.run("--as-of", "2026-03-09") == 0  # billed, as said


def test_a_number_typed_on_a_void_invoices_line_is_the_bookkeepers(folder: Folder) -> None:
    """INV-2026-0001 is void; the bookkeeper bills its line by hand as INV-2026-0010: that is
    no typo to put back, and new invoices are numbered after it (never a second 0010)."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    write_workbook(folder.workbook, [client("Acme"), client("Beta")],
                   [service(date(2026, 3, 2), "Acme", "Audit", 1, 100),
                    service(date(2026, 3, 2), "Beta", "Other", 1, 50)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Status", "Void")],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-03-11") == 0
    new = {"Date": date(2026, 3, 2), "Client": "Beta", "Description": "New", "Quantity": 1,
           "Unit Price": 10, "Amount": 10}  # fmt: skip
    apply_updates(folder.workbook, [CellUpdate("Services", 2, "Invoice No", "INV-2026-0010"),
                                    *(CellUpdate("Services", 4, k, v) for k, v in new.items())],
                  header_rows={"Services": 1})  # fmt: skip
    assert folder.run("--as-of", "2026-03-17") == 0
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == ["INV-2026-0010", "INV-2026-0002", "INV-2026-0011"]


def test_a_new_line_where_a_deleted_billed_row_was_is_billed(folder: Folder, capsys) -> None:  # type: ignore[no-untyped-def]
    """A billed row deleted, a new line of the same client and day typed in its place: the
    ledger's old row numbers say nothing about it; it is billed as new work. The deleted
    line, still owed on its open invoice, is told missing (exit 1)."""
    import openpyxl

    day = date(2026, 3, 2)
    write_workbook(folder.workbook, [client("Acme"), client("Beta")],
                   [service(day, "Acme", "Audit day 1", 1, 100),
                    service(day, "Acme", "Audit day 1 (duplicate)", 1, 100),
                    service(day, "Beta", "Other", 1, 50)])  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    book = openpyxl.load_workbook(folder.workbook)
    services = book["Services"]
    services.delete_rows(2)
    services.insert_rows(3)
    for column, value in enumerate([day, "Acme", "Extra hour forgotten", 1, 100, 100], start=1):
        services.cell(3, column).value = value
    book.save(folder.workbook)
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-17") == 1
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers == ["INV-2026-0001", "INV-2026-0003", "INV-2026-0002"]
    out = " ".join(capsys.readouterr().out.split())
    assert "INV-2026-0001 (Acme) billed a line that no Services row holds any more" in out
    assert '2026-03-02 "Audit day 1" $100.00.' in out


def test_test_mode_says_the_clients_got_nothing_and_how_to_send_them(  # type: ignore[no-untyped-def]
    folder: Folder, capsys
) -> None:
    """redirect_to sends everything to the bookkeeper: the run, its Notes and check say so,
    and a Resend after clearing it sends the invoice to its client."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    folder.write_config(email='redirect_to = "me@ledgerwise.example"')
    basic(folder)
    assert main_check(folder) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (  # nothing has gone yet
        "every email would go to me@ledgerwise.example, none to the clients, yet the "
        "invoices would be numbered" in said
    )
    assert folder.received == []
    assert folder.run("--as-of", AS_OF) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "every email went to me@ledgerwise.example, none to the clients" in out
    assert {a for r in folder.received for a in r.rcpt_tos} == {"me@ledgerwise.example"}
    invoices = sheet(folder.workbook, "Invoices")
    assert all("(test mode, redirect_to: not the client)" in n for n in invoices["Note"])
    folder.write_config()  # testing done
    apply_updates(folder.workbook, [CellUpdate("Invoices", 2, "Resend", "Yes")],
                  header_rows={"Invoices": 1})  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 0
    assert folder.received[-1].rcpt_tos == ["acmeltd@clients.example"]


def test_billed_rows_whose_amount_formulas_have_no_saved_result_stay_quiet(
    folder: Folder,
) -> None:
    """A log written by a script (XlsxWriter without values: each Amount =D*E shows a
    stand-in 0, to be worked out on opening). The first run bills Quantity x Unit Price;
    the next one, nothing changed, flags no billed row (it put "Amount 0 does not equal
    ... type Rebill" on every one, exit 1)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(folder.workbook))
    clients = wb.add_worksheet("Clients")
    clients.write_row(0, 0, ["Client", "Email"])
    clients.write_row(1, 0, ["Acme Ltd", "acme@clients.example"])
    services = wb.add_worksheet("Services")
    services.write_row(0, 0, ["Date", "Client", "Description", "Quantity", "Unit Price", "Amount"])
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for row, price in enumerate((150, 80, 400), start=1):
        services.write_datetime(row, 0, datetime(2026, 3, 2), day)
        services.write_row(row, 1, ["Acme Ltd", f"Work {row}", 2, price])
        services.write_formula(row, 5, f"=D{row + 1}*E{row + 1}")  # no result saved
    wb.close()
    assert folder.run("--as-of", AS_OF) == 0
    assert folder.run("--as-of", "2026-03-10") == 0
    rows = sheet(folder.workbook, "Services")
    assert list(rows["Status"]) == ["Invoiced"] * 3 and rows["Error"].isna().all()


def test_unusable_workbooks_exit_2_and_change_nothing(folder: Folder, capsys) -> None:
    folder.workbook.write_text("not a workbook")
    assert folder.run("--as-of", AS_OF) == 2
    assert "is not an Excel .xlsx workbook" in capsys.readouterr().out

    wb = xlsxwriter_book(folder.workbook, {"Clients": ["Client", "Email"]})
    assert folder.run("--as-of", AS_OF) == 2
    assert "has no 'Services' sheet" in capsys.readouterr().out
    del wb

    xlsxwriter_book(
        folder.workbook,
        {"Clients": ["Client", "Email"], "Services": ["Date", "Customer", "Description"]},
    )
    before = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 2
    out = capsys.readouterr().out
    assert "Client" in out and "Date, Customer, Description" in out
    assert digest(folder.workbook) == before
    assert "Traceback" not in out

    assert folder.run("--workbook", str(folder.root / "missing.xlsx")) == 2
    assert "does not exist" in capsys.readouterr().out


def test_renamed_columns_from_config(folder: Folder) -> None:
    folder.write_config(extra='[columns.Services]\nClient = "Customer"\n')
    xlsxwriter_book(
        folder.workbook,
        {
            "Clients": ["Client", "Email"],
            "Services": ["Date", "Customer", "Description", "Amount"],
        },
        rows={
            "Clients": [["Acme", "a@acme.example"]],
            "Services": [[datetime(2026, 3, 2), "Acme", "Work", 10]],
        },
    )
    text = (folder.root / "billing.toml").read_text()
    (folder.root / "billing.toml").write_text(
        text.replace("[columns.Services]", "").replace('Client = "Customer"', "")
        + '\n[columns.Services]\nClient = "Customer"\n'
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 1


def test_bad_config_exits_2(folder: Folder, capsys) -> None:
    basic(folder)
    (folder.root / "billing.toml").write_text("[email]\nmode = 'pigeon'\n")
    assert folder.run("--as-of", AS_OF) == 2
    assert "mode" in capsys.readouterr().out


def test_workbook_open_in_excel_exits_3(folder: Folder, capsys) -> None:
    basic(folder)
    (folder.root / "~$service_log.xlsx").write_text("owner")
    before = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 3
    assert "Close the workbook" in capsys.readouterr().out
    assert folder.received == [] and digest(folder.workbook) == before


def test_wrong_smtp_login_exits_2_before_numbering(tmp_path: Path, capsys) -> None:
    from smtp_servers import Recorder, password_checker, running_server

    recorder = Recorder()
    with running_server(
        recorder, authenticator=password_checker("billing", "right"), auth_require_tls=False
    ) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(email='username = "billing"\npassword_env = "TEST_SMTP_PW"')
        basic(folder)
        before = digest(folder.workbook)
        import os

        os.environ["TEST_SMTP_PW"] = "wrong"
        try:
            assert folder.run("--as-of", AS_OF) == 2
            assert "mail server" in capsys.readouterr().out
            assert digest(folder.workbook) == before
            os.environ["TEST_SMTP_PW"] = "right"
            assert folder.run("--as-of", AS_OF) == 0
        finally:
            del os.environ["TEST_SMTP_PW"]
    numbers = sheet(folder.workbook, "Services")["Invoice No"].tolist()
    assert numbers[0] == "INV-2026-0001"  # the failed login used up no number


def said_by(folder: Folder, capsys, *args: str) -> tuple[int, str]:
    """(exit code, output on one line) of a command on the folder's workbook."""
    from automation.cli import main

    code = main([*args, "--workbook", str(folder.workbook)])
    return code, " ".join(capsys.readouterr().out.split())


def free_port() -> int:
    """A loopback port nothing listens on (a mail server that is down)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("trouble", ["wrong password", "server down"])
def test_check_and_dry_run_try_the_runs_login_and_stop_as_it_does(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    """check and --dry-run said "no problems found" (exit 0) where the run stopped on the
    mail login (exit 2): they now log in as the run does, and stop with its words."""
    from smtp_servers import Recorder, password_checker, running_server

    recorder = Recorder()
    monkeypatch.setenv("TEST_SMTP_PW", "wrong" if trouble == "wrong password" else "right")
    with running_server(
        recorder, authenticator=password_checker("billing", "right"), auth_require_tls=False
    ) as port:
        folder = Folder(tmp_path, recorder, free_port() if trouble == "server down" else port)
        folder.write_config(email='username = "billing"\npassword_env = "TEST_SMTP_PW"')
        basic(folder)
        before = digest(folder.workbook)
        said = [said_by(folder, capsys, *args) for args in (
            ["check"], ["--as-of", AS_OF, "--dry-run"], ["--as-of", AS_OF],
        )]  # fmt: skip
    reason = "refused the login for billing" if trouble == "wrong password" else "cannot connect"
    assert said[0][0] == said[1][0] == said[2][0] == 2
    assert said[0][1] == said[1][1] == said[2][1]  # check and dry run say what the run says
    assert said[0][1].startswith("Cannot run: the mail server cannot be used:")
    assert reason in said[0][1]
    assert recorder.received == [] and digest(folder.workbook) == before  # nothing numbered


def test_a_login_the_server_accepts_is_said_and_sends_nothing(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smtp_servers import Recorder, password_checker, running_server

    recorder = Recorder()
    monkeypatch.setenv("TEST_SMTP_PW", "right")
    with running_server(
        recorder, authenticator=password_checker("billing", "right"), auth_require_tls=False
    ) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(email='username = "billing"\npassword_env = "TEST_SMTP_PW"')
        basic(folder)
        code, out = said_by(folder, capsys, "check")
        assert code == 0
        assert f"Mail: 127.0.0.1:{port} accepted the login for billing; nothing was sent." in out
        code, out = said_by(folder, capsys, "--as-of", AS_OF, "--dry-run")
        assert code == 0 and "accepted the login for billing" in out
        assert recorder.received == [] and len(recorder.greeted) == 2
        assert said_by(folder, capsys, "--as-of", AS_OF)[0] == 0
    assert len(recorder.received) == 2


def test_a_password_not_set_here_is_a_note_and_the_server_is_still_reached(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled run's environment may set the password's variable this terminal lacks:
    check and --dry-run say so (exit 0) once they reached the server; one that cannot be
    reached stops them (exit 2), as it stops the run."""
    from smtp_servers import Recorder, password_checker, running_server

    recorder = Recorder()
    monkeypatch.delenv("TEST_SMTP_PW", raising=False)
    with running_server(
        recorder, authenticator=password_checker("billing", "right"), auth_require_tls=False
    ) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config(email='username = "billing"\npassword_env = "TEST_SMTP_PW"')
        basic(folder)
        for args in (["check"], ["--as-of", AS_OF, "--dry-run"]):
            code, out = said_by(folder, capsys, *args)
            assert code == 0
            assert (
                f"Note: 127.0.0.1:{port} answered, but the login for billing was not tried: no "
                "SMTP password: set the environment variable TEST_SMTP_PW" in out
            )
            assert "a scheduled run whose environment sets TEST_SMTP_PW logs in as usual" in out
        assert len(recorder.greeted) == 2
        code, out = said_by(folder, capsys, "--as-of", AS_OF)
        assert code == 2 and "no SMTP password" in out
        folder.port = free_port()
        folder.write_config(email='username = "billing"\npassword_env = "TEST_SMTP_PW"')
        for args in (["check"], ["--as-of", AS_OF, "--dry-run"]):
            code, out = said_by(folder, capsys, *args)
            assert code == 2 and "cannot connect to 127.0.0.1" in out
    assert recorder.received == []


def xlsxwriter_book(
    path: Path, sheets: dict[str, list[str]], rows: dict[str, list[list]] | None = None
) -> Path:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    for name, headers in sheets.items():
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, headers)
        for r, values in enumerate((rows or {}).get(name, []), start=1):
            for c, value in enumerate(values):
                if isinstance(value, datetime):
                    ws.write_datetime(r, c, value, wb.add_format({"num_format": "yyyy-mm-dd"}))
                else:
                    ws.write(r, c, value)
    wb.close()
    return path


def test_pdf_and_docx_attached(folder: Folder) -> None:
    folder.write_config(email='attach = "both"')
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [service(date(2026, 3, 2), "Acme Ltd", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    parts = {
        p.get_filename(): (p.get_content_type(), p.get_payload(decode=True))
        for p in folder.received[0].message.iter_attachments()
    }
    assert set(parts) == {"INV-2026-0001.docx", "INV-2026-0001.pdf"}
    assert parts["INV-2026-0001.pdf"][0] == "application/pdf"
    assert parts["INV-2026-0001.pdf"][1].startswith(b"%PDF")


def test_pdf_without_libreoffice_is_a_clear_error(folder: Folder, monkeypatch, capsys) -> None:
    import automation.pipeline

    monkeypatch.setattr(automation.pipeline, "soffice_path", lambda: None)
    folder.write_config(email='attach = "pdf"')
    basic(folder)
    before = digest(folder.workbook)
    assert folder.run("--as-of", AS_OF) == 2
    assert "needs LibreOffice" in capsys.readouterr().out
    assert folder.received == [] and digest(folder.workbook) == before


def test_an_overpaid_invoice_on_hold_is_listed_as_owed_back(folder: Folder, capsys) -> None:
    """The summary lists what the report's Owed back sheet lists, an invoice on Hold too."""
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    apply_updates(folder.workbook, [CellUpdate("Invoices", 3, "Paid Amount", Decimal("500")),
                                    CellUpdate("Invoices", 3, "Paid Date", date(2026, 3, 10)),
                                    CellUpdate("Invoices", 3, "Status", "Hold")],
                  header_rows={"Invoices": 1})  # fmt: skip
    capsys.readouterr()
    assert folder.run("--as-of", "2026-03-11") == 0
    owed = capsys.readouterr().out.split("Owed back to clients", 1)[1].splitlines()[1]
    assert "INV-2026-0002" in owed and "$100.00" in owed


def test_summary_emailed_to_the_bookkeeper(folder: Folder) -> None:
    folder.write_config(email='report_to = "me@ledgerwise.example"')
    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    reports = [r for r in folder.received if r.rcpt_tos == ["me@ledgerwise.example"]]
    assert len(reports) == 1
    body = reports[0].message.get_body(("plain",)).get_content()
    assert "INV-2026-0001" in body and "Acme Ltd" in body
    names = [p.get_filename() for p in reports[0].message.iter_attachments()]
    assert names == ["receivables-2026-03-09.xlsx"]
    assert folder.run("--as-of", AS_OF) == 0  # nothing new: no second report
    assert len([r for r in folder.received if r.rcpt_tos == ["me@ledgerwise.example"]]) == 1
    # news without any client mail (a row error a week later): the bookkeeper hears of it
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(folder.workbook, [CellUpdate("Services", 5, k, v) for k, v in {
        "Date": date(2026, 3, 10), "Client": "Nobody Ltd", "Description": "Advice",
        "Amount": Decimal("50")}.items()], header_rows={"Services": 1})  # fmt: skip
    sent = len(folder.received)
    assert folder.run("--as-of", "2026-03-12") == 1
    assert len(folder.received) == sent + 1  # the summary alone
    reports = [r for r in folder.received if r.rcpt_tos == ["me@ledgerwise.example"]]
    assert len(reports) == 2 and "1 row needs attention" in str(reports[-1].message["Subject"])


TERMS_CASES = [
    # terms, due date for an invoice dated (and emailed) Monday 9 March 2026
    ("Net 30", date(2026, 4, 8)),
    ("NET10", date(2026, 3, 19)),
    ("45 days", date(2026, 4, 23)),
    ("Due on receipt", date(2026, 3, 9)),
    ("Receipt", date(2026, 3, 9)),
    ("Receipt 15", date(2026, 3, 24)),
    ("10 days after receipt", date(2026, 3, 19)),
    ("EOM", date(2026, 3, 31)),
    ("EOM 10", date(2026, 4, 10)),
    ("30 EOM", date(2026, 4, 30)),
    ("15 MFI", date(2026, 4, 15)),
    ("31 prox", date(2026, 4, 30)),
    ("2/10 Net 30", date(2026, 4, 8)),
    ("1.5/15 net 45", date(2026, 4, 23)),
]


def test_every_form_of_terms_gets_its_due_date(folder: Folder) -> None:
    folder.write_config(extra="receipt_lag_days = 0")
    names = [f"Client {i:02d}" for i in range(len(TERMS_CASES))]
    write_workbook(
        folder.workbook,
        [client(name, Terms=terms) for name, (terms, _) in zip(names, TERMS_CASES, strict=True)],
        [service(date(2026, 3, 2), name, "Work", 1, 100) for name in names],
    )
    assert folder.run("--as-of", AS_OF) == 0
    invoices = sheet(folder.workbook, "Invoices").set_index("Client")
    services = sheet(folder.workbook, "Services").set_index("Client")
    for name, (terms, due) in zip(names, TERMS_CASES, strict=True):
        assert invoices.loc[name, "Due Date"].date() == due, terms
        assert services.loc[name, "Due Date"].date() == due, terms


def test_receipt_lag_and_business_days(folder: Folder) -> None:
    # The country code is read whatever its case, as currency codes are.
    folder.write_config(extra='receipt_lag_days = 2\nbusiness_days = true\nholidays_country = "us"')
    write_workbook(
        folder.workbook,
        [client("Lag", Terms="Receipt 3"), client("Fourth", Terms="Net 5")],
        [
            service(date(2026, 6, 20), "Lag", "Work", 1, 100),
            service(date(2026, 6, 20), "Fourth", "Work", 1, 100),
        ],
    )
    assert folder.run("--as-of", "2026-06-29") == 0  # a Monday
    invoices = sheet(folder.workbook, "Invoices").set_index("Client")
    # Receipt 1 July + 3 = Saturday 4 July (Independence Day): next business day, Monday 6 July.
    assert invoices.loc["Lag", "Due Date"].date() == date(2026, 7, 6)
    # 29 June + 5 = Saturday 4 July, too.
    assert invoices.loc["Fourth", "Due Date"].date() == date(2026, 7, 6)


def test_terms_are_frozen_on_the_invoice(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd", Terms="Net 7")],
        [service(date(2026, 3, 2), "Acme Ltd", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(
        folder.workbook, [CellUpdate("Clients", 2, "Terms", "Net 60")], header_rows={"Clients": 1}
    )
    assert folder.run("--as-of", "2026-03-10") == 0
    row = sheet(folder.workbook, "Invoices").iloc[0]
    assert row["Terms"] == "Net 7" and row["Due Date"].date() == date(2026, 3, 16)


def test_refused_address_fails_then_goes_to_the_corrected_address(tmp_path: Path) -> None:
    from smtp_servers import Recorder, running_server

    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    recorder = Recorder(refuse=frozenset({"old@acme.example"}))
    with running_server(recorder) as port:
        folder = Folder(tmp_path, recorder, port)
        folder.write_config()
        write_workbook(
            folder.workbook,
            [client("Acme", Email="old@acme.example", Terms="Receipt 10"), client("Beta")],
            [
                service(date(2026, 3, 2), "Acme", "Work", 1, 100),
                service(date(2026, 3, 2), "Beta", "Work", 1, 100),
            ],
        )
        assert folder.run("--as-of", AS_OF) == 1
        assert [r.rcpt_tos for r in recorder.received] == [["beta@clients.example"]]
        row = sheet(folder.workbook, "Invoices").set_index("Client").loc["Acme"]
        assert row["Status"] == "Failed" and "550" in row["Note"]
        assert sheet(folder.workbook, "Services")["Status"].tolist() == ["Invoiced"] * 2

        apply_updates(
            folder.workbook,
            [CellUpdate("Clients", 2, "Email", "new@acme.example")],
            header_rows={"Clients": 1},
        )
        assert folder.run("--as-of", "2026-03-16") == 0
        assert recorder.received[-1].rcpt_tos == ["new@acme.example"]
        assert len(recorder.received) == 2
        invoices = sheet(folder.workbook, "Invoices").set_index("Client")
        acme = invoices.loc["Acme"]
        assert acme["Invoice No"] == "INV-2026-0001" and acme["Status"] == "Sent"
        assert acme["Invoice Date"].date() == date(2026, 3, 9)
        # Receipt-based terms count from the day it actually went out.
        assert acme["Due Date"].date() == date(2026, 3, 26)
        assert sheet(folder.workbook, "Services")["Due Date"][0].date() == date(2026, 3, 26)
        assert len(invoices) == 2


def docx_texts(path: Path) -> list[str]:
    """Every paragraph's text of a .docx: its body's first, then its headers'."""
    document = docx.Document(str(path))
    texts = [p.text for p in document.paragraphs]
    for section in document.sections:
        texts += [p.text for p in section.header.paragraphs]
    return texts


def test_a_preview_says_draft_and_a_real_invoice_does_not(folder: Folder, capsys) -> None:
    """A dry run's would-be invoices show as `Draft`, and every preview document opens with
    the draft mark, on the page and in its header; a real run's documents have none."""
    from automation.render import DRAFT_MARK

    basic(folder)
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    out = capsys.readouterr().out
    drafts = [line for line in out.splitlines() if "INV-2026-000" in line]
    assert len(drafts) == 2 and all("Draft" in line for line in drafts)
    previews = sorted((folder.root / "preview").rglob("*.docx"))
    assert len(previews) == 2
    for path in previews:
        document = docx.Document(str(path))
        assert document.paragraphs[0].text == DRAFT_MARK
        assert document.paragraphs[0].runs[0].bold
        assert [p.text for p in document.sections[0].header.paragraphs][0] == DRAFT_MARK
    assert folder.run("--as-of", AS_OF) == 0
    invoices = sorted((folder.root / "invoices").rglob("*.docx"))
    assert [p.name for p in invoices] == [p.name for p in previews]
    for path in invoices:
        assert not any("draft" in text.casefold() for text in docx_texts(path))
        with zipfile.ZipFile(path) as zf:
            assert not any(b"DRAFT" in zf.read(name) for name in zf.namelist())


def test_a_dry_run_leaves_only_its_own_previews(folder: Folder) -> None:
    # a week-old draft "INV-2026-0001" for Acme must not sit beside the real one for Beta
    basic(folder)
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    preview = folder.root / "preview" / "2026"
    assert sorted(p.name for p in preview.glob("*.docx")) == ["INV-2026-0001.docx",
                                                              "INV-2026-0002.docx"]  # fmt: skip
    assert folder.run("--as-of", AS_OF, "--only", "Beta LLC") == 0  # Beta gets 0001
    (preview / "my notes.txt").write_text("mine")
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    assert sorted(p.name for p in preview.iterdir()) == ["INV-2026-0002.docx", "my notes.txt"]
    text = "\n".join(p.text for p in docx.Document(str(preview / "INV-2026-0002.docx")).paragraphs)
    assert "Four hundred and eighteen dollars" in text  # Acme's 380.50 + 10% tax
    assert folder.run("--as-of", AS_OF) == 0  # nothing left to preview: no drafts stay
    assert folder.run("--as-of", AS_OF, "--dry-run") == 0
    assert sorted(p.name for p in preview.iterdir()) == ["my notes.txt"]


def test_dry_run_after_a_real_run_leaves_billing_folder_alone(folder: Folder) -> None:
    basic(folder)
    assert folder.run("--as-of", AS_OF) == 0
    billing = folder.root / ".billing"
    before = {p: p.stat().st_mtime_ns for p in billing.rglob("*") if p.is_file()}
    from automation.model import CellUpdate
    from automation.writeback import apply_updates

    apply_updates(
        folder.workbook,
        [CellUpdate("Invoices", 2, "Paid Amount", "about 50")],
        header_rows={"Invoices": 1},
    )
    assert folder.run("--as-of", "2026-04-20", "--dry-run") == 1  # the same code as check
    assert main_check(folder) == 1
    after = {p: p.stat().st_mtime_ns for p in billing.rglob("*") if p.is_file()}
    assert after == before


def main_check(folder: Folder) -> int:
    from automation.cli import main

    return main(["check", "--workbook", str(folder.workbook)])


def test_absurd_numbers_are_row_errors(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Acme Ltd")],
        [
            service(date(2026, 3, 2), "Acme Ltd", "Huge", "1" + "0" * 400, 10),
            service(date(2026, 3, 2), "Acme Ltd", "Fine", 1, 10),
        ],
    )
    assert folder.run("--as-of", AS_OF) == 1
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Error", "Invoiced"]
    assert "too large" in services["Error"][0]


def test_quantity_times_price_too_large_is_refused_as_a_typed_amount_is(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """With Amount =D2*E2 the line was refused as too large; with Amount left blank the
    same Quantity and Unit Price were billed 1,200,000,000,000.00 (and far larger ones
    written back as a float, the cents lost)."""
    write_workbook(
        folder.workbook,
        [client("Formula Co"), client("Blank Co"), client("Acme Ltd")],
        [service(date(2026, 3, 2), "Formula Co", "Work", 2000, 600_000_000),
         service(date(2026, 3, 2), "Blank Co", "Work", 2000, 600_000_000, Amount=None),
         service(date(2026, 3, 2), "Blank Co", "Work", 999999999999, 999999999999.99,
                 Amount=None),
         service(date(2026, 3, 2), "Acme Ltd", "Fine", 1, 10)],
    )  # fmt: skip
    assert main_check(folder) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "Services row 3, Unit Price: Quantity x Unit Price (2000 x 600000000 = " in out
    assert folder.run("--as-of", AS_OF) == 1
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Error", "Error", "Error", "Invoiced"]
    assert "too large to be an amount" in services["Error"][1]
    assert "check the Quantity and the Unit Price" in services["Error"][2]
    assert sheet(folder.workbook, "Invoices")["Client"].tolist() == ["Acme Ltd"]


def test_lines_adding_up_to_more_than_any_amount_are_not_invoiced(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line under the largest amount, together (or with tax) over it: an invoice
    total Excel cannot keep to the cent. The client's lines wait, told why."""
    write_workbook(
        folder.workbook,
        [client("Big Co"), client("Taxed Co", **{"Tax Rate": 12}), client("Acme Ltd")],
        [service(date(2026, 3, 2), "Big Co", "Work", 1, 600_000_000_000),
         service(date(2026, 3, 3), "Big Co", "More work", 1, 600_000_000_000),
         service(date(2026, 3, 2), "Taxed Co", "Work", 1, 900_000_000_000),
         service(date(2026, 3, 2), "Acme Ltd", "Fine", 1, 10)],
    )  # fmt: skip
    assert main_check(folder) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "the unbilled lines for Big Co add up to $1,200,000,000,000.00, too large" in out
    assert folder.run("--as-of", AS_OF) == 1
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist() == ["Error", "Error", "Error", "Invoiced"]
    told = services["Error"][2]
    assert "add up to $1,008,000,000,000.00 with tax, too large for one invoice" in told
    assert sheet(folder.workbook, "Invoices")["Client"].tolist() == ["Acme Ltd"]


def test_config_mistakes_exit_2(folder: Folder, capsys) -> None:
    basic(folder)
    for extra, words in [
        ("header_rows = 3", "header_rows"),
        ('default_terms = "sometime"', "default_terms"),
        ('currency = "XYZ"', "currency"),
        ("receipt_lag_days = 100000000", "receipt_lag_days"),
    ]:
        folder.write_config(extra=extra)
        assert folder.run("--as-of", AS_OF) == 2, extra
        assert words in capsys.readouterr().out
    assert folder.received == []


def test_only_an_unknown_client_is_an_error(folder: Folder, capsys) -> None:
    basic(folder)
    assert folder.run("--as-of", AS_OF, "--only", "Acmee Ltd") == 2
    assert "Did you mean 'Acme Ltd'" in capsys.readouterr().out
    assert folder.received == []


def test_inactive_client_with_incomplete_details_is_just_skipped(folder: Folder) -> None:
    write_workbook(
        folder.workbook,
        [client("Old", Email=None, Active="No", Terms="whenever")],
        [service(date(2026, 3, 2), "Old", "Work", 1, 100)],
    )
    assert folder.run("--as-of", AS_OF) == 0
    assert sheet(folder.workbook, "Services")["Status"].tolist() == ["Skipped"]


def test_an_inactive_clients_rows_are_skipped_whatever_else_is_wrong(folder: Folder) -> None:
    # SPEC: Skipped (inactive client, whatever else is wrong with the row): no Error, exit 0
    write_workbook(
        folder.workbook,
        [client("Old", Active="No"), client("Acme Ltd")],
        [service(date(2026, 3, 2), "Old", "Fine", 1, 100),
         service(date(2026, 3, 2), "Old", "Bad price", 1, "abc"),
         service(None, "old", "No date", 1, 100),
         service(date(2026, 3, 2), "Old", "Mismatch", 2, 50, Amount=99),
         service(date(2031, 3, 2), "Old", "Typo in the year", 1, 100),
         service(date(2026, 3, 2), "Acme Ltd", "Bad price", 1, "abc")],
    )  # fmt: skip
    assert folder.run("--as-of", AS_OF) == 1  # Acme's row only
    services = sheet(folder.workbook, "Services")
    assert services["Status"].tolist()[:4] == ["Skipped"] * 4
    assert pd.isna(services["Status"].iloc[4])  # not billable before its date: blank
    assert services["Error"].isna().tolist() == [True] * 5 + [False]
    assert services["Status"].iloc[5] == "Error"


def test_check_and_dry_run_stop_while_the_workbook_is_open(folder: Folder) -> None:
    basic(folder)
    (folder.root / f".~lock.{folder.workbook.name}#").write_text("LibreOffice")
    assert folder.run("--as-of", AS_OF, "--dry-run") == 3
    assert main_check(folder) == 3
    assert not (folder.root / "preview").exists()


def test_relative_outbox_is_from_the_current_folder(
    folder: Folder, tmp_path: Path, monkeypatch
) -> None:
    basic(folder)
    elsewhere = tmp_path / "here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert folder.run("--as-of", AS_OF, "--outbox", "mail") == 0
    assert len(list((elsewhere / "mail").glob("*.eml"))) == 2


def test_lines_billed_by_hand_under_one_merged_invoice_no_are_not_billed_again(
    folder: Folder,
) -> None:
    """Two lines billed by hand show one Invoice No merged over G3:G4 (OLD-0099): the
    second line is billed as well, not billed again (it was, on INV-2026-0001 with the
    new line, the number written into the hidden cell under the merge)."""
    import xlsxwriter
    from conftest import CLIENT_HEADERS, SERVICE_HEADERS

    wb = xlsxwriter.Workbook(str(folder.workbook))
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme Ltd", "acme@clients.example", "", "", "Net 30"])
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, SERVICE_HEADERS)
    lines = [(date(2026, 3, 2), "New work", 10), (date(2026, 2, 20), "By hand 1", 70),
             (date(2026, 2, 21), "By hand 2", 80)]  # fmt: skip
    for r, (when, what, price) in enumerate(lines, start=1):
        ws.write_datetime(r, 0, datetime(when.year, when.month, when.day), day)
        ws.write_row(r, 1, ["Acme Ltd", what, 1, price])
        ws.write_formula(r, 5, f"=D{r + 1}*E{r + 1}", None, price)
    ws.merge_range("G3:G4", "OLD-0099")
    wb.close()
    assert folder.run("--as-of", AS_OF) == 0
    assert len(folder.received) == 1
    ws = openpyxl.load_workbook(folder.workbook)["Services"]
    assert [ws.cell(r, 7).value for r in (2, 3, 4)] == ["INV-2026-0001", "OLD-0099", None]
    invoices = sheet(folder.workbook, "Invoices")
    assert invoices["Total"].tolist() == [10]
    assert folder.run("--as-of", "2026-03-16") == 0
    assert len(folder.received) == 1  # and not the next week either
