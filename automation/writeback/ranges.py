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

    def grown(self, ref: str) -> str:
        """A range of a sqref list after the growth (as it is when it does not follow)."""
        try:
            r1, c1, r2, c2 = split_range(ref)
        except ValueError:  # whole columns ("K:K") and the like cover new rows already
            return ref
        if c1 < self.first_col or c2 > self.last_col or not self.top <= r1:
            return ref
        if self.end and r1 == r2 == self.end:  # the totals row alone: moves with it
            r1 = r2 = self.new_end
        elif r1 <= self.data_last and r2 == self.data_last:
            r2 = self.new_data_last
        elif self.end and r1 <= self.data_last and r2 == self.end:
            r2 = self.new_end
        else:
            return ref
        first = f"{col_letters(c1)}{r1}"
        return first if (r1, c1) == (r2, c2) else f"{first}:{col_letters(c2)}{r2}"

    def grown_list(self, sqref: bytes) -> bytes:
        """A space-separated list of ranges after the growth."""
        text = sqref.decode("ascii", "replace")
        return " ".join(self.grown(ref) for ref in text.split()).encode()


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
        out.append(xml[pos : tag.start()])
        out.append(_SQREF_ATTR.sub(lambda m: m[1] + m[2] + growth.grown_list(m[3]) + m[2], tag[0]))
        pos = tag.end()
        if tag[0].endswith(b"/>"):
            continue
        close = xml.find(b"</" + (tag[1] or b"") + tag[2] + b">", pos)
        if close < 0:
            continue
        inner = xml[pos:close]
        out.append(_SQREF_ELEMENT.sub(lambda m: m[1] + growth.grown_list(m[2]) + m[3], inner))
        pos = close
    if not out:
        return xml
    out.append(xml[pos:])
    return b"".join(out)
