"""`init DIR`: a starter folder with a workbook, a commented config and templates.

The workbook has the three sheets with the default headers, formats and
drop-down lists, plus one example client and one example service so that a
dry run works at once. Nothing that exists is ever overwritten:

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp()) / "billing"
>>> sorted(p.name for p in init_folder(folder, Path("no-templates")))
['billing.toml', 'service_log.xlsx']
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .private import copy_as_new
from .schema import CLIENTS, PAYMENTS, SERVICES, SHEETS, Column

if TYPE_CHECKING:
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

WORKBOOK_NAME = "service_log.xlsx"
CONFIG_NAME = "billing.toml"
TEMPLATES_DIR = "templates"
#: Common payment terms offered in the Clients drop-down; others are still accepted.
COMMON_TERMS = ("Net 30", "Net 15", "Due on receipt", "EOM", "EOM 10", "15 MFI", "2/10 Net 30")
#: Rows covered by the drop-down lists (the bookkeeper rarely has more clients).
LIST_LAST_ROW = 500
EXAMPLE_CLIENT = "Example Client (delete me)"
#: The company name the example billing.toml carries until the bookkeeper changes it.
PLACEHOLDER_COMPANY = "Your Company"
#: ... and the email address.
PLACEHOLDER_EMAIL = "billing@example.com"

EXAMPLE_CONFIG = """\
# billing.toml: settings for the weekly billing run.
# Every option is shown with its default value; change what you need.
# Secrets never go here: the SMTP password comes from an environment variable.

[company]
# Printed on every invoice and email. Replace these placeholders.
name = "Your Company"
address = "1 Example Street\\nExample City"
email = "billing@example.com"
phone = "+1 555 0100"
tax_id = ""
website = ""
# Bank details for payment, printed on the invoice.
bank_name = ""
account_name = ""
account_number = ""
iban = ""
swift = ""
# A payment QR code goes on EUR invoices and statements when iban and a BIC are
# set (EPC "GiroCode"; bic, else swift), and on RUB ones with the Russian bank
# details below (GOST R 56042-2014). Leave them empty for no code.
bic = ""
ru_account = ""         # расчётный счёт, 20 digits
ru_bank_name = ""
ru_bic = ""             # БИК, 9 digits
ru_corr_account = ""    # корр. счёт, 20 digits
ru_inn = ""             # optional: ИНН получателя
ru_kpp = ""             # optional: КПП получателя

[billing]
# The service log workbook (keep it beside this file).
workbook = "service_log.xlsx"
# Where invoices/<year>/, reports/ and preview/ go; empty = beside the workbook.
# (.billing/, the ledger and backups, always stays beside the workbook.)
output_dir = ""
# Invoice numbers; may use {year}, {month} and {seq} (must contain {seq}).
number_format = "INV-{year}-{seq:04d}"
# Credit notes (Void, Rebill, Credit Amount) have their own series; {year} is the note's date.
credit_note_format = "CN-{year}-{seq:04d}"
# A service is billed once its date + this many days is on or before the run date.
bill_after_days = 0
# Defaults for clients whose Terms / Currency / Language cells are empty.
# Terms: Net N, Due on receipt, Receipt N, EOM, EOM N, D MFI, P/D Net N.
default_terms = "Net 30"
currency = "USD"
language = "en"          # en, ru or kk
# Days between sending an invoice and the client receiving it (receipt-based terms).
receipt_lag_days = 0
# Move due dates that fall on a weekend or public holiday to the next business day.
business_days = false
holidays_country = ""       # e.g. "US", "GB", "KZ"
holidays_subdivision = ""   # e.g. "CA" for California; empty for national holidays
# How dates typed as text with slashes are read: "DMY" (05/03/2026 is 5 March)
# or "MDY" (May 3). Empty: only when they cannot be misread (25/03/2026).
date_order = ""
# Excel row of each sheet's header when it cannot be found automatically,
# e.g. { Services = 3 }. Empty = find it automatically.
header_rows = {}

[reissue]
# An overdue invoice is re-sent this many days after it was last emailed...
every_days = 7
# ...with a new due date this many days after the reissue...
due_in_days = 14
# ...at most this many times; after that it is Escalated for a person to follow up.
max_count = 3

[statements]
# From this day of each month, the first run emails last month's statement of
# account to every client with an open balance, once. 0 = never (run
# `statement` by hand instead).
day = 0

[bank]
# Bank statements dropped into this folder (beside the workbook) are imported
# by the next run and moved to its imported/ folder; `run-billing payments FILE`
# imports one by hand (`python run_billing.py payments FILE` from a copy of the
# project). 1C, camt.053/054, MT940 and OFX are recognised.
inbox = "statements"
# A payment short of an invoice's balance by no more than this is taken as paid
# in full, the difference noted as a bank fee. 0 = only exact amounts.
fee_tolerance = 0
# The currency of lines whose file does not say (a CSV without a currency column).
currency = ""

