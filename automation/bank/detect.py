"""Recognise a statement's format by its content and read it with the right reader.

A byte-order mark is believed over `[bank.csv] encoding`: Excel's "CSV UTF-8"
always writes one, its "Unicode text" is UTF-16. A text file that is none of
the other formats goes to the CSV reader when `[bank.csv]` is set, so a
header below account lines, or a misspelt column, is told by that reader.

lines, errors = read_statement(Path("statements/march.xml"), config.bank)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..model import RowError
from .camt import is_camt, read_camt
from .csvfile import looks_like, read_csv
from .mt940 import is_mt940, read_mt940
from .ofx import is_ofx, read_ofx
from .onec import is_onec, read_onec
from .record import BankConfig, BankLine, CsvLayout, StatementError, line_error

#: Larger than any real statement a small firm gets; a bigger file is not read into memory.
MAX_BYTES = 200 * 1024 * 1024
HEAD = 8192
UTF8_BOM = b"\xef\xbb\xbf"
#: The byte-order marks and the encoding each one names.
BOMS = ((UTF8_BOM, "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def bom_encoding(data: bytes) -> str:
    """The encoding a byte-order mark names, or "".

    >>> bom_encoding("Date".encode("utf-16")), bom_encoding(b"Date")
    ('utf-16', '')
    """
    return next((name for mark, name in BOMS if data.startswith(mark)), "")


def csv_layout(data: bytes, layout: CsvLayout) -> CsvLayout:
    """`[bank.csv]` with the encoding the file's byte-order mark names, if it has one."""
    named = bom_encoding(data)
    return replace(layout, encoding=named) if named else layout


def as_utf8(data: bytes) -> bytes:
    """A UTF-16 file as UTF-8 (with its mark), which the 1C, MT940 and OFX readers know."""
    if bom_encoding(data) != "utf-16":
        return data
    return UTF8_BOM + data.decode("utf-16", errors="replace").encode("utf-8")


def _is_text(head: bytes, layout: CsvLayout) -> bool:
    """Lines of text with the configured delimiter: no NUL bytes, few undecodable ones."""
    try:
        text = head.decode(layout.encoding, errors="replace")
    except LookupError:
        return True  # the CSV reader says the encoding is unknown
    if "\x00" in text or text.count("\ufffd") > len(text) // 10:
        return False
    return any(layout.delimiter in row for row in text.splitlines()[:30])


def _blank(data: bytes) -> bool:
    """Nothing but white space, after any byte-order mark (a file Notepad saved empty)."""
    return not as_utf8(data).removeprefix(UTF8_BOM).strip()


def format_of(data: bytes, config: BankConfig) -> str:
    """ "1c", "camt", "mt940", "ofx" or "csv"; StatementError when none fits."""
    if _blank(data[: 2 * HEAD]) and _blank(data):
        raise StatementError("it is empty.")
    layout = csv_layout(data, config.csv)
    head = as_utf8(data[: 2 * HEAD])[:HEAD]
    if is_onec(head):
        return "1c"
    if is_ofx(head):
        return "ofx"
    if looks_like(data[:HEAD], layout):  # the configured header row is the surest sign
        return "csv"
    if is_camt(head):
        return "camt"
    if is_mt940(head):
        return "mt940"
    if layout.configured and _is_text(data[:HEAD], layout):
        return "csv"
    hint = "" if config.csv.configured else " (for a CSV file, describe its columns in [bank.csv])"
    raise StatementError(
        "it is not a statement format the tool reads: 1C (1CClientBankExchange), "
        f"camt.053/camt.054, MT940, OFX/QFX or CSV{hint}."
    )


def read_statement(
    path: Path, config: BankConfig, set_currency: str = ""
) -> tuple[list[BankLine], list[RowError]]:
    """Every line of one statement file, and what could not be read (never raises for content).

    `config.currency` is the currency of a file that does not say; `set_currency` is
    `[bank] currency` when the bookkeeper set it, which also wins over the guess a 1C
    file's IBAN gives (a Kazakh dollar account has a KZ IBAN too)."""
    name = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            return [], [line_error(name, None, None, "the file is too large for a statement.")]
        data = path.read_bytes()
    except OSError as exc:
        return [], [line_error(name, None, None, f"cannot be read ({exc.strerror}).")]
    try:
        lines, errors = _read(data, name, config, set_currency)
    except StatementError as exc:
        return [], [line_error(name, None, None, str(exc))]
    # A line of amount zero moves no money (SNS Bank's notices, `C0,00NDIV`): it is left
    # out, as the CSV reader leaves out its balance lines, and waits for no review.
    return [ln for ln in lines if ln.amount], errors


def _read(
    data: bytes, name: str, config: BankConfig, set_currency: str
) -> tuple[list[BankLine], list[RowError]]:
    kind = format_of(data, config)
    if kind == "1c":
        return read_onec(as_utf8(data), name, config.currency, set_currency)
    if kind == "ofx":
        return read_ofx(as_utf8(data), name)
    if kind == "camt":
        return read_camt(data, name)  # XML knows its own encoding
    if kind == "mt940":
        return read_mt940(as_utf8(data), name)
    return read_csv(data, name, csv_layout(data, config.csv), config.currency)
