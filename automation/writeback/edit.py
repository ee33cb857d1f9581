"""One sheet's edit from start to end: columns, the table's growth, cells, formats.

    result = edit_sheet(xml, {(17, "Status"): "Invoiced"}, 1, (), ctx, "Services", tables)
    result.xml      # the new part, or None when nothing changed

Rows appended right below a table become rows of it (a totals row moves down
to stay last), columns added beside it become its columns, and the sheet's
own autofilter grows with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from lxml import etree

from automation.model import CellValue
from automation.schema import normalise_header
from automation.writeback.columns import column_width, header_columns, resolve_columns
from automation.writeback.formulas import repair_shared, translate
from automation.writeback.ranges import RangeGrowth
from automation.writeback.records import WriteBackError
from automation.writeback.refs import RowMove
from automation.writeback.rowbytes import write_row
from automation.writeback.sheet import (
    INHERIT_ROWS,
    SheetEdit,
    find_cell,
    finish_sheet,
    get_row,
    inherit_style,
    open_sheet,
    place_cell,
    read_col_styles,
    remove_cell,
    sheet_filter,
    widen,
)
from automation.writeback.tables import TableDoc, main_table
from automation.writeback.values import Context, current_value
from automation.writeback.xmlscan import col_letters, split_range, split_ref


@dataclass(frozen=True)
class SheetResult:
    """What editing one sheet gave.

    Attributes:
      pieces: the new worksheet part in pieces (to be joined or compressed in
        order), or None when nothing changed.
      cells: how many cells changed (headers of new columns not counted).
      warnings: what could not be written, for the bookkeeper.
      notes: what was done differently than asked, for the bookkeeper.
      filter_ref: the sheet's autofilter range when it grew ("$A$1:$K$20"), else None.
      moved: where the table's totals row moved, for the references to it to follow.
      unplaced: the headers no cell was written under, for lack of a free column.
    """

    pieces: list[bytes | memoryview] | None
    cells: int
    warnings: tuple[str, ...] = ()
    filter_ref: str | None = None
    notes: tuple[str, ...] = ()
    moved: RowMove | None = None
    unplaced: tuple[str, ...] = ()


class CellWrites(Protocol):
    """One sheet's updates, one per cell, in their order: a dict of (row, header) -> value,
    or anything iterated as one."""

    def __iter__(self) -> Iterator[tuple[int, str]]: ...

    def items(self) -> Iterable[tuple[tuple[int, str], CellValue]]: ...


def edit_sheet(
    xml: bytes,
    updates: CellWrites,
    header_row: int,
    headers: Sequence[str],
    ctx: Context,
    sheet: str = "",
    tables: Sequence[TableDoc] = (),
) -> SheetResult:
    """Apply one sheet's updates."""
    # Rows above the first one written (less the rows whose styles a new cell
    # follows) are found only when needed, so history rows are not indexed.
    edit = open_sheet(xml, ctx, min(map(itemgetter(0), updates), default=0) - INHERIT_ROWS)
    edit.header_row = header_row
    edit.col_styles = read_col_styles(edit)
    wanted = list(dict.fromkeys([*headers, *map(itemgetter(1), updates)]))  # a dozen, not 28,000
    first = min(header_columns(edit, header_row), default=0)
    found = main_table([t.info for t in tables], header_row, wanted, first)
    main = next((t for t in tables if t.info is found), None)
    old_filter = sheet_filter(edit)
    placed = resolve_columns(edit, header_row, wanted, sheet, main, tables)
    edit.new_widths = {col: column_width(header) for col, header in placed.added}
    if main is not None:
        for _, name in placed.joined:
            main.add_column(name)
        edit.col_formats = _column_formats(main, ctx)
    key_of = {header: normalise_header(header) for header in wanted}  # a dozen headers
    columns = {h: placed.columns[key] for h, key in key_of.items() if key in placed.columns}
    writes = Writes(updates, columns)
    grown = _grow_rows(edit, main, tables, writes, sheet) if main is not None else None
    _write_rows(edit, writes)
    moved = None
    if main is not None and grown is not None:
        before = main.info
        _fill_new_rows(edit, main, grown)
        main.set_last_row(grown[1] + before.totals_rows)
        r1, c1, _, c2 = before.ref
        edit.growth = RangeGrowth(
            r1, c1, c2, before.data_last, grown[1], before.totals_row or 0,
            main.info.ref[2] if before.totals_rows else 0,
        )  # fmt: skip
        if before.totals_row is not None:
            moved = RowMove(sheet, before.totals_row, main.info.ref[2], c1, c2)
    filter_ref = _grow_filter(edit, old_filter, placed.columns.values(), writes)
    repair_shared(edit)
    warnings, notes, unplaced = tuple(placed.warnings), tuple(placed.notes), tuple(placed.unplaced)
    if not edit.dirty:
        return SheetResult(None, 0, warnings, notes=notes, unplaced=unplaced)
    return SheetResult(
        finish_sheet(edit), edit.cells, warnings, filter_ref, notes, moved, unplaced
    )