# Your bank's CSV export: name its columns (date, amount and reference are
# needed). For example:
# [bank.csv]
# date = "Booking date"
# amount = "Amount"
# reference = "Details"
# payer = "Counterparty"
# direction = "Soll/Haben"   # only when amounts are all positive and a column says S/H, D/C
# date_format = "%d.%m.%Y"
# decimal = ","
# delimiter = ";"

[email]
# "outbox" writes .eml files to outbox_dir (nothing is sent); "smtp" sends mail.
mode = "outbox"
outbox_dir = "outbox"
host = "localhost"
port = 0                    # 0 = the usual port for security: 465, 587 or 25
security = "starttls"       # ssl, starttls or none
username = ""
# The password is read from this environment variable...
password_env = "BILLING_SMTP_PASSWORD"
# ...or from the OS keyring when this is true.
use_keyring = false
from = ""                   # the sender address, e.g. "billing@example.com"
from_name = ""              # empty = [company] name
reply_to = ""
bcc = ""                    # a copy of every message, e.g. for your archive
redirect_to = ""            # for testing: send everything here instead of to clients
allow_insecure = false      # allow security = "none" to a server that is not on this computer
ca_file = ""                # your own certificate authority (added to the system's), if any
attach = "docx"             # docx, pdf or both
report_to = ""              # where to email the run summary; empty = nobody
timeout = 30.0              # seconds to wait for the mail server
retry_window = 300          # seconds to keep retrying "try again later" (greylisting)
max_retries = 6             # retries within that window, the waits doubling
connections = 1             # SMTP connections sending at once (1-10; many providers accept 2-4)
# Microsoft 365 and Google Workspace: sign in with OAuth 2.0 instead of a password
# (see the README): auth = "oauth2", the provider and the app's client ID, then
# run `run-billing login` once (`python run_billing.py login` from a copy of the
# project). No password is needed then.
auth = "password"           # "password" or "oauth2"
oauth_provider = ""         # "microsoft" or "google"
client_id = ""              # the Application (client) ID of the app you registered
client_secret_env = ""      # Google: the environment variable holding the client secret
tenant = "organizations"    # Microsoft: your Directory (tenant) ID or domain
oauth_device_url = ""       # empty = the provider's own sign-in addresses
oauth_token_url = ""

# Your own column headers: default header = your header. One table per sheet
# ([columns.Clients], [columns.Services], [columns.Invoices]). For example:
# [columns.Services]
# Client = "Customer"
# "Unit Price" = "Rate"
"""

_WIDTHS = {"Description": 40, "Address": 32, "Email": 30, "CC": 24, "Error": 45, "Note": 45}
_KIND_WIDTHS = {"date": 12, "datetime": 17, "money": 13, "number": 10, "int": 9}
_KIND_FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "money": "#,##0.00",
    "int": "0",
}


class StarterError(Exception):
    """The starter folder cannot be made (it would overwrite the bookkeeper's files)."""


def init_folder(target: Path, template_dir: Path, today: date | None = None) -> list[Path]:
    """Create a starter folder in `target` and return the files created.

    `today` dates the example service (default: the real today), so that a
    dry run bills it straight away.
    """
    copies = _template_copies(template_dir, target / TEMPLATES_DIR)
    planned = [target / WORKBOOK_NAME, target / CONFIG_NAME, *(dest for _, dest in copies)]
    existing = [p for p in planned if p.exists()]
    if existing:
        raise StarterError(
            f"{target} already holds {', '.join(str(p.relative_to(target)) for p in existing)}; "
            "nothing was changed. Choose an empty folder, or move those files away first."
        )
    if target.exists() and not target.is_dir():
        raise StarterError(f"{target} exists and is not a folder; nothing was changed.")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder of the path should be; no right to write
        raise StarterError(
            f"cannot make the folder {target} ({exc.strerror or exc}): choose a folder you may "
            "write in, whose path holds no file of the same name; nothing was changed."
        ) from None
    write_starter_workbook(target / WORKBOOK_NAME, today or date.today())
    (target / CONFIG_NAME).write_text(EXAMPLE_CONFIG, encoding="utf-8")
    for source, dest in copies:
        dest.parent.mkdir(parents=True, exist_ok=True)
        copy_as_new(source, dest)  # never the installed file's (read-only) mode
    return planned


def _template_copies(template_dir: Path, dest_dir: Path) -> list[tuple[Path, Path]]:
    """(source, destination) of each Word template and email template that exists."""
    if not template_dir.is_dir():
        return []
    sources = (
        sorted(template_dir.glob("invoice*.docx"))
        + sorted(template_dir.glob("credit_note*.docx"))
        + sorted(template_dir.glob("statement*.docx"))
    )
    email_dir = template_dir / "email"
    if email_dir.is_dir():
        # Skip editor and OS leftovers (.DS_Store, ~$ lock files, backups).
        sources += sorted(
            p for p in email_dir.rglob("*") if p.is_file() and not p.name.startswith((".", "~"))
        )
    return [(p, dest_dir / p.relative_to(template_dir)) for p in sources]


def write_starter_workbook(path: Path, today: date) -> None:
    """Write the starter workbook (temp file, then moved into place)."""
    # Imported here: a weekly run reads this module's example names, not its workbook.
    import xlsxwriter

    handle, temp_name = tempfile.mkstemp(prefix=".starter-", suffix=".xlsx", dir=path.parent)
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(temp_name)
        # Payments is made by the first statement import (`payments`, or the [bank] inbox).
        sheets = {
            name: _add_sheet(workbook, name, columns)
            for name, columns in SHEETS.items()
            if name != PAYMENTS
        }
        _add_clients_extras(sheets[CLIENTS])
        _add_services_extras(workbook, sheets[SERVICES], today)
        workbook.close()
        os.replace(temp_name, path)
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)


