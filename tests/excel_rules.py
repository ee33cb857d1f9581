"""Excel's file rules, checked on a written .xlsx: what makes Excel say
"We found a problem with some content" and repair (drop) parts of a file.

    problems = excel_problems(Path("service_log.xlsx"))
    assert problems == []

The checks are the ones a lossless write-back can break: content types for
every part, relationship targets that exist, rows and cells in order, style
and shared-string indexes that exist, shared-string counts, tables whose
header cells equal their column names, that do not overlap and whose
autofilter matches their range, and the sheet filters' hidden names.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")
#: The highest built-in number format id; custom ones start at 164.
LAST_BUILTIN_FORMAT = 163


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _cell(ref: str) -> tuple[int, int]:
    m = _REF.match(ref)
    if not m:
        raise ValueError(ref)
    return int(m.group(2)), _col(m.group(1))


def _range(ref: str) -> tuple[int, int, int, int]:
    first, _, last = ref.partition(":")
    r1, c1 = _cell(first)
    r2, c2 = _cell(last) if last else (r1, c1)
    return r1, c1, r2, c2


def _rels_of(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _target(part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(part), target))


def _text(el: Any) -> str:
    phonetic = f"{{{MAIN}}}rPh"
    return "".join(t.text or "" for t in el.iter(f"{{{MAIN}}}t") if t.getparent().tag != phonetic)


class _Book:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names = set(zf.namelist())
        self.problems: list[str] = []

    def xml(self, name: str) -> Any:
        return etree.fromstring(self.zf.read(name))

    def rels(self, part: str) -> dict[str, tuple[str, str, str]]:
        """rId -> (type, target part, target mode)."""
        name = _rels_of(part)
        if name not in self.names:
            return {}
        out = {}
        for rel in self.xml(name).iterfind(f"{{{PKG_REL}}}Relationship"):
            mode = rel.get("TargetMode", "Internal")
            target = rel.get("Target", "")
            out[rel.get("Id", "")] = (
                rel.get("Type", ""),
                target if mode == "External" else _target(part, target),
                mode,
            )
        return out

    def bad(self, message: str) -> None:
        self.problems.append(message)


def excel_problems(path: Path) -> list[str]:
    """Every rule of Excel's the file breaks, as sentences (empty when Excel opens it cleanly)."""
    with zipfile.ZipFile(path) as zf:
        book = _Book(zf)
        _content_types(book)
        _relationships(book)
        workbook = next(
            (t for ty, t, _ in book.rels("").values() if ty.endswith("/officeDocument")), None
        )
        if workbook is None or workbook not in book.names:
            book.bad("no workbook part")
            return book.problems
        styles = _styles(book, workbook)
        strings = _shared_strings(book, workbook)
        sheets = _sheets(book, workbook)
        references = 0
        tables: list[tuple[str, str, Any]] = []
        filters: dict[str, str] = {}
        for name, part in sheets:
            headers: dict[tuple[int, int], str] = {}
            wanted = _table_header_cells(book, part)
            count, sheet_filter = _worksheet(book, name, part, styles, strings, wanted, headers)
            references += count
            if sheet_filter:
                filters[name] = sheet_filter
            for table_part in _sheet_tables(book, part):
                if table_part in book.names:  # a missing one is a broken relationship
                    tables.append((name, table_part, headers))
        _check_string_counts(book, workbook, strings, references)
        _tables(book, tables, styles)
        _filter_names(book, workbook, [n for n, _ in sheets], filters)
        return book.problems


def _content_types(book: _Book) -> None:
    if "[Content_Types].xml" not in book.names:
        book.bad("[Content_Types].xml is missing")
        return
    types = book.xml("[Content_Types].xml")
    defaults = {d.get("Extension", "").lower() for d in types.iterfind(f"{{{CT}}}Default")}
    overrides = {o.get("PartName", "").lstrip("/") for o in types.iterfind(f"{{{CT}}}Override")}
    for name in book.names:
        if name.endswith("/") or name == "[Content_Types].xml":
            continue
        if name not in overrides and name.rsplit(".", 1)[-1].lower() not in defaults:
            book.bad(f"{name} has no content type")
        elif (
            name not in overrides
            and name.startswith(("xl/", "docProps/"))
            and name.endswith(".xml")
        ):  # the generic "application/xml" default does not say what the part is
            book.bad(f"{name} has no content type of its own")
    for name in overrides - book.names:
        book.bad(f"[Content_Types].xml names {name}, which is not in the file")