@dataclass(frozen=True)
class Writes:
    """The updates by sheet column, in their order, read off the updates each time.

    A dict of them was a second copy of the updates: 6 MB for 75,000 cells.
    Each (row, header) names one cell, and each header its own column, so
    no two updates land on one cell.
    """

    updates: CellWrites
    columns: Mapping[str, int]  # header as the updates spell it -> sheet column

    def items(self) -> Iterator[tuple[tuple[int, int], CellValue]]:
        columns = self.columns
        for (row, header), value in self.updates.items():
            col = columns.get(header)
            if col is not None:
                yield (row, col), value


def _write_rows(edit: SheetEdit, writes: Writes) -> None:
    """Write the cells in their order, a run of cells of one row at a time."""
    number = 0
    run: list[tuple[int, CellValue]] = []
    columns = writes.columns
    for (row, header), value in writes.updates.items():  # Writes.items, one generator less
        col = columns.get(header)
        if col is None:
            continue
        if row != number:
            if run:
                write_row(edit, number, run)
            number, run = row, []
        run.append((col, value))
    if run:
        write_row(edit, number, run)


def _column_formats(table: TableDoc, ctx: Context) -> dict[int, str]:
    formats = {}
    for col, dxf in table.data_dxf().items():
        code = ctx.styles.dxf_format(dxf)
        if code:
            formats[col] = code
    return formats


def _grow_rows(
    edit: SheetEdit,
    table: TableDoc,
    tables: Sequence[TableDoc],
    writes: Writes,
    sheet: str,
) -> tuple[int, int] | None:
    """(first, last) new data row when rows are appended right below the table's data."""
    data_last = table.info.data_last
    rows = sorted(
        {row for (row, _), v in writes.items() if v not in (None, "") and row > data_last}
    )
    if not rows or rows[0] != data_last + 1:
        return None  # nothing appended, or appended below something else (told at read time)
    last = rows[-1]
    r1, c1, r2, c2 = table.info.ref
    new_end = last + table.info.totals_rows
    for other in tables:
        o1, oc1, o2, oc2 = other.info.ref
        if other is not table and oc1 <= c2 and c1 <= oc2 and r2 < o1 <= new_end:
            raise WriteBackError(
                f"{sheet}: the table {table.info.name} cannot grow to row {new_end}: the table "
                f"{other.info.name} is below it. Move one of the tables."
            )
    if table.info.totals_row is not None:
        _move_totals(edit, table, last + 1, sheet)
    return data_last + 1, last


def _move_totals(edit: SheetEdit, table: TableDoc, to: int, sheet: str) -> None:
    """Move the totals row's cells (the table's columns only) down to row `to`."""
    origin = table.info.totals_row
    assert origin is not None
    _, c1, _, c2 = table.info.ref
    ns = edit.root.ns
    for number in range(origin + 1, to + 1):
        row = get_row(edit, number, create=False)
        for c in [] if row is None else row:
            ref = c.get("r")
            if (
                ref
                and c1 <= split_ref(ref)[1] <= c2
                and current_value(c, ns, edit.ctx)[0] != "empty"
            ):
                raise WriteBackError(
                    f"{sheet}: new rows cannot join the table {table.info.name}: its totals row "
                    f"cannot move down, because cell {ref} below it is not empty. Move what is "
                    "below the table, then run again."
                )
    source = get_row(edit, origin, create=False)
    if source is None:
        return
    target = get_row(edit, to, create=True)
    assert target is not None
    data = origin - 1 >= table.info.data_first  # a data row above (a table has one)
    above = get_row(edit, origin - 1, create=False) if data else None
    for attr in _ROW_LOOK:
        if source.get(attr) is not None and target.get(attr) is None:
            target.set(attr, source.get(attr))
        # The old totals row is a data row now: it looks like the data row above it.
        mine = None if above is None or attr == "hidden" else above.get(attr)
        if mine is None:
            source.attrib.pop(attr, None)
        else:
            source.set(attr, mine)
    for c in list(source):
        ref = c.get("r")
        if not ref or etree.QName(c).localname != "c":
            continue
        col = split_ref(ref)[1]
        if not c1 <= col <= c2:
            continue
        dest = f"{col_letters(col)}{to}"
        formula = c.find(f"{{{ns}}}f")
        if formula is not None:
            _move_formula(formula, ref, dest, origin, to, sheet)
            edit.ctx.formulas_removed = True  # calcChain names the old cell
        remove_cell(edit, origin, c, col)
        c.set("r", dest)
        place_cell(edit, to, c, col)
        widen(edit, to, col)
    edit.dirty.update({origin, to})


