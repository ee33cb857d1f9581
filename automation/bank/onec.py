"""The 1C client-bank exchange file (`1CClientBankExchange`), as banks in Kazakhstan
and Russia export it ("выписка в 1С").

Two dialects share the `key=value` layout:

- Russian (format 1.02/1.03; Sberbank, Tochka...): `СекцияДокумент=Платежное
  поручение` with `Сумма`, `ПлательщикСчет`/`ПолучательСчет`; which way the
  money went is seen by comparing those accounts with the statement's own
  `РасчСчет`. The date the money arrived is `ДатаПоступило`.
- Kazakh (format 1.01/2.00; Kaspi, Halyk, Jusan...): `СекцияДокумент=выписка`
  with `СуммаПриход` / `СуммаРасход`, `ПлательщикБИН_ИИН`, `ПлательщикИИК`,
  `ДатаОперации` and `КодНазначенияПлатежа`; the date the money arrived is
  `ДатаПоступило` where the bank writes it (`ДатаСписано` for money going out),
  else `ДатаОперации`.

Encodings: Windows-1251 (`Кодировка=Windows`), CP866 (`Кодировка=DOS`) and
UTF-8 with or without a BOM. Keys are matched ignoring case (some banks write
`СЕКЦИЯДОКУМЕНТ`).

    lines, errors = read_onec(path.read_bytes(), "kaspi.txt", default_currency="KZT")
"""

from __future__ import annotations

import functools
import re
from datetime import date
from decimal import Decimal

from ..model import RowError
from ..money import MoneyError, plain_decimal
from .record import (
    IN,
    OUT,
    BankLine,
    Direction,
    Part,
    StatementError,
    amount_problem,
    content_refs,
    cut_short,
    first,
    line_error,
    normal_id,
    number_repeats,
)

MAGIC = b"1CClientBankExchange"
BOM = b"\xef\xbb\xbf"

#: Digits 6-8 of a Russian account number are the currency's ISO 4217 numeric code.
NUMERIC_CURRENCIES = {
    "810": "RUB", "643": "RUB", "840": "USD", "978": "EUR", "398": "KZT",
    "156": "CNY", "933": "BYN", "974": "BYN", "826": "GBP", "756": "CHF",
    "417": "KGS", "860": "UZS", "051": "AMD", "944": "AZN", "981": "GEL",
}  # fmt: skip
#: What an IBAN's country says about the account's usual currency.
IBAN_CURRENCIES = {"KZ": "KZT", "BY": "BYN", "KG": "KGS", "UZ": "UZS"}