def _relationships(book: _Book) -> None:
    for name in sorted(n for n in book.names if n.endswith(".rels")):
        folder = posixpath.dirname(posixpath.dirname(name))
        source = posixpath.join(folder, posixpath.basename(name)[: -len(".rels")])
        if name != "_rels/.rels" and source not in book.names:
            book.bad(f"{name} belongs to {source}, which is not in the file")
        ids: set[str] = set()
        for rid, (_, target, mode) in book.rels(source if name != "_rels/.rels" else "").items():
            if rid in ids:
                book.bad(f"{name}: relationship id {rid} twice")
            ids.add(rid)
            if mode != "External" and target not in book.names:
                book.bad(f"{name}: {rid} points at {target}, which is not in the file")


def _styles(book: _Book, workbook: str) -> dict[str, int]:
    """Counts of cellXfs, dxfs, fonts, fills, borders (after checking the xfs)."""
    part = next((t for ty, t, _ in book.rels(workbook).values() if ty.endswith("/styles")), None)
    counts = {"cellXfs": 1, "dxfs": 0}
    if part is None or part not in book.names:
        return counts
    root = book.xml(part)
    formats = {int(f.get("numFmtId", "-1")) for f in root.iter(f"{{{MAIN}}}numFmt")}
    for kind, child in (
        ("fonts", "font"),
        ("fills", "fill"),
        ("borders", "border"),
        ("cellStyleXfs", "xf"),
        ("cellXfs", "xf"),
        ("dxfs", "dxf"),
        ("numFmts", "numFmt"),
    ):
        el = root.find(f"{{{MAIN}}}{kind}")
        items = [] if el is None else el.findall(f"{{{MAIN}}}{child}")
        counts[kind] = len(items)
        if el is not None and el.get("count") is not None and int(el.get("count")) != len(items):
            book.bad(f"styles: {kind} count is {el.get('count')} but it holds {len(items)}")
    cell_xfs = root.find(f"{{{MAIN}}}cellXfs")
    for i, xf in enumerate([] if cell_xfs is None else cell_xfs.findall(f"{{{MAIN}}}xf")):
        fmt = int(xf.get("numFmtId", "0"))
        if fmt > LAST_BUILTIN_FORMAT and fmt not in formats:
            book.bad(f"styles: cell format {i} uses number format {fmt}, which is not defined")
        for attr, kind in (("fontId", "fonts"), ("fillId", "fills"), ("borderId", "borders")):
            if int(xf.get(attr, "0")) >= max(counts[kind], 1):
                book.bad(f"styles: cell format {i} uses {attr} {xf.get(attr)} of {counts[kind]}")
        if int(xf.get("xfId", "0")) >= max(counts["cellStyleXfs"], 1):
            book.bad(f"styles: cell format {i} uses cell style {xf.get('xfId')}")
    return counts


def _shared_strings(book: _Book, workbook: str) -> list[str]:
    part = next(
        (t for ty, t, _ in book.rels(workbook).values() if ty.endswith("/sharedStrings")), None
    )
    if part is None or part not in book.names:
        return []
    root = book.xml(part)
    items = root.findall(f"{{{MAIN}}}si")
    unique = root.get("uniqueCount")
    if unique is not None and int(unique) != len(items):
        book.bad(f"sharedStrings: uniqueCount {unique} but {len(items)} strings")
    return [_text(si) for si in items]


def _check_string_counts(book: _Book, workbook: str, strings: list[str], refs: int) -> None:
    part = next(
        (t for ty, t, _ in book.rels(workbook).values() if ty.endswith("/sharedStrings")), None
    )
    if part is None or part not in book.names:
        if refs:
            book.bad(f"{refs} cells refer to shared strings, but there are none")
        return
    count = book.xml(part).get("count")
    if count is not None and int(count) != refs:
        book.bad(f"sharedStrings: count {count} but {refs} cells refer to shared strings")