#: A row's attributes that make its look (height, style, hidden): the totals row's go
#: with it.
_ROW_LOOK = ("ht", "customHeight", "s", "customFormat", "hidden")


def _move_formula(formula: Any, origin: str, dest: str, old: int, new: int, sheet: str) -> None:
    if formula.get("t") == "shared" and formula.get("ref") is None:
        raise WriteBackError(
            f"{sheet}: the totals row uses a shared formula started elsewhere; it cannot be "
            "moved. Retype the totals row's formulas in Excel, then run again."
        )
    if formula.text:
        formula.text = translate(formula.text, origin, dest)
    ref = formula.get("ref")
    if ref:
        r1, c1, r2, c2 = split_range(ref)
        if r1 != old or r2 != old:
            raise WriteBackError(
                f"{sheet}: a formula in the totals row spans other rows ({ref}); the totals row "
                "cannot be moved. Change that formula, then run again."
            )
        formula.set("ref", f"{col_letters(c1)}{new}:{col_letters(c2)}{new}")


def _fill_new_rows(edit: SheetEdit, table: TableDoc, rows: tuple[int, int]) -> None:
    """New table rows look like the rows above and get the calculated columns' formulas."""
    _, c1, _, c2 = table.info.ref
    calculated = table.calculated()
    ns = edit.root.ns
    for number in range(rows[0], rows[1] + 1):
        row = get_row(edit, number, create=True)
        assert row is not None
        for col in range(c1, c2 + 1):
            cell = find_cell(edit, number, col)
            fresh = cell is None
            if cell is None:
                cell = etree.Element(edit.tag("c"), r=f"{col_letters(col)}{number}")
            if cell.get("s") is None:
                inherit_style(edit, cell, number, col)
            if (
                col in calculated
                and cell.find(f"{{{ns}}}f") is None
                and current_value(cell, ns, edit.ctx)[0] == "empty"
            ):
                formula = etree.SubElement(cell, edit.tag("f"))
                formula.text = _calculated(edit, calculated[col], number, col)
            if fresh and (cell.get("s") is not None or len(cell)):
                place_cell(edit, number, cell, col)
        edit.dirty.add(number)


def _calculated(edit: SheetEdit, formula: str, number: int, col: int) -> str:
    """A calculated column's formula for a new row: the row above's, moved down, if it has one."""
    above = find_cell(edit, number - 1, col) if number - 1 > edit.header_row else None
    f = None if above is None else above.find(edit.tag("f"))
    if above is not None and f is not None and f.text and f.get("t") is None:
        return translate(f.text, above.get("r"), f"{col_letters(col)}{number}")
    return formula


def _grow_filter(
    edit: SheetEdit,
    old: tuple[int, int, int, int] | None,
    columns: Iterable[int],
    writes: Writes,
) -> str | None:
    """The sheet's autofilter takes in columns added right of it and rows appended below it."""
    if old is None or old[0] != edit.header_row:
        return None
    r1, c1, r2, c2 = old
    cols = set(columns)
    while c2 + 1 in cols:
        c2 += 1
    rows = sorted({row for (row, _), v in writes.items() if v not in (None, "") and row > r2})
    for row in rows:
        if row != r2 + 1:
            break
        r2 = row
    if (r1, c1, r2, c2) == old:
        return None
    edit.filter_ref = f"{col_letters(c1)}{r1}:{col_letters(c2)}{r2}"
    return f"${col_letters(c1)}${r1}:${col_letters(c2)}${r2}"
