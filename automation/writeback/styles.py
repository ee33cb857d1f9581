"""styles.xml: finding or adding the cell formats written values need.

The part is parsed only when a date or an amount is written and rewritten
only when a format is missing.

>>> _is_date_code("dd/mm/yyyy")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lxml import etree

from automation.writeback.records import WriteBackError
from automation.writeback.xmlscan import MAIN_NS, PARSER

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
BUILTIN_DATE_FORMATS = frozenset({14})
BUILTIN_DATETIME_FORMATS = frozenset({22})
#: Excel's built-in number formats that a written value may need (id -> code).
BUILTIN_CODES = {1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 14: "mm-dd-yy"}
#: Amounts the tool writes show two decimals and thousands separators, unless
#: their column already has a format of its own.
MONEY_FORMAT = "#,##0.00"
#: The kind of an amount written (`values.encode_value`): "money", or "money:EUR" for
#: one whose currency is known.
MONEY = "money"
#: The kinds of a date or a date and time written.
DATE_KINDS = frozenset({"date", "datetime"})
# Formats that show a number "as is": writing a date there must switch to a date style.
GENERAL_FORMATS = frozenset({0, 49})
_DATE_CODE_NOISE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def money_kind(currency: str) -> str:
    return f"{MONEY}:{currency.upper()}" if currency else MONEY


def is_money(kind: str) -> bool:
    return kind == MONEY or kind.startswith(MONEY + ":")


def kind_currency(kind: str) -> str:
    """The currency of an amount's kind ("money:EUR": "EUR"), "" when it has none."""
    return kind.split(":", 1)[1] if kind.startswith(MONEY + ":") else ""


def is_formatted(kind: str) -> bool:
    """Whether a value of `kind` gets a number format (a date, a time, an amount)."""
    return kind in DATE_KINDS or is_money(kind)


_QUOTED = re.compile(r'"([^"]*)"')
_BRACKETED_SYMBOL = re.compile(r"\[\$([^\]-]*)(?:-[^\]]*)?\]")
#: Words that stand for a currency in formats, beyond the codes and babel's symbols.
_CURRENCY_WORDS = {
    "RUB": ("р.", "руб.", "руб"), "KZT": ("тг", "тг.", "тенге"), "CHF": ("fr.", "sfr."),
}  # fmt: skip
_ANY_CURRENCY_WORD = frozenset(w for words in _CURRENCY_WORDS.values() for w in words)


def currency_marks(code: str) -> set[str]:
    """The currency symbols and codes a number format shows: `"$"#,##0.00` -> {"$"}.

    >>> currency_marks('[$€-x-euro2] #,##0.00'), currency_marks('#,##0.00 "KZT"')
    ({'€'}, {'KZT'})
    >>> currency_marks("#,##0.00"), currency_marks("[$-409]#,##0.00")
    (set(), set())
    """
    import unicodedata

    marks = {m.strip() for m in _BRACKETED_SYMBOL.findall(code) if m.strip()}
    rest = _BRACKETED_SYMBOL.sub("", code)
    for quoted in _QUOTED.findall(rest):
        word = quoted.strip()
        if re.fullmatch(r"[A-Z]{3}", word) or any(unicodedata.category(ch) == "Sc" for ch in word):
            marks.add(word)
        elif word.lower() in _ANY_CURRENCY_WORD:
            marks.add(word.lower())
    bare = _DATE_CODE_NOISE.sub("", rest)
    marks.update(ch for ch in bare if unicodedata.category(ch) == "Sc")
    return marks


@lru_cache(maxsize=256)
def _names(mark: str, currency: str) -> bool:
    """Whether a format's currency mark stands for `currency` ("$" is CAD's on a CAD
    amount, as `money.currency_of` reads a bank's sign)."""
    from automation.money import currency_of

    return currency_of(mark, currency) == currency or mark.lower() in _CURRENCY_WORDS.get(
        currency, ()
    )


def shows_other_currency(code: str, kind: str) -> bool:
    """Whether a format shows a currency other than the amount's (`kind` "money:EUR")."""
    currency = kind_currency(kind)
    marks = currency_marks(code) if currency else set()
    return bool(marks) and not any(_names(mark, currency) for mark in marks)