def _sheets(book: _Book, workbook: str) -> list[tuple[str, str]]:
    root = book.xml(workbook)
    rels = book.rels(workbook)
    found = []
    names: set[str] = set()
    for sheet in root.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet"):
        name, rid = sheet.get("name", ""), sheet.get(f"{{{REL}}}id", "")
        if name.casefold() in names:
            book.bad(f"workbook: two sheets named {name}")
        names.add(name.casefold())
        if rid not in rels:
            book.bad(f"workbook: sheet {name} has no relationship {rid}")
            continue
        rel_type, target, _ = rels[rid]
        if rel_type.endswith("/worksheet"):
            found.append((name, target))
    return found


def _sheet_tables(book: _Book, part: str) -> list[str]:
    return [t for ty, t, _ in book.rels(part).values() if ty.endswith("/table")]


def _table_header_cells(book: _Book, part: str) -> set[tuple[int, int]]:
    cells = set()
    for table_part in _sheet_tables(book, part):
        if table_part not in book.names:
            continue
        root = book.xml(table_part)
        if root.get("headerRowCount", "1") == "0":
            continue
        r1, c1, _, c2 = _range(root.get("ref", "A1"))
        cells.update((r1, c) for c in range(c1, c2 + 1))
    return cells


def _worksheet(
    book: _Book,
    name: str,
    part: str,
    styles: dict[str, int],
    strings: list[str],
    wanted: set[tuple[int, int]],
    headers: dict[tuple[int, int], str],
) -> tuple[int, str | None]:
    """Check rows, cells and indexes; (shared-string references, the sheet's autofilter ref)."""
    references = 0
    last_row = 0
    sheet_filter = None
    with book.zf.open(part) as fh:
        for _, el in etree.iterparse(fh, events=("end",), huge_tree=True):
            tag = etree.QName(el).localname
            if tag == "row":
                number = int(el.get("r", last_row + 1))
                if number <= last_row:
                    book.bad(f"{name}: row {number} comes after row {last_row}")
                last_row = number
                if int(el.get("s", "0")) >= styles["cellXfs"]:
                    book.bad(f"{name}: row {number} uses style {el.get('s')}")
                last_col = 0
                for c in el.iterfind(f"{{{MAIN}}}c"):
                    ref = c.get("r")
                    row, col = _cell(ref) if ref else (number, last_col + 1)
                    if row != number:
                        book.bad(f"{name}: cell {ref} is inside row {number}")
                    if col <= last_col:
                        book.bad(f"{name}: cell {ref} is out of order in row {number}")
                    last_col = col
                    if int(c.get("s", "0")) >= styles["cellXfs"]:
                        book.bad(f"{name}: cell {ref} uses missing style {c.get('s')}")
                    kind = c.get("t", "n")
                    v = c.find(f"{{{MAIN}}}v")
                    if kind == "s":
                        references += 1
                        index = int(v.text) if v is not None and v.text else -1
                        if not 0 <= index < len(strings):
                            book.bad(f"{name}: cell {ref} refers to missing shared string {index}")
                        elif (row, col) in wanted:
                            headers[(row, col)] = strings[index]
                    elif kind == "inlineStr" and (row, col) in wanted:
                        is_el = c.find(f"{{{MAIN}}}is")
                        headers[(row, col)] = "" if is_el is None else _text(is_el)
                    elif (row, col) in wanted and v is not None:
                        headers[(row, col)] = v.text or ""
                el.clear()
            elif tag == "col":
                if int(el.get("style", "0")) >= styles["cellXfs"]:
                    book.bad(f"{name}: column style {el.get('style')} does not exist")
            elif tag == "autoFilter" and etree.QName(el.getparent()).localname == "worksheet":
                sheet_filter = el.get("ref")
            elif tag == "tableParts":
                parts = el.findall(f"{{{MAIN}}}tablePart")
                if el.get("count") is not None and int(el.get("count")) != len(parts):
                    book.bad(f"{name}: tableParts count {el.get('count')} but {len(parts)} listed")
                rels = book.rels(part)
                for tp in parts:
                    if tp.get(f"{{{REL}}}id") not in rels:
                        book.bad(f"{name}: a table part has no relationship")
    return references, sheet_filter