def _add_sheet(workbook: Workbook, name: str, columns: Sequence[Column]) -> Worksheet:
    """A sheet with bold frozen headers, column widths and per-kind number formats."""
    sheet = workbook.add_worksheet(name)
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
    for col, column in enumerate(columns):
        default_width = _KIND_WIDTHS.get(column.kind, max(12, len(column.name) + 2))
        width = _WIDTHS.get(column.name, default_width)
        pattern = _KIND_FORMATS.get(column.kind)
        fmt = workbook.add_format({"num_format": pattern}) if pattern else None
        sheet.set_column(col, col, width, fmt)
        sheet.write_string(0, col, column.name, header)
    sheet.freeze_panes(1, 0)
    return sheet


def _col(sheet: str, name: str) -> int:
    return [c.name for c in SHEETS[sheet]].index(name)


def _add_clients_extras(sheet: Worksheet) -> None:
    terms = _col(CLIENTS, "Terms")
    sheet.data_validation(
        1,
        terms,
        LIST_LAST_ROW - 1,
        terms,
        {
            "validate": "list",
            "source": list(COMMON_TERMS),
            # Information style: the list is a help, any form of the grammar is allowed.
            "error_type": "information",
            "error_title": "Payment terms",
            "error_message": "Not one of the common forms; the run will check it.",
            "input_title": "Payment terms",
            "input_message": "Pick one, or type e.g. Net 45, Receipt 10, 25 MFI.",
        },
    )
    example = {
        "Client": EXAMPLE_CLIENT,
        "Email": "client@example.com",
        "Address": "Example Street 1\nExample City",
        "Terms": "Net 30",
        "Currency": "USD",
        "Language": "en",
        "Tax Rate": 0,
        "Active": "Yes",
    }
    _write_example(sheet, CLIENTS, example)


def _add_services_extras(workbook: Workbook, sheet: Worksheet, today: date) -> None:
    from xlsxwriter.utility import xl_col_to_name

    client = _col(SERVICES, "Client")
    client_col = xl_col_to_name(_col(CLIENTS, "Client"))
    sheet.data_validation(
        1,
        client,
        LIST_LAST_ROW - 1,
        client,
        {
            "validate": "list",
            "source": f"={CLIENTS}!${client_col}$2:${client_col}${LIST_LAST_ROW}",
            # Warning, not stop: the run matches names ignoring case and spaces,
            # which Excel's strict list check would refuse.
            "error_type": "warning",
            "error_title": "Unknown client",
            "error_message": "This name is not in the Clients sheet; add it there first.",
        },
    )
    quantity, price = Decimal(2), Decimal("50.00")
    example = {
        "Date": today,
        "Client": EXAMPLE_CLIENT,
        "Description": "Example service (delete this row)",
        "Quantity": quantity,
        "Unit Price": price,
    }
    _write_example(sheet, SERVICES, example)
    qty_cell = xl_col_to_name(_col(SERVICES, "Quantity")) + "2"
    price_cell = xl_col_to_name(_col(SERVICES, "Unit Price")) + "2"
    money = workbook.add_format({"num_format": _KIND_FORMATS["money"]})
    # A formula shows the bookkeeper that Amount may be computed; the cached
    # value lets readers that do not calculate (pandas, openpyxl) see it.
    sheet.write_formula(
        1,
        _col(SERVICES, "Amount"),
        f"={qty_cell}*{price_cell}",
        money,
        float(quantity * price),
    )


def _write_example(sheet: Worksheet, sheet_name: str, values: dict[str, Any]) -> None:
    """Row 2 of a sheet: one example record (dates and numbers as real values)."""
    for name, value in values.items():
        col = _col(sheet_name, name)
        if isinstance(value, date):
            sheet.write_datetime(1, col, value)
        elif isinstance(value, Decimal | int):
            sheet.write_number(1, col, float(value))  # xlsxwriter takes no Decimal
        else:
            sheet.write_string(1, col, value)
