"""`[bank]` and `[bank.csv]` of billing.toml, checked into a BankConfig.

>>> cfg = parse_bank({"fee_tolerance": 0.5, "csv": {"date": "Date", "amount": "Amt",
...                   "reference": "Memo", "decimal": ","}})
>>> cfg.fee_tolerance, cfg.csv.decimal, cfg.inbox
(Decimal('0.5'), ',', 'statements')
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any

from ..money import CURRENCY_CODES, D, MoneyError, currency_in_use, currency_problem
from .record import BankConfig, CsvLayout


class BankConfigError(ValueError):
    """`[bank]` cannot be used (the caller turns this into a ConfigError, exit 2)."""


def parse_bank(data: Any) -> BankConfig:
    if data is None:
        return BankConfig()
    if not isinstance(data, dict):
        raise BankConfigError("[bank] must be a table of options.")
    known = {"inbox", "fee_tolerance", "csv", "currency"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BankConfigError(
            f"[bank] has an unknown option {unknown[0]!r}; "
            f"known options: {', '.join(sorted(known))}."
        )
    inbox = data.get("inbox", "statements")
    if not isinstance(inbox, str) or not inbox.strip():
        raise BankConfigError('[bank] inbox must be a folder name in quotes, e.g. "statements".')
    tolerance = _tolerance(data.get("fee_tolerance", 0))
    currency = data.get("currency", "")
    if not isinstance(currency, str) or currency.strip().upper() not in {"", *CURRENCY_CODES}:
        # as [billing] currency: else every line of the bank's file would wait in Review
        raise BankConfigError(
            f'[bank] currency must be an ISO currency code such as "EUR", not {currency!r}.'
        )
    if currency.strip() and not currency_in_use(currency.strip()):
        raise BankConfigError(f"[bank] currency {currency!r} {currency_problem(currency.strip())}")
    return BankConfig(inbox, tolerance, _csv(data.get("csv")), currency.strip().upper())


def _tolerance(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise BankConfigError("[bank] fee_tolerance must be an amount such as 1.50.")
    try:
        amount = D(value)
    except MoneyError:
        raise BankConfigError(
            f"[bank] fee_tolerance must be an amount such as 1.50, not {value!r}."
        ) from None
    if amount < 0:
        raise BankConfigError("[bank] fee_tolerance cannot be negative.")
    return amount


def _csv(data: Any) -> CsvLayout:
    if data is None:
        return CsvLayout()
    if not isinstance(data, dict):
        raise BankConfigError('[bank.csv] must be a table, e.g. date = "Booking date".')
    known = {f.name for f in fields(CsvLayout)}
    for key, value in data.items():
        if key not in known:
            raise BankConfigError(
                f"[bank.csv] has an unknown option {key!r}; known options: "
                f"{', '.join(sorted(known))}."
            )
        if not isinstance(value, str):
            raise BankConfigError(f"[bank.csv] {key} must be text in quotes, not {value!r}.")
    layout = CsvLayout(**data)
    missing = [k for k in ("date", "amount", "reference") if not getattr(layout, k)]
    if missing:
        raise BankConfigError(
            f"[bank.csv] must name the {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''} of the bank's file."
        )
    if layout.debit and layout.direction:
        raise BankConfigError(
            "[bank.csv] sets both debit and direction: a bank writes money out in a column "
            "of its own (debit) or says which way each amount went (direction); keep the one "
            "its file has."
        )
    if layout.decimal not in (".", ","):
        raise BankConfigError('[bank.csv] decimal must be "." or ",".')
    if len(layout.delimiter) != 1:
        raise BankConfigError('[bank.csv] delimiter must be one character, e.g. ";" or "\\t".')
    try:
        "x".encode(layout.encoding)
    except LookupError:
        raise BankConfigError(f"[bank.csv] encoding {layout.encoding!r} is unknown.") from None
    if "%" not in layout.date_format:
        raise BankConfigError('[bank.csv] date_format must be a strftime pattern like "%d.%m.%Y".')
    return layout
