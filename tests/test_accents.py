"""A name or a header matches however its accented letters are encoded.

"é" is one character when typed on most keyboards, and "e" followed by a combining
accent when pasted from a Mac or a PDF: the two look the same, and the bookkeeper
cannot tell which a cell holds. Client names and headers match in either form;
ledgers kept before keep their invoices with their clients.
"""

from __future__ import annotations

import shutil
import sqlite3
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import xlsxwriter
from conftest import CLIENT_HEADERS, SERVICE_HEADERS, Folder, client, service, write_workbook

from automation.config import Config
from automation.read import read_workbook
from automation.validate import validate_clients, validate_services

NFC = unicodedata.normalize("NFC", "Café Noir")
NFD = unicodedata.normalize("NFD", NFC)


def test_a_client_matches_in_either_encoding(tmp_path: Path) -> None:
    """ "Café Noir" with a decomposed é in Clients and a precomposed one in Services (and
    the other way round) was '"Café Noir" is not in Clients'."""
    book = write_workbook(
        tmp_path / "log.xlsx",
        [client(NFD, Email="noir@clients.example"), client("Crème", Email="c@clients.example")],
        [
            service(date(2026, 3, 2), NFC, "Bookkeeping"),
            service(date(2026, 3, 2), unicodedata.normalize("NFD", "CRÈME"), "Payroll"),
        ],
    )
    data = read_workbook(book, Config())
    lines, errors = validate_services(data.services, validate_clients(data.clients, Config()))
    assert errors == {}
    assert [(line.row, line.amount) for line in lines] == [(2, Decimal(100)), (3, Decimal(100))]


def _renamed_log(path: Path) -> None:
    """A log whose Description header is "Désignation" with a decomposed é."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Clients")
    ws.write_row(0, 0, CLIENT_HEADERS)
    ws.write_row(1, 0, ["Acme", "ap@acme.example"])
    ws = wb.add_worksheet("Services")
    headers = [unicodedata.normalize("NFD", "Désignation") if h == "Description" else h
               for h in SERVICE_HEADERS]  # fmt: skip
    ws.write_row(0, 0, headers)
    ws.write_datetime(1, 0, datetime(2026, 3, 2), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_row(1, 1, ["Acme", "Audit", 1, 100])
    wb.close()


def test_a_header_matches_in_either_encoding(folder: Folder) -> None:
    """A rename to "Désignation" (typed in billing.toml, é precomposed) finds the header
    pasted with a decomposed é: the run reads the column and writes back beside it."""
    _renamed_log(folder.workbook)
    folder.write_config('[columns.Services]\nDescription = "Désignation"')
    assert folder.run("--as-of", "2026-03-09") == 0
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="openpyxl")
    assert list(services["Status"]) == ["Invoiced"]
    assert len(folder.received) == 1


def test_an_invoice_kept_under_a_decomposed_key_keeps_its_client(folder: Folder) -> None:
    """A ledger from before kept the key of a name typed decomposed as it was (casefolded,
    not normalised): its invoices are still the client's, and are followed up."""
    write_workbook(
        folder.workbook,
        [client(NFD, Email="noir@clients.example", Terms="Net 7")],
        [service(date(2026, 1, 2), NFD, "Work", 1, 500)],
    )
    assert folder.run("--as-of", "2026-01-05") == 0
    with sqlite3.connect(folder.root / ".billing" / "ledger.sqlite") as ledger:
        ledger.execute("UPDATE invoices SET client_key = ?", (NFD.casefold(),))
    ledger.close()
    assert folder.run("--as-of", "2026-03-09") == 0  # nine weeks on: overdue, reissued
    assert len(folder.received) == 2


def test_a_line_billed_before_names_were_normalised_is_not_billed_again(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line billed by the version before (keys casefolded, not NFC) for a client typed
    "Cafe\u0301 Noir", whose Invoice No the workbook then lost (an older copy put back):
    the ledger still knows it by its fingerprint, so it is put back, not billed again."""
    from automation import ledger, validate

    def before(text: object) -> str:
        return " ".join(str(text).split()).casefold()

    write_workbook(folder.workbook, [client(NFD, Email="noir@clients.example")],
                   [service(date(2026, 3, 2), NFD, "Work", 1, 500)])  # fmt: skip
    copy = folder.root / "before.xlsx"
    shutil.copy(folder.workbook, copy)
    monkeypatch.setattr(validate, "normalise_header", before)
    monkeypatch.setattr(ledger, "normalise_header", before)
    validate._text_key.cache_clear()
    assert folder.run("--as-of", "2026-03-09") == 0
    monkeypatch.undo()
    validate._text_key.cache_clear()
    shutil.copy(copy, folder.workbook)
    folder.run("--as-of", "2026-03-10")
    services = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert services["Invoice No"].tolist() == ["INV-2026-0001"]
    assert len(folder.received) == 1


def test_a_statement_planned_before_names_were_normalised_still_goes(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month's statement planned by the version before (its client's key not NFC, the
    name typed "Cafe\u0301 Noir") and refused at its first send is sent at the next run,
    not dropped as for a client no longer in Clients."""
    from automation import ledger, statement_mail, validate

    def before(text: object) -> str:
        return " ".join(str(text).split()).casefold()

    folder.write_config(extra="[statements]\nday = 1")
    write_workbook(folder.workbook, [client(NFD, Email="noir@clients.example")],
                   [service(date(2026, 9, 28), NFD, "Work", 1, 500)])  # fmt: skip
    for module in (validate, ledger, statement_mail):  # the version before: no NFC
        monkeypatch.setattr(module, "normalise_header", before, raising=False)
    validate._text_key.cache_clear()
    assert folder.run("--as-of", "2026-10-01") == 0
    folder.recorder.refuse = frozenset({"noir@clients.example"})
    assert folder.run("--as-of", "2026-11-01") == 1  # the statement refused
    monkeypatch.undo()
    validate._text_key.cache_clear()
    folder.recorder.refuse = frozenset()
    assert folder.run("--as-of", "2026-11-02") == 0
    subjects = [str(m.message["Subject"]) for m in folder.received]
    assert sum("Statement" in s for s in subjects) == 1
