"""A Services formula saved without its result, worked out when it is plain arithmetic.

A workbook last saved by a script (openpyxl) holds its formulas without their
results. Quantity x Unit Price of the row (=D7*E7) is the usual Amount; a
bookkeeper (or a test) also writes =ROUND(D7*E7,2), =PRODUCT(D7,E7), =(D7*E7)
or a Unit Price of =ROUND(400*1.05,2). Such a formula is worked out here, in
Decimal, as Excel would: numbers, + - * /, brackets, ROUND, PRODUCT and SUM,
and only the row's own Quantity and Unit Price cells (`=D7`, `=[@Quantity]`).
Anything else (another row, another sheet, VLOOKUP, a comparison) is refused
(None): the caller tells the bookkeeper to save the workbook in a program that
calculates, rather than guess.

>>> refs = {"D": Decimal("2.5"), "E": Decimal("120"), "quantity": Decimal("2.5")}
>>> work_out("ROUND(D7*E7,2)", 7, refs), work_out("=PRODUCT($D$7, E7)", 7, refs)
(Decimal('300.00'), Decimal('300.0'))
>>> work_out("[@Quantity]*100", 7, refs), work_out("ROUND(400*1.05,2)", 7, {})
(Decimal('250.0'), Decimal('420.00'))
>>> [work_out(f, 7, refs) for f in ("D8*E8", "VLOOKUP(B7,A:E,5)", "D7/0", "Sheet2!D7")]
[None, None, None, None]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: The pieces of a formula: a number, a cell of the row (A1, $D$7), a structured
#: reference to a column of the row's table ([@Quantity], Log[@[Unit Price]],
#: Log[[#This Row],[Unit Price]]), a function's name with its bracket, an operator.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
    | (?P<cell>\$?[A-Za-z]{1,3}\$?\d+)(?![\w!(\[])
    | (?P<named>(?:[A-Za-z_][\w.]*)?\[(?:@\[?|\[\#This\ Row\],\s*\[)(?P<column>[^\[\]]+)\]\]?)
    | (?P<function>ROUND|PRODUCT|SUM)\s*\(
    | (?P<op>[-+*/(),])
    )""",
    re.IGNORECASE | re.VERBOSE | re.ASCII,  # digits are 0-9 to Excel, not "٣" or "１"
)
_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)", re.ASCII)
#: Excel's own limits: a formula of 8,192 characters at most, 64 levels of nesting.
_LONGEST = 8192
_DEEPEST = 64


class _Refused(Exception):
    """The formula is not plain arithmetic on the row: not worked out."""


def work_out(formula: str, row: int, refs: Mapping[str, Decimal | None]) -> Decimal | None:
    """The value of `formula` (with or without its "="), or None when it is not plain
    arithmetic on Excel row `row`'s cells given in `refs`: column letter (upper case) or
    header name (lower case, spaces taken out) -> the cell's number (None: not a number)."""
    text = formula.strip().removeprefix("=")
    if len(text) > _LONGEST or text.count("(") > _DEEPEST:
        return None  # no formula Excel would keep (and no recursion too deep to follow)
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            if text[at:].strip():
                return None
            break
        kind = found.lastgroup if found.lastgroup != "column" else "named"
        value = found.group("column") if kind == "named" else found.group(kind or "op")
        tokens.append((kind or "op", value))
        at = found.end()
    try:
        parser = _Parser(tokens, row, refs)
        value = parser.expression()
        if parser.at != len(tokens):
            return None
        return value
    except (_Refused, InvalidOperation, ZeroDivisionError, IndexError, RecursionError):
        return None


class _Parser:
    """Recursive descent over the tokens: sums of products of signed factors."""

    def __init__(
        self, tokens: list[tuple[str, str]], row: int, refs: Mapping[str, Decimal | None]
    ) -> None:
        self.tokens, self.row, self.refs, self.at = tokens, row, refs, 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self, op: str) -> None:
        if self._peek() != ("op", op):
            raise _Refused
        self.at += 1

    def expression(self) -> Decimal:
        value = self._term()
        while self._peek() in (("op", "+"), ("op", "-")):
            op = self.tokens[self.at][1]
            self.at += 1
            right = self._term()
            value = value + right if op == "+" else value - right
        return value

    def _term(self) -> Decimal:
        value = self._factor()
        while self._peek() in (("op", "*"), ("op", "/")):
            op = self.tokens[self.at][1]
            self.at += 1
            right = self._factor()
            value = value * right if op == "*" else value / right
        return value

    def _factor(self) -> Decimal:
        negative = False
        while self._peek() in (("op", "-"), ("op", "+")):  # signs, one after another
            negative ^= self.tokens[self.at][1] == "-"
            self.at += 1
        value = self._operand()
        return -value if negative else value

    def _operand(self) -> Decimal:
        kind, text = self._peek()
        self.at += 1
        if kind == "number":
            return Decimal(text)
        if kind == "cell":
            found = _CELL.fullmatch(text)
            if found is None or int(found.group(2)) != self.row:
                raise _Refused  # another row's cell
            return self._ref(found.group(1).upper())
        if kind == "named":
            return self._ref(text.replace(" ", "").lower())
        if kind == "function":
            return self._function(text.upper())
        if (kind, text) == ("op", "("):
            value = self.expression()
            self._take(")")
            return value
        raise _Refused

    def _ref(self, key: str) -> Decimal:
        value = self.refs.get(key)
        if value is None:
            raise _Refused  # a cell that is not the row's Quantity or Unit Price, or no number
        return value

    def _function(self, name: str) -> Decimal:
        args = [self.expression()]
        while self._peek() == ("op", ","):
            self.at += 1
            args.append(self.expression())
        self._take(")")
        if name == "ROUND":
            if len(args) != 2 or args[1] != args[1].to_integral_value() or not 0 <= args[1] <= 10:
                raise _Refused
            # Excel rounds half away from zero, as ROUND_HALF_UP does for Decimal.
            return args[0].quantize(Decimal(1).scaleb(-int(args[1])), rounding=ROUND_HALF_UP)
        if name == "PRODUCT":
            value = Decimal(1)
            for arg in args:
                value *= arg
            return value
        return sum(args, Decimal(0))  # SUM