def money_format(kind: str) -> str:
    """The format the tool gives an amount: MONEY_FORMAT, or `#,##0.000` for a currency of
    three decimals (BHD, KWD), whose last decimal two would hide."""
    return "#,##0." + "0" * shown_decimals(kind)


def shown_decimals(kind: str) -> int:
    """The decimals the tool shows an amount with: its currency's, and at least two (yen
    in a two-decimal format show ".00", which is no other money)."""
    return max(_currency_digits(kind_currency(kind)), 2)


def wrong_decimals(code: str, kind: str) -> bool:
    """Whether a format shows an amount of a known currency with decimals it does not have:
    fewer, for a currency of more than two (BHD 1.235 as 1.24: other money than the
    invoice), or more than `shown_decimals` (dollars as 112.550 in a format another
    currency's row left above). A format with fewer decimals than two-decimal money (whole
    dollars) is the bookkeeper's choice, kept.
    """
    currency = kind_currency(kind)
    if not currency or not code:
        return False
    shown = _decimals_in(code)
    wanted = shown_decimals(kind)
    return shown > wanted or (_currency_digits(currency) > 2 and shown < wanted)


def _decimals_in(code: str) -> int:
    """The decimals the first section of a number format shows: the digit places (`0`, `#`,
    `?`) right after its decimal point, whatever follows them (a space, quoted text, a `[$€-407]`
    block, `_)`, `%`, `E+00`).

    >>> [_decimals_in(c) for c in ('#,##0.00', '#,##0.00 "€"', '#,##0.000 [$KWD]', '0.0#%', '0')]
    [2, 2, 3, 2, 0]
    """
    for match in _DECIMAL_POINT.finditer(code):
        if match.group(1) is None:
            return len(match.group(0)) - 1
        if match.group(1) == ";":
            break
    return 0


def with_right_decimals(code: str, kind: str) -> str:
    """`code` showing the decimals an amount of `kind` needs, its look kept otherwise
    (`#,##0.000;[Red]-#,##0.000` for USD: `#,##0.00;[Red]-#,##0.00`); `code` itself when its
    decimals are right, or when it has no decimal point to change.

    >>> with_right_decimals('"$"#,##0.000_);[Red]("$"#,##0.000)', "money:USD")
    '"$"#,##0.00_);[Red]("$"#,##0.00)'
    """
    if not wrong_decimals(code, kind):
        return code
    point = "." + "0" * shown_decimals(kind)
    return _DECIMAL_POINT.sub(lambda m: m.group(1) if m.group(1) is not None else point, code)


#: A number format's decimal point and the digits after it, or something shown as it is (or
#: the `;` that ends a section).
_DECIMAL_POINT = re.compile(r'("[^"]*"|\\.|\[[^\]]*\]|_.|\*.|;)|\.[0#?]*')


def _currency_digits(currency: str) -> int:
    if not currency:
        return 2
    from automation.money import currency_digits

    return currency_digits(currency)


def shows_own_currency(code: str, kind: str) -> bool:
    """Whether a format shows the amount's very currency (`kind` "money:EUR")."""
    currency = kind_currency(kind)
    return bool(currency) and any(_names(mark, currency) for mark in currency_marks(code))


def _is_date_code(code: str) -> tuple[bool, bool]:
    """(shows a full date, shows a time) for a custom number format code."""
    plain = _DATE_CODE_NOISE.sub("", code.split(";")[0]).lower()
    has_date = "d" in plain and "y" in plain and "m" in plain
    return has_date, has_date and "h" in plain