def _tables(book: _Book, tables: list[tuple[str, str, Any]], styles: dict[str, int]) -> None:
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    placed: dict[str, list[tuple[str, tuple[int, int, int, int]]]] = {}
    for sheet, part, headers in tables:
        root = book.xml(part)
        name = root.get("displayName", "")
        where = f"{sheet}: table {name}"
        for seen, key in ((ids, root.get("id", "")), (names, name.casefold())):
            if key in seen:
                book.bad(f"{where}: id or name also used by {seen[key]}")
            seen[key] = where
        r1, c1, r2, c2 = _range(root.get("ref", "A1"))
        for other, (o1, oc1, o2, oc2) in placed.get(sheet, []):
            if r1 <= o2 and o1 <= r2 and c1 <= oc2 and oc1 <= c2:
                book.bad(f"{where} overlaps the table {other}")
        placed.setdefault(sheet, []).append((name, (r1, c1, r2, c2)))
        columns = root.findall(f"{{{MAIN}}}tableColumns/{{{MAIN}}}tableColumn")
        count = root.find(f"{{{MAIN}}}tableColumns").get("count")
        if count is not None and int(count) != len(columns):
            book.bad(f"{where}: tableColumns count {count} but {len(columns)} columns")
        if len(columns) != c2 - c1 + 1:
            book.bad(f"{where}: {len(columns)} columns for a range {c2 - c1 + 1} wide")
        col_ids = [c.get("id") for c in columns]
        if len(set(col_ids)) != len(col_ids):
            book.bad(f"{where}: column ids repeat: {col_ids}")
        col_names = [c.get("name", "").casefold() for c in columns]
        if len(set(col_names)) != len(col_names):
            book.bad(f"{where}: column names repeat")
        header_rows = int(root.get("headerRowCount", "1"))
        totals = int(root.get("totalsRowCount", "0"))
        for i, column in enumerate(columns):
            for attr in ("dataDxfId", "headerRowDxfId", "totalsRowDxfId"):
                if column.get(attr) is not None and int(column.get(attr)) >= styles["dxfs"]:
                    book.bad(f"{where}: column {column.get('name')} uses dxf {column.get(attr)}")
            if header_rows:
                text = headers.get((r1, c1 + i))
                if text != column.get("name"):
                    book.bad(
                        f"{where}: header cell {i + 1} says {text!r}, "
                        f"the column is named {column.get('name')!r}"
                    )
        auto = root.find(f"{{{MAIN}}}autoFilter")
        if auto is not None and _range(auto.get("ref", "A1")) != (r1, c1, r2 - totals, c2):
            book.bad(f"{where}: autofilter {auto.get('ref')} does not match {root.get('ref')}")


def _filter_names(book: _Book, workbook: str, order: list[str], filters: dict[str, str]) -> None:
    root = book.xml(workbook)
    sheets = [s.get("name") for s in root.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet")]
    for dn in root.iterfind(f"{{{MAIN}}}definedNames/{{{MAIN}}}definedName"):
        if dn.get("name") != "_xlnm._FilterDatabase" or dn.get("localSheetId") is None:
            continue
        sheet = sheets[int(dn.get("localSheetId"))]
        ref = (dn.text or "").rsplit("!", 1)[-1].replace("$", "")
        if sheet in filters and _range(ref) != _range(filters[sheet]):
            book.bad(f"{sheet}: filter name says {ref}, the autofilter {filters[sheet]}")


def xlsx_files(folder: Path) -> Iterator[Path]:
    """The workbooks under a folder that are zip packages (deliberately broken ones are not)."""
    for path in sorted(folder.rglob("*.xls[xm]")):
        if path.is_file() and not path.name.startswith("~$") and zipfile.is_zipfile(path):
            yield path
