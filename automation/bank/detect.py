"""Recognise a statement's format by its content and read it with the right reader.

lines, errors = read_statement(Path("statements/march.xml"), config.bank)
"""

from __future__ import annotations

from pathlib import Path

from ..model import RowError
from .camt import is_camt, read_camt
from .csvfile import looks_like, read_csv
from .mt940 import is_mt940, read_mt940
from .ofx import is_ofx, read_ofx
from .onec import is_onec, read_onec
from .record import BankConfig, BankLine, StatementError, line_error

#: Larger than any real statement a small firm gets; a bigger file is not read into memory.
MAX_BYTES = 200 * 1024 * 1024


def format_of(data: bytes, config: BankConfig) -> str:
    """ "1c", "camt", "mt940", "ofx" or "csv"; StatementError when none fits."""
    head = data[:8192]
    if is_onec(head):
        return "1c"
    if is_ofx(head):
        return "ofx"
    if looks_like(head, config.csv):  # the configured header row is the surest sign
        return "csv"
    if is_camt(head):
        return "camt"
    if is_mt940(head):
        return "mt940"
    hint = "" if config.csv.configured else " (for a CSV file, describe its columns in [bank.csv])"
    raise StatementError(
        "it is not a statement format the tool reads: 1C (1CClientBankExchange), "
        f"camt.053/camt.054, MT940, OFX/QFX or CSV{hint}."
    )


def read_statement(path: Path, config: BankConfig) -> tuple[list[BankLine], list[RowError]]:
    """Every line of one statement file, and what could not be read (never raises for content)."""
    name = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            return [], [line_error(name, None, None, "the file is too large for a statement.")]
        data = path.read_bytes()
    except OSError as exc:
        return [], [line_error(name, None, None, f"cannot be read ({exc.strerror}).")]
    try:
        kind = format_of(data, config)
        if kind == "1c":
            return read_onec(data, name, config.currency)
        if kind == "ofx":
            return read_ofx(data, name)
        if kind == "camt":
            return read_camt(data, name)
        if kind == "mt940":
            return read_mt940(data, name)
        return read_csv(data, name, config.csv, config.currency)
    except StatementError as exc:
        return [], [line_error(name, None, None, str(exc))]