def is_onec(head: bytes) -> bool:
    return head.removeprefix(BOM).lstrip().startswith(MAGIC)


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without BOM), else Windows-1251 or CP866.

    `Кодировка=` names the encoding, but in that very encoding, so the bytes
    are searched for the key as each candidate would write it.
    """
    if data.startswith(BOM):
        return data[len(BOM) :].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in ("cp1251", "cp866"):
        if "Кодировка".encode(encoding) in data[:4000]:
            return data.decode(encoding, errors="replace")
    for encoding in ("cp1251", "cp866"):
        for key in ("СекцияДокумент", "СЕКЦИЯДОКУМЕНТ"):
            if key.encode(encoding) in data:
                return data.decode(encoding, errors="replace")
    return data.decode("cp1251", errors="replace")


@functools.lru_cache(maxsize=512)
def _key(text: str) -> str:
    return text.strip().casefold()


SECTION_DOC = _key("СекцияДокумент")
END_DOC = _key("КонецДокумента")
SECTION_ACCOUNT = _key("СекцияРасчСчет")
END_FILE = _key("КонецФайла")
END_ACCOUNT = _key("КонецРасчСчет")
ACCOUNT = _key("РасчСчет")


def read_onec(
    data: bytes, file: str, default_currency: str = "", set_currency: str = ""
) -> tuple[list[BankLine], list[RowError]]:
    """Every document of the file as a BankLine; errors for documents that cannot be read.
    A file cut short (a document without its `КонецДокумента`, no `КонецФайла`) is a
    StatementError: nothing of it is read.

    The currency is the file's `Валюта` key, else what the account number says: a
    Russian number's currency digits, else `set_currency` (`[bank] currency`, set by
    the bookkeeper), else the usual currency of an IBAN's country (a Kazakh bank gives
    its dollar accounts KZ IBANs too, so that is only a guess), else `default_currency`.
    """
    text = decode(data)
    if not text.lstrip().startswith("1CClientBankExchange"):
        raise StatementError("it does not start with 1CClientBankExchange.")
    ours: set[str] = set()
    header: dict[str, str] = {}
    documents: list[tuple[int, str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    kind, start, ended = "", 0, False
    for number, raw in enumerate(text.splitlines(), start=1):
        name, sep, value = raw.partition("=")
        key = _key(name)  # a statement repeats a few dozen keys: cached
        if key == SECTION_DOC:
            if current is not None:
                raise cut_short(f"the document on line {start} has no КонецДокумента")
            current, kind, start = {}, value.strip(), number
            continue
        if key == END_FILE:
            ended = True
        if key == END_DOC:
            if current is not None:
                documents.append((start, kind, current))
            current = None
            continue
        if not sep:
            continue  # section markers, КонецФайла, blank lines
        if key == ACCOUNT and current is None:
            ours.add(normal_id(value))
        target = current if current is not None else header
        # The first value of a key wins: a repeated key in one document is a bank's slip.
        target.setdefault(key, value.strip())
    # A download cut short ends inside a document, its last amount cut too (150 of
    # 150000.00), or between documents: none of it is taken.
    if current is not None:
        raise cut_short(f"it ends inside the document on line {start}, without its "
                        "КонецДокумента and the file's КонецФайла")  # fmt: skip
    if not ended:
        raise cut_short("it ends without КонецФайла: documents after its last may be missing")
    # Each of the statement's own accounts with the currency its number says.
    accounts = {a: currency_of_account(a, set_currency) for a in sorted(ours)}
    currency = account_currency(header, accounts) or default_currency
    lines: list[BankLine] = []
    errors: list[RowError] = []
    for start, kind, fields in documents:
        try:
            line = _document(fields, kind, accounts, currency, file, start)
        except ValueError as exc:
            errors.append(line_error(file, start, None, str(exc)))
            continue
        if line is not None:
            lines.append(line)
    return number_repeats(lines), errors


def account_currency(header: dict[str, str], accounts: dict[str, str]) -> str:
    """The statement's currency: a `Валюта` key, else what its account number implies
    (`accounts`: each account of the statement with its currency, or "")."""
    named = first(header, _key("Валюта"), _key("ВалютаСчета"), _key("КодВалюты"))
    if re.fullmatch(r"[A-Za-z]{3}", named):
        return named.upper()
    if named in NUMERIC_CURRENCIES:
        return NUMERIC_CURRENCIES[named]
    return next((currency for currency in accounts.values() if currency), "")


def currency_of_account(account: str, set_currency: str = "") -> str:
    """What an account number says of its currency: digits 6-8 of a Russian one
    (40702840... is USD); for a Kazakh or other IBAN, `set_currency` ([bank] currency)
    if the bookkeeper set one, else the usual currency of its country; else "".

    >>> iban = "KZ000000000000000001"
    >>> currency_of_account(iban), currency_of_account(iban, "USD")
    ('KZT', 'USD')
    """
    if re.fullmatch(r"\d{20}", account):
        return NUMERIC_CURRENCIES.get(account[5:8], "")
    if account[:2] in IBAN_CURRENCIES and account[2:4].isdigit():
        return set_currency or IBAN_CURRENCIES[account[:2]]
    return ""


def _get(fields: dict[str, str], *names: str) -> str:
    """The first of several alternative keys with a value (values are stored stripped)."""
    for name in names:
        value = fields.get(_key(name))
        if value:
            return value
    return ""


def _date(text: str, what: str) -> date:
    match = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s.*)?", text.strip())
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
        if not iso:
            raise ValueError(f"{what} {text!r} is not a date like 05.03.2026.")
        year, month, day = (int(g) for g in iso.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a real date.") from None


def _amount(text: str, what: str) -> Decimal:
    try:
        value = plain_decimal(text)
    except MoneyError:
        raise ValueError(f"{what} {text!r} is not an amount.") from None
    if value < 0:
        raise ValueError(f"{what} {text!r} is negative.")
    return value


def _exact(amount: Decimal, currency: str, what: str) -> None:
    """A ValueError for an amount finer than its currency: never read at another size."""
    problem = amount_problem(amount, currency)
    if problem:
        raise ValueError(f"{what} {str(amount)!r} {problem}; it is not read at another size.")


def _purpose(fields: dict[str, str]) -> str:
    """`НазначениеПлатежа`, or the older numbered lines `НазначениеПлатежа1..6`."""
    whole = _get(fields, "НазначениеПлатежа")
    if whole:
        return whole
    parts = [_get(fields, f"НазначениеПлатежа{i}") for i in range(1, 7)]
    return " ".join(p for p in parts if p)


def _payer_name(fields: dict[str, str], side: str) -> str:
    name = _get(fields, f"{side}1", f"{side}Наименование")
    if name:
        return name
    # `Плательщик=ИНН 7701234567 ООО "Ромашка"`: the name follows the tax number.
    return re.sub(r"^ИНН\s*\d+\s*", "", _get(fields, side))


def _document(
    fields: dict[str, str], kind: str, ours: dict[str, str], currency: str, file: str, start: int
) -> BankLine | None:
    if _get(fields, "СуммаПриход", "СуммаРасход"):
        return _kazakh(fields, kind, currency, file, start)
    return _russian(fields, kind, ours, currency, file, start)


def _kazakh(fields: dict[str, str], kind: str, currency: str, file: str, start: int) -> BankLine:
    came = _amount(_get(fields, "СуммаПриход") or "0", "СуммаПриход")
    went = _amount(_get(fields, "СуммаРасход") or "0", "СуммаРасход")
    if came and went:
        raise ValueError("has both СуммаПриход and СуммаРасход; which way did the money go?")
    direction: Direction = IN if came else OUT
    side = "Плательщик" if direction == IN else "Получатель"
    key = "ДатаПоступило" if direction == IN else "ДатаСписано"
    arrived = _get(fields, key)
    # The document's own date (a payment order's) identifies it; Paid Date is the day the
    # money arrived (or left), where the bank says it.
    day = _date(_get(fields, "ДатаОперации", "ДатаДокумента", "Дата") or arrived, "ДатаОперации")
    when = _date(arrived, key) if arrived else day
    ids = tuple(
        i for i in (normal_id(_get(fields, f"{side}БИН_ИИН", f"{side}ИНН")),
                    normal_id(_get(fields, f"{side}ИИК", f"{side}Счет"))) if i
    )  # fmt: skip
    amount = came or went
    line_currency = _get(fields, "Валюта", "КодВалюты").upper() or currency
    _exact(amount, NUMERIC_CURRENCIES.get(line_currency, line_currency),
           "СуммаПриход" if came else "СуммаРасход")  # fmt: skip
    purpose = _purpose(fields)
    number = _get(fields, "НомерДокумента", "Номер")
    code = _get(fields, "КодНазначенияПлатежа")
    # Hashed as read: `000101` is number 101, the kind's case does not count (`_refs`).
    ref, earlier = _refs([day, amount, direction, *ids, purpose, _number(number), code,
                          kind.casefold()],
                         [day, amount, direction, *ids, purpose, number, code, kind])  # fmt: skip
    return BankLine(
        when, amount, NUMERIC_CURRENCIES.get(line_currency, line_currency), direction,
        _payer_name(fields, side), ids, purpose, ref, file, start, earlier,
    )  # fmt: skip


def _russian(
    fields: dict[str, str], kind: str, ours: dict[str, str], currency: str, file: str, start: int
) -> BankLine:
    amount_text = _get(fields, "Сумма")
    if not amount_text:
        raise ValueError("has no Сумма (amount).")
    amount = _amount(amount_text, "Сумма")
    payer_account = normal_id(_get(fields, "ПлательщикСчет", "ПлательщикРасчСчет"))
    payee_account = normal_id(_get(fields, "ПолучательСчет", "ПолучательРасчСчет"))
    arrived = _get(fields, "ДатаПоступило")
    left = _get(fields, "ДатаСписано")
    if payee_account in ours and payer_account not in ours:
        direction: Direction = IN
    elif payer_account in ours:
        direction = OUT  # paid by us, or a transfer between our own accounts
    elif arrived and not left:
        direction = IN
    elif left:
        direction = OUT
    else:
        raise ValueError(
            "neither ПлательщикСчет nor ПолучательСчет is the statement's РасчСчет, and "
            "there is no ДатаПоступило or ДатаСписано: it cannot tell which way the money went."
        )
    if direction == IN:
        when = _date(arrived or _get(fields, "Дата"), "ДатаПоступило")
        side, account, mine = "Плательщик", payer_account, payee_account
    else:
        when = _date(left or _get(fields, "Дата"), "ДатаСписано")
        side, account, mine = "Получатель", payee_account, payer_account
    if len(ours) > 1 and mine in ours:
        # A statement of several accounts (roubles and dollars): the money is in the
        # currency of the account it came into, not of the file's first account.
        currency = ours[mine] or currency
    _exact(amount, currency, "Сумма")
    ids = tuple(i for i in (normal_id(_get(fields, f"{side}ИНН")), account) if i)
    purpose = _purpose(fields)
    number = _get(fields, "Номер")
    dated = _get(fields, "Дата")
    ref, earlier = _refs([when, amount, direction, *ids, purpose, _number(number),
                          _date_as_read(dated), kind.casefold()],
                         [when, amount, direction, *ids, purpose, number, dated, kind])  # fmt: skip
    return BankLine(
        when, amount, currency, direction, _payer_name(fields, side), ids, purpose, ref, file,
        start, earlier,
    )  # fmt: skip


def _refs(parts: list[Part], written: list[Part]) -> tuple[str, tuple[str, ...]]:
    """A document's Bank Ref, a hash of its values as read (`parts`: the amount as a
    number, dates as dates), and the refs earlier versions gave it, which hashed `written`:
    the amount, number, date and kind as the bank wrote them (`content_refs`). 1C documents
    carry no bank id: the same document in two exports (`СуммаПриход=150000.00`, `=150000`)
    is one line."""
    return content_refs("1C", parts, written)


def _number(text: str) -> str:
    """A document number as read: `000101` is 101."""
    return text.lstrip("0") or text if text.isdigit() else text


def _date_as_read(text: str) -> Part:
    """A document date as a date; text that is none (or none at all) as written."""
    try:
        return _date(text, "Дата")
    except ValueError:
        return text