class Styles:
    """styles.xml, parsed only when a date is written; edited only if a style is missing."""

    def __init__(self, xml: bytes | None) -> None:
        self._xml = xml
        self._tree: Any = None
        self._ns = MAIN_NS
        self.changed = False
        self._memo: dict[tuple[int, str], int] = {}
        self._fits: dict[tuple[int, str], bool] = {}

    def _load(self) -> Any:
        if self._tree is None:
            if self._xml is None:
                raise WriteBackError("The workbook has no styles part, so dates cannot be written.")
            self._tree = etree.fromstring(self._xml, PARSER)
            self._ns = etree.QName(self._tree).namespace
        return self._tree

    def _find(self, local: str) -> Any:
        return self._load().find(f"{{{self._ns}}}{local}")

    def _xfs(self) -> list[Any]:
        cell_xfs = self._find("cellXfs")
        return [] if cell_xfs is None else list(cell_xfs.iterfind(f"{{{self._ns}}}xf"))

    def _custom_formats(self) -> dict[int, str]:
        num_fmts = self._find("numFmts")
        if num_fmts is None:
            return {}
        return {
            int(f.get("numFmtId")): f.get("formatCode", "")
            for f in num_fmts.iterfind(f"{{{self._ns}}}numFmt")
        }

    def _format_kind(self, fmt_id: int, custom: dict[int, str]) -> str:
        if fmt_id in BUILTIN_DATE_FORMATS:
            return "date"
        if fmt_id in BUILTIN_DATETIME_FORMATS:
            return "datetime"
        if fmt_id in custom:
            has_date, has_time = _is_date_code(custom[fmt_id])
            return "datetime" if has_time else "date" if has_date else ""
        return ""

    def needs_date_style(self, style: int | None) -> bool:
        """True when a cell with this style would show a date as a bare number."""
        return self.is_general(style)

    def is_general(self, style: int | None) -> bool:
        """True when a cell with this style shows a number "as is" (no number format)."""
        xfs = self._xfs()
        style = style or 0
        if style >= len(xfs):
            return True
        return int(xfs[style].get("numFmtId", "0")) in GENERAL_FORMATS

    def fits(self, style: int | None, kind: str) -> bool:
        """Whether a cell with this style shows a value of `kind` (date/datetime/money) well."""
        key = (style or 0, kind)
        if key in self._fits:  # a style, once there, never changes: asked once per style
            return self._fits[key]
        xfs = self._xfs()
        style = style or 0
        fmt = int(xfs[style].get("numFmtId", "0")) if style < len(xfs) else 0
        custom = self._custom_formats()
        # LibreOffice saves General (and Text) as a format of its own: General all the same.
        if fmt in GENERAL_FORMATS or custom.get(fmt, "").strip().lower() in {"general", "@"}:
            answer = False
        elif shows_other_currency(custom.get(fmt, ""), kind):
            answer = False  # "$" on a EUR amount: a plain amount format instead
        elif wrong_decimals(custom.get(fmt) or BUILTIN_CODES.get(fmt, ""), kind):
            answer = False  # 1.235 dinars shown as 1.24
        else:
            shows = self._format_kind(fmt, custom)
            dated = kind in DATE_KINDS
            answer = shows in {"date", "datetime"} if dated else shows == ""
        if style < len(xfs):  # an index not there yet may be added by this run
            self._fits[key] = answer
        return answer

    def code_of(self, style: int | None) -> str:
        """The number format code of a cellXfs index ("" for General or one not there)."""
        xfs = self._xfs()
        style = style or 0
        if style >= len(xfs):
            return ""
        fmt = int(xfs[style].get("numFmtId", "0"))
        return self._custom_formats().get(fmt) or BUILTIN_CODES.get(fmt, "")

    def code_fits(self, code: str, kind: str) -> bool:
        """Whether a number format code suits a value of `kind`."""
        if code.strip().lower() in {"general", "@"} or shows_other_currency(code, kind):
            return False
        if wrong_decimals(code, kind):
            return False
        has_date, _ = _is_date_code(code)
        return has_date if kind in DATE_KINDS else not has_date

    def date_style(self, base: int | None, kind: str) -> int:
        """A cellXfs index like `base` but showing `kind` ("date"/"datetime")."""
        key = (base or 0, kind)
        if key not in self._memo:
            custom = self._custom_formats()
            self._memo[key] = self._find_or_add(
                base or 0,
                lambda fmt: self._format_kind(fmt, custom) == kind,
                lambda: self._format_id(kind, custom),
            )
        return self._memo[key]

    def money_style(self, base: int | None, kind: str = MONEY) -> int:
        """A cellXfs index like `base` but showing amounts as 1,234.50 (with three decimals
        for a currency of three: 1.235 dinars)."""
        return self.format_style(base, money_format(kind))

    def format_style(self, base: int | None, code: str) -> int:
        """A cellXfs index like `base` but with the number format `code`."""
        key = (base or 0, "code:" + code)
        if key not in self._memo:
            custom = self._custom_formats()
            wanted = {i for i, c in {**BUILTIN_CODES, **custom}.items() if c == code}
            self._memo[key] = self._find_or_add(
                base or 0, lambda fmt: fmt in wanted, lambda: self._code_id(code, custom)
            )
        return self._memo[key]

    def dxf_format(self, dxf_id: int) -> str | None:
        """The number format code a table column's differential format applies, if any."""
        dxfs = self._find("dxfs")
        items = [] if dxfs is None else list(dxfs.iterfind(f"{{{self._ns}}}dxf"))
        if not 0 <= dxf_id < len(items):
            return None
        num = items[dxf_id].find(f"{{{self._ns}}}numFmt")
        if num is None:
            return None
        code = num.get("formatCode")
        if code is None and (num.get("numFmtId") or "").isdigit():
            code = BUILTIN_CODES.get(int(num.get("numFmtId", "0")))
        return code

    def _find_or_add(
        self, base: int, accept: Callable[[int], bool], make_format: Callable[[], int]
    ) -> int:
        xfs = self._xfs()
        template = dict(xfs[base].attrib) if base < len(xfs) else {}
        template.pop("numFmtId", None)
        template.pop("applyNumberFormat", None)
        for index, xf in enumerate(xfs):
            attrs = dict(xf.attrib)
            fmt = int(attrs.pop("numFmtId", "0"))
            attrs.pop("applyNumberFormat", None)
            if (
                accept(fmt)
                and attrs == template
                and len(xf) == (len(xfs[base]) if base < len(xfs) else 0)
            ):
                return index
        return self._add_xf(base, make_format())

    def _code_id(self, code: str, custom: dict[int, str]) -> int:
        for fmt_id, text in {**BUILTIN_CODES, **custom}.items():
            if text == code:
                return fmt_id
        return self._add_format(code, custom)

    def _format_id(self, kind: str, custom: dict[int, str]) -> int:
        for fmt_id in sorted(custom):
            if self._format_kind(fmt_id, custom) == kind:
                return fmt_id
        if kind == "date":
            return min(BUILTIN_DATE_FORMATS)
        return self._add_format(DATETIME_FORMAT, custom)

    def _add_format(self, code: str, custom: dict[int, str]) -> int:
        fmt_id = max([163, *custom]) + 1
        num_fmts = self._find("numFmts")
        if num_fmts is None:
            num_fmts = etree.Element(f"{{{self._ns}}}numFmts")
            self._load().insert(0, num_fmts)  # numFmts must come first in styleSheet
        etree.SubElement(num_fmts, f"{{{self._ns}}}numFmt", numFmtId=str(fmt_id), formatCode=code)
        num_fmts.set("count", str(len(num_fmts)))
        self.changed = True
        return fmt_id

    def _add_xf(self, base: int, fmt_id: int) -> int:
        cell_xfs = self._find("cellXfs")
        if cell_xfs is None:
            raise WriteBackError("The workbook's styles are damaged (no cell formats).")
        xfs = self._xfs()
        if base < len(xfs):
            new = etree.fromstring(etree.tostring(xfs[base]), PARSER)
        else:
            new = etree.Element(f"{{{self._ns}}}xf", fontId="0", fillId="0", borderId="0", xfId="0")
        new.set("numFmtId", str(fmt_id))
        new.set("applyNumberFormat", "1")
        cell_xfs.append(new)
        cell_xfs.set("count", str(len(xfs) + 1))
        self.changed = True
        return len(xfs)

    def to_bytes(self) -> bytes:
        out: bytes = etree.tostring(
            self._load(), xml_declaration=True, encoding="UTF-8", standalone=True
        )
        return out
