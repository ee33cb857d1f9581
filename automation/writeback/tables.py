"""Excel Tables (``xl/tables/tableN.xml``) on the sheets the tool reads and writes.

A table is a block of the sheet: a header row, data rows and perhaps a
totals row, with a column list whose names must equal the header cells.
When the tool appends rows or adds columns next to a table, the table takes
them in, as Excel does when a row is typed just below it: its range and
autofilter grow, a totals row moves down to stay last, new columns get
unique ids and the header text as their name.

>>> info = TableInfo("tblInvoices", "xl/tables/table1.xml", (1, 1, 11, 16), 1, 1)
>>> info.data_first, info.data_last, info.totals_row
(2, 10, 11)
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from automation.schema import normalise_header
from automation.writeback.xmlscan import (
    PARSER,
    PKG_REL_NS,
    REL_NS,
    col_letters,
    split_range,
    xml_bytes,
)

REL_TABLE = REL_NS + "/table"


@dataclass(frozen=True)
class TableInfo:
    """Where a table sits on its sheet.

    Attributes:
      name: the table's display name, as structured references use it.
      part: the table part in the package.
      ref: (first row, first column, last row, last column), totals row included.
      header_rows, totals_rows: 0 or 1 each.
      columns: the table's column names, left to right.
      calculated: the sheet columns whose cells hold the table's calculated
        formula (an empty spare row still has those).
    """

    name: str
    part: str
    ref: tuple[int, int, int, int]
    header_rows: int = 1
    totals_rows: int = 0
    columns: tuple[str, ...] = ()
    calculated: tuple[int, ...] = ()

    @property
    def header_row(self) -> int | None:
        return self.ref[0] if self.header_rows else None

    @property
    def data_first(self) -> int:
        return self.ref[0] + self.header_rows

    @property
    def data_last(self) -> int:
        return self.ref[2] - self.totals_rows

    @property
    def totals_row(self) -> int | None:
        return self.ref[2] if self.totals_rows else None

    def covers(self, row: int, col: int) -> bool:
        r1, c1, r2, c2 = self.ref
        return r1 <= row <= r2 and c1 <= col <= c2


def main_table(
    tables: Sequence[TableInfo], header_row: int, headers: Iterable[str], first_column: int
) -> TableInfo | None:
    """The table holding the sheet's data: on its header row, with one of `headers`
    among its columns or covering the first header cell (`first_column`).

    A small lookup table that merely shares the header row is not the data's table.
    """
    keys = {normalise_header(h) for h in headers}
    for table in tables:
        if table.header_row != header_row:
            continue
        names = {normalise_header(c) for c in table.columns}
        if keys & names or table.ref[1] <= first_column <= table.ref[3]:
            return table
    return None


def _count(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def parse_table(xml: bytes, part: str) -> TableInfo:
    """The TableInfo of a table part (raises ValueError / XMLSyntaxError when damaged)."""
    root = etree.fromstring(xml, PARSER)
    ns = etree.QName(root).namespace
    elements = list(root.iterfind(f"{{{ns}}}tableColumns/{{{ns}}}tableColumn"))
    ref = split_range(root.get("ref", ""))
    calculated = tuple(
        ref[1] + i
        for i, c in enumerate(elements)
        if c.find(f"{{{ns}}}calculatedColumnFormula") is not None
    )
    return TableInfo(
        name=root.get("displayName") or root.get("name") or posixpath.basename(part),
        part=part,
        ref=ref,
        header_rows=_count(root.get("headerRowCount"), 1),
        totals_rows=_count(root.get("totalsRowCount"), 0),
        columns=tuple(c.get("name", "") for c in elements),
        calculated=calculated,
    )


def table_parts(zf: zipfile.ZipFile, names: set[str], sheet_part: str) -> list[str]:
    """The table parts a worksheet part links to, through its relationships."""
    folder, base = posixpath.split(sheet_part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in names:
        return []
    parts = []
    for rel in etree.fromstring(zf.read(rels), PARSER).iterfind(f"{{{PKG_REL_NS}}}Relationship"):
        if rel.get("Type") != REL_TABLE or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        part = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        if part in names:
            parts.append(part)
    return parts


def read_tables(path: Path, sheets: Collection[str] | None = None) -> dict[str, list[TableInfo]]:
    """Sheet name -> its tables, for the sheets named (all when None).

    Reading never fails because of a table: a damaged table part is left out
    here (the write-back, which must edit it, reports it).
    """
    from automation.writeback.package import sheet_parts  # the package module imports us

    found: dict[str, list[TableInfo]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for sheet, part in sheet_parts(zf).items():
                if sheets is not None and sheet not in sheets:
                    continue
                tables = []
                for table_part in table_parts(zf, names, part):
                    try:
                        tables.append(parse_table(zf.read(table_part), table_part))
                    except (etree.XMLSyntaxError, ValueError):
                        continue
                found[sheet] = tables
    except (OSError, zipfile.BadZipFile, etree.XMLSyntaxError, KeyError):
        return {}
    return found


class TableDoc:
    """A table part being edited: its tree, and its TableInfo kept up to date."""

    def __init__(self, part: str, xml: bytes) -> None:
        self.part = part
        self.root: Any = etree.fromstring(xml, PARSER)
        self.ns = etree.QName(self.root).namespace
        self.info = parse_table(xml, part)
        self.changed = False

    def _child(self, local: str) -> Any:
        return self.root.find(f"{{{self.ns}}}{local}")

    def column_elements(self) -> list[Any]:
        cols = self._child("tableColumns")
        return [] if cols is None else list(cols.iterfind(f"{{{self.ns}}}tableColumn"))

    def calculated(self) -> dict[int, str]:
        """Sheet column -> the calculated column formula, for the columns that have one."""
        first = self.info.ref[1]
        result = {}
        for i, col in enumerate(self.column_elements()):
            formula = col.find(f"{{{self.ns}}}calculatedColumnFormula")
            if formula is not None and formula.text and formula.get("array") != "1":
                result[first + i] = formula.text
        return result

    def data_dxf(self) -> dict[int, int]:
        """Sheet column -> the dxf id that formats the column's data cells."""
        first = self.info.ref[1]
        result = {}
        for i, col in enumerate(self.column_elements()):
            dxf = col.get("dataDxfId")
            if dxf is not None and dxf.isdigit():
                result[first + i] = int(dxf)
        return result

    def add_column(self, name: str) -> None:
        """A new last column named `name` (the header cell's text), with a fresh id."""
        cols = self._child("tableColumns")
        if cols is None:
            raise ValueError(f"the table {self.info.name} lists no columns")
        taken = [int(c.get("id", "0")) for c in self.column_elements() if c.get("id", "").isdigit()]
        new = etree.SubElement(cols, f"{{{self.ns}}}tableColumn")
        new.set("id", str(max(taken, default=0) + 1))
        new.set("name", name)
        cols.set("count", str(len(self.column_elements())))
        r1, c1, r2, c2 = self.info.ref
        self._set_ref((r1, c1, r2, c2 + 1))
        self.info = replace(self.info, columns=(*self.info.columns, name))

    def set_last_row(self, last: int) -> None:
        """Make the table end at row `last` (its totals row, when it has one)."""
        r1, c1, _, c2 = self.info.ref
        self._set_ref((r1, c1, last, c2))

    def _set_ref(self, ref: tuple[int, int, int, int]) -> None:
        r1, c1, r2, c2 = ref
        self.root.set("ref", f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}")
        self.info = replace(self.info, ref=ref)
        auto = self._child("autoFilter")
        if auto is not None:  # the filter covers the header and data, never the totals row
            last = r2 - self.info.totals_rows
            auto.set("ref", f"{col_letters(c1)}{r1}:{col_letters(c2)}{last}")
        self.changed = True

    def to_bytes(self) -> bytes:
        return xml_bytes(self.root)
