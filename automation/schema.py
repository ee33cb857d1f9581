"""The workbook's sheets and columns, declared once.

Every header can be renamed in the config (`[columns.Services] Client =
"Customer"`); `header_for` gives the header the bookkeeper actually uses.

>>> [c.name for c in SERVICES_COLUMNS if c.required]
['Date', 'Client', 'Description']
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "date", "datetime", "money", "number", "int"]
Owner = Literal["bookkeeper", "tool"]

CLIENTS = "Clients"
SERVICES = "Services"
INVOICES = "Invoices"
PAYMENTS = "Payments"


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its default header, type, and who writes it."""

    name: str
    kind: Kind = "text"
    required: bool = False
    owner: Owner = "bookkeeper"


CLIENTS_COLUMNS: tuple[Column, ...] = (
    Column("Client", required=True),
    Column("Email", required=True),
    Column("CC"),
    Column("Address"),
    Column("Terms"),
    Column("Currency"),
    Column("Language"),
    Column("Tax Rate"),
    Column("Active"),
    Column("Payer ID"),
)

SERVICES_COLUMNS: tuple[Column, ...] = (
    Column("Date", "date", required=True),
    Column("Client", required=True),
    Column("Description", required=True),
    Column("Quantity", "number"),
    Column("Unit Price", "money"),
    Column("Amount", "money"),
    Column("Invoice No", owner="tool"),
    Column("Due Date", "date", owner="tool"),
    Column("Status", owner="tool"),
    Column("Error", owner="tool"),
)

INVOICES_COLUMNS: tuple[Column, ...] = (
    Column("Invoice No", owner="tool"),
    Column("Client", owner="tool"),
    Column("Currency", owner="tool"),
    Column("Terms", owner="tool"),
    Column("Invoice Date", "date", owner="tool"),
    Column("Due Date", "date", owner="tool"),
    Column("Total", "money", owner="tool"),
    Column("Paid Amount", "money"),
    Column("Paid Date", "date"),
    Column("Balance", "money", owner="tool"),
    Column("Status", owner="tool"),
    Column("Sent At", "datetime", owner="tool"),
    Column("Last Sent", "datetime", owner="tool"),
    Column("Reissue", owner="tool"),
    Column("Reissue Count", "int", owner="tool"),
    Column("Note", owner="tool"),
    Column("Credit Amount", "money"),
    Column("Credit Notes", owner="tool"),
    Column("Resend"),
    Column("Paid By Bank", "money", owner="tool"),
)

#: One row per incoming bank line (the tool creates the sheet); the bookkeeper
#: may type Invoice No, or Ignore in Status, on a Review line.
PAYMENTS_COLUMNS: tuple[Column, ...] = (
    Column("Date", "date", owner="tool"),
    Column("Amount", "money", owner="tool"),
    Column("Currency", owner="tool"),
    Column("Payer", owner="tool"),
    Column("Payer ID", owner="tool"),
    Column("Reference", owner="tool"),
    Column("Bank Ref", required=True, owner="tool"),
    Column("File", owner="tool"),
    Column("Invoice No"),
    Column("Rule", owner="tool"),
    Column("Status"),
    Column("Note", owner="tool"),
)

SHEETS: dict[str, tuple[Column, ...]] = {
    CLIENTS: CLIENTS_COLUMNS,
    SERVICES: SERVICES_COLUMNS,
    INVOICES: INVOICES_COLUMNS,
    PAYMENTS: PAYMENTS_COLUMNS,
}


def normalise_header(text: object) -> str:
    """Headers (and client names) match ignoring case, surrounding (or doubled) spaces,
    and how an accented letter is encoded: "é" as one character, or as "e" and an accent
    (as text pasted from a Mac or a PDF often is), both look alike (Unicode NFC).

    Text already in NFC, as typed text almost always is, gives what it gave before the
    accents were normalised (the ledger keeps such keys); and a key given again gives
    itself, so a key kept from before reads as the key of its name now.

    >>> normalise_header("  Unit   PRICE "), normalise_header("Cafe\u0301") == "café"
    ('unit price', True)
    """
    return " ".join(unicodedata.normalize("NFC", str(text)).split()).casefold()


def header_for(sheet: str, column: str, renames: dict[str, dict[str, str]]) -> str:
    """The header the bookkeeper uses for a default column name."""
    return renames.get(sheet, {}).get(column, column)


def sheet_headers(sheet: str, renames: dict[str, dict[str, str]]) -> list[str]:
    """All headers of a sheet, in the default order, renamed per the config."""
    return [header_for(sheet, c.name, renames) for c in SHEETS[sheet]]
