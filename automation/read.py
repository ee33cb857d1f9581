"""Read the workbook with pandas (python-calamine engine) into raw sheet frames.

Only locating happens here: which sheet, which row holds the headers, which
column is which. Turning cells into Decimal and date is `cells`' job, and
checking them is `validate`'s.

    data = read_workbook(Path("service_log.xlsx"), config)
    data.services.frame.loc[17, "Client"]   # index = Excel row numbers
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config
from .lazy import lazy_import
from .schema import CLIENTS, INVOICES, SERVICES, SHEETS, header_for, normalise_header

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy_import("pandas")  # imported when the workbook is read, not at start-up

NAN = float("nan")
#: How far down the header row is looked for, below any title rows.
HEADER_SEARCH_ROWS = 50


class WorkbookError(Exception):
    """The workbook cannot be used at all (exit code 2); nothing is changed."""


@dataclass(frozen=True)
class SheetData:
    """One sheet located in the workbook.

    Attributes:
      name: the sheet's name as it is in the workbook.
      header_row: Excel row number of the header row.
      headers: default column name -> header text as found (or as it will be
        created, for a tool-owned column that is missing).
      present: default column names actually present in the sheet.
      last_row: Excel row number of the last row holding anything, in any column
        (the header row when there is nothing below it).
      frame: the cells below the header, columns named by their default name
        (missing columns are all-empty), index = Excel row numbers, values as
        the engine gives them (str, int, float, datetime, NaN).
    """

    name: str
    header_row: int
    headers: dict[str, str]
    present: frozenset[str]
    frame: pd.DataFrame
    last_row: int = 0


@dataclass(frozen=True)
class WorkbookData:
    path: Path
    clients: SheetData
    services: SheetData
    invoices: SheetData | None  # None when the workbook has no Invoices sheet yet
    sheet_names: tuple[str, ...]

    def header_rows(self) -> dict[str, int]:
        """Sheet name -> header row, as the write-back needs it."""
        sheets = [self.clients, self.services] + ([self.invoices] if self.invoices else [])
        return {s.name: s.header_row for s in sheets}


def _load_frames(path: Path) -> tuple[dict[str, list[list[Any]]], tuple[str, ...]]:
    """The Clients, Services and Invoices sheets as rows of raw cells, and every sheet's name.

    Other sheets (summaries, notes, charts' data) are never parsed: a report
    sheet that grows with the history would otherwise slow every run. Cells
    are as calamine gives them ("" for an empty cell); `_cells` turns them
    into what the rest of the tool expects, a column at a time.
    """
    if not path.exists():
        raise WorkbookError(f"the workbook {path} does not exist.")
    if not zipfile.is_zipfile(path):
        raise WorkbookError(
            f"{path.name} is not an Excel .xlsx workbook (save it from Excel as "
            '"Excel Workbook (*.xlsx)").'
        )
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        try:
            names = tuple(str(name) for name in book.sheet_names)
            wanted = [n for n in names if _is_one_of(n, (CLIENTS, SERVICES, INVOICES))]
            frames = {
                name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
                for name in wanted
            }
        finally:
            book.close()
    except Exception as exc:  # calamine raises its own types for damaged files
        raise WorkbookError(f"{path.name} could not be read as a workbook: {exc}.") from None
    return frames, names


def _cell(value: Any) -> Any:
    """One raw cell as the sheet frames hold it (what `_cells` does for a whole column)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return NAN if value == "" else value
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def _cells(values: Sequence[Any]) -> Any:
    """A column of raw cells as an object array, each converted as `_cell` converts one.

    Only empty cells become NaN (a client called "None" or "NA" is a name);
    whole floats become int and dates datetime, as pandas' own Excel reader
    gives them. A column holds one or two kinds of cell, so the usual kinds
    get a plain comprehension and only the rest a call per cell: a call per
    cell was most of the time it took to read a long log.
    """
    import numpy as np

    kinds = set(map(type, values))
    if kinds <= {str}:
        converted = [v or NAN for v in values]
    elif kinds <= {str, float}:
        converted = [
            (v or NAN) if v.__class__ is str else (int(v) if v.is_integer() else v) for v in values
        ]
    elif kinds <= {str, date}:
        converted = [
            (v or NAN) if v.__class__ is str else datetime(v.year, v.month, v.day) for v in values
        ]
    else:
        converted = [_cell(v) for v in values]
    column = np.empty(len(converted), dtype=object)
    column[:] = converted  # an object array: pandas infers the column's type as before
    return column


def _is_one_of(name: str, sheets: tuple[str, ...]) -> bool:
    return normalise_header(name) in {normalise_header(s) for s in sheets}


def _find_sheet(frames: dict[str, list[list[Any]]], wanted: str) -> str | None:
    for name in frames:
        if normalise_header(name) == normalise_header(wanted):
            return name
    return None


def _locate_header(
    rows: list[list[Any]],
    sheet: str,
    expected: dict[str, str],
    required: list[str],
    fixed: int | None,
) -> tuple[int, dict[str, int]]:
    """(frame row index of the header, default column -> frame column index)."""
    wanted = {normalise_header(h): col for col, h in expected.items()}
    candidates = [fixed - 1] if fixed else range(min(HEADER_SEARCH_ROWS, len(rows)))
    best: tuple[int, int, list[str]] = (-1, -1, [])
    for index in candidates:
        if index < 0 or index >= len(rows):
            continue
        cells = [_cell(value) for value in rows[index]]
        found: dict[str, int] = {}
        for position, cell in enumerate(cells):
            if isinstance(cell, str) and normalise_header(cell) in wanted:
                found.setdefault(wanted[normalise_header(cell)], position)
        if all(col in found for col in required):
            return index, found
        texts = [str(c).strip() for c in cells if isinstance(c, str) and c.strip()]
        if len(found) > best[1]:
            best = (index, len(found), texts)
    missing = ", ".join(expected[c] for c in required)
    if best[0] >= 0 and best[2]:
        raise WorkbookError(
            f"sheet {sheet!r} has no header row with the required columns {missing}; "
            f"the closest, row {best[0] + 1}, has: {', '.join(best[2])}. Add the missing "
            "headers, or rename them in [columns] of billing.toml."
        )
    raise WorkbookError(
        f"sheet {sheet!r} has no header row with the required columns {missing} "
        f"in its first {HEADER_SEARCH_ROWS} rows."
    )


def _sheet(
    frames: dict[str, list[list[Any]]], name: str, config: Config, names: tuple[str, ...]
) -> SheetData:
    actual = _find_sheet(frames, name)
    renames = config.columns
    expected = {c.name: header_for(name, c.name, renames) for c in SHEETS[name]}
    required = [c.name for c in SHEETS[name] if c.required] or ["Invoice No"]
    if actual is None:
        raise WorkbookError(
            f"the workbook has no {name!r} sheet (it has: {', '.join(names)}). "
            f"Add a sheet named {name}."
        )
    raw = frames[actual]
    fixed = config.billing.header_rows.get(name)
    header_index, positions = _locate_header(raw, actual, expected, required, fixed)
    body = raw[header_index + 1 :]
    width = max(map(len, body), default=0)
    if any(len(row) < width for row in body):  # calamine's rows are all as wide; others may not be
        body = [list(row) + [""] * (width - len(row)) for row in body]
    frame = pd.DataFrame(index=pd.RangeIndex(header_index + 2, header_index + 2 + len(body)))
    for col in expected:
        if col in positions:
            position = positions[col]
            cells = list(map(itemgetter(position), body)) if position < width else [""] * len(body)
            frame[col] = _cells(cells)
        else:
            frame[col] = pd.Series([None] * len(body), index=frame.index, dtype=object)
    last_row = max(_last_filled(raw) + 1, header_index + 1)
    return SheetData(
        name=actual,
        header_row=header_index + 1,
        headers=expected,
        present=frozenset(positions),
        frame=frame,
        last_row=last_row,
    )


def _last_filled(rows: list[list[Any]]) -> int:
    """Index of the last row with any cell filled in (-1 for none)."""
    for index in range(len(rows) - 1, -1, -1):
        if any(value != "" for value in rows[index]):
            return index
    return -1


def read_workbook(path: Path, config: Config) -> WorkbookData:
    """Locate the Clients, Services and Invoices sheets; raise WorkbookError if unusable."""
    frames, names = _load_frames(path)
    clients = _sheet(frames, CLIENTS, config, names)
    services = _sheet(frames, SERVICES, config, names)
    invoices: SheetData | None = None
    actual = _find_sheet(frames, INVOICES)
    if actual is not None:
        if _last_filled(frames[actual]) < 0:
            # An empty sheet the bookkeeper added: the tool writes its headers.
            expected = {
                c.name: header_for(INVOICES, c.name, config.columns) for c in SHEETS[INVOICES]
            }
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in expected})
            invoices = SheetData(actual, 1, expected, frozenset(), empty, last_row=1)
        else:
            invoices = _sheet(frames, INVOICES, config, names)
    return WorkbookData(path, clients, services, invoices, names)
