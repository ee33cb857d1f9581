"""Payments from bank statements: read the bank's file, match lines to invoices.

One reader per format, each recognised by the file's content and each giving
the same plain record, `BankLine`; `match.match_lines` is a pure function
from open invoices and bank lines to decisions; `importer` ties them to the
ledger and the workbook.

    lines, errors = read_statement(Path("statements/kaspi.txt"), BankConfig())
    decisions = match_lines(open_invoices, payers, lines, fee_tolerance=Decimal("0"))
"""

from .detect import read_statement
from .record import BankConfig, BankLine, StatementError

__all__ = ["BankConfig", "BankLine", "StatementError", "read_statement"]
