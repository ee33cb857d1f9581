"""Conditional formats and data validations grow with a table, as Excel grows them.

When rows are typed just below an Excel Table, Excel takes them into the
table and stretches the conditional formats and data validations (a Status
drop-down list, an overdue colour) that covered the table's data down to the
new last row. Rows the tool appends get the same: a range ending at the
table's last data row ends at the new one; a range ending at its totals row
ends at the totals row's new place (a format of the totals row alone moves
with it). Ranges that start above the table, reach beyond it, or lie outside
its columns are left as they are: someone chose them.

Both forms are met: the `sqref` attribute of `<conditionalFormatting>` and
`<dataValidation>`, and the `<xm:sqref>` element of the Excel 2010 forms in
the sheet's extension list (data bars, icon sets, lists from another sheet).

>>> growth = RangeGrowth(top=1, first_col=1, last_col=5, data_last=10, new_data_last=14)
>>> grow_ranges(b'<conditionalFormatting sqref="E2:E10 G2:G10">', growth)
b'<conditionalFormatting sqref="E2:E14 G2:G10">'
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from automation.writeback.xmlscan import col_letters, split_range


@dataclass(frozen=True)
class RangeGrowth:
    """A table's rows before and after rows were appended.

    Attributes:
      top: the table's first row (its header row).
      first_col, last_col: its columns.
      data_last, new_data_last: its last data row, before and after.
      end, new_end: its totals row before and after (0 when it has none).
    """

    top: int
    first_col: int
    last_col: int
    data_last: int
    new_data_last: int
    end: int = 0
    new_end: int = 0

    def grown(self, ref: str) -> tuple[str, int]:
        """A range of a sqref list after the growth (as it is when it does not follow), and
        how many rows it moved down (a format of the totals row alone moves with it)."""
        try:
            r1, c1, r2, c2 = split_range(ref)
        except ValueError:  # whole columns ("K:K") and the like cover new rows already
            return ref, 0
        if c1 < self.first_col or c2 > self.last_col or not self.top <= r1:
            return ref, 0
        moved = 0
        if self.end and r1 == r2 == self.end:  # the totals row alone: moves with it
            moved = self.new_end - self.end
            r1 = r2 = self.new_end
        elif r1 <= self.data_last and r2 == self.data_last:
            r2 = self.new_data_last
        elif self.end and r1 <= self.data_last and r2 == self.end:
            r2 = self.new_end
        else:
            return ref, 0
        first = f"{col_letters(c1)}{r1}"
        return (first if (r1, c1) == (r2, c2) else f"{first}:{col_letters(c2)}{r2}"), moved

    def grown_list(self, sqref: bytes) -> tuple[bytes, list[int]]:
        """A space-separated list of ranges after the growth, and the rows each moved."""
        grown = [self.grown(ref) for ref in sqref.decode("ascii", "replace").split()]
        return " ".join(ref for ref, _ in grown).encode(), [moved for _, moved in grown]


#: The start tag of an element whose ranges follow a table (any namespace prefix).
_OWNER = re.compile(rb"<([\w.-]+:)?(conditionalFormatting|dataValidation)(?=[\s/>])[^>]*>")
_SQREF_ATTR = re.compile(rb"(\ssqref\s*=\s*)([\"'])([^\"']*)\2")
_SQREF_ELEMENT = re.compile(rb"(<(?:[\w.-]+:)?sqref>)([^<]*)(</(?:[\w.-]+:)?sqref>)")


def grow_ranges(xml: bytes, growth: RangeGrowth) -> bytes:
    """The part of a worksheet after its sheet data, with the conditional formats' and data
    validations' ranges grown with the table (see the module's description)."""
    out: list[bytes] = []
    pos = 0
    for tag in _OWNER.finditer(xml):
        if tag.start() < pos:  # inside an element already gone through
            continue
        end = tag.end()
        if not tag[0].endswith(b"/>"):
            close = xml.find(b"</" + (tag[1] or b"") + tag[2] + b">", end)
            end = close if close >= 0 else end
        out += [xml[pos : tag.start()], _grown_element(xml[tag.start() : end], growth)]
        pos = end
    if not out:
        return xml
    out.append(xml[pos:])
    return b"".join(out)


def _grown_element(element: bytes, growth: RangeGrowth) -> bytes:
    """One conditional format or data validation (its start tag and content) after the
    growth. Its formulas are written for the first cell of its first range: when that
    range moves down (the totals row's format), their rows move with it."""
    moves: list[int] = []

    def sqref(m: re.Match[bytes], at: int) -> bytes:
        grown, moved = growth.grown_list(m[at])
        moves.extend(moved)
        return grown

    out = _SQREF_ATTR.sub(lambda m: m[1] + m[2] + sqref(m, 3) + m[2], element)
    out = _SQREF_ELEMENT.sub(lambda m: m[1] + sqref(m, 2) + m[3], out)
    rows = moves[0] if moves else 0
    if not rows:
        return out
    return _FORMULA.sub(lambda m: m[1] + _moved_formula(m[2], rows) + m[3], out)


#: A formula of a conditional format or data validation (any prefix): its text in group 2.
_FORMULA = re.compile(
    rb"(<(?:[\w.-]+:)?(?:formula[12]?|f)>)([^<]*)(</(?:[\w.-]+:)?(?:formula[12]?|f)>)"
)


def _moved_formula(text: bytes, rows: int) -> bytes:
    """A formula's relative rows `rows` further down (as Excel moves a format's formula)."""
    from automation.writeback.formulas import translate  # after sheet.py, which imports this

    formula = html.unescape(text.decode("utf-8"))
    try:
        moved = translate(formula, "A1", f"A{1 + rows}")
    except Exception:  # a formula the translator cannot read: left as it is
        return text
    return html.escape(moved, quote=False).encode("utf-8")
