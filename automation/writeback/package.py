"""The workbook package: its parts, relationships and content types.

Finds the workbook, sheet and style parts through the relationships (never
by guessing names), and registers new sheets.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from automation.writeback.records import WriteBackError
from automation.writeback.xmlscan import (
    CT_NS,
    MAIN_NS,
    PARSER,
    PKG_REL_NS,
    REL_CALC_CHAIN,
    REL_NS,
    REL_SHARED_STRINGS,
    REL_STYLES,
    REL_WORKSHEET,
    WORKSHEET_CONTENT_TYPE,
    xml_bytes,
)


class DamagedPart(zipfile.BadZipFile):
    """A part whose data does not unpack, or unpacks to other bytes than its CRC says (a
    bad sync, download or disk): the message names the part."""

    def __init__(self, part: str, why: str) -> None:
        super().__init__(f"its part {part} is damaged: {why}")
        self.part, self.why = part, why


@contextmanager
def unpacking(part: str) -> Iterator[None]:
    """Reading `part`'s data: what zipfile and zlib raise for damaged data, as DamagedPart."""
    try:
        yield
    except DamagedPart:
        raise
    except zlib.error as exc:
        why = str(exc).rsplit(": ", 1)[-1]  # "Error -3 while decompressing data: ..."
        raise DamagedPart(part, f"its data does not unpack: {why}") from None
    except EOFError:
        raise DamagedPart(part, "its data ends early") from None
    except zipfile.BadZipFile as exc:
        why = str(exc)
        if why.startswith("Bad CRC-32"):
            why = "its data does not match its CRC-32 checksum"
        raise DamagedPart(part, why) from None


def read_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A part's data, inflated and checked against its CRC (DamagedPart if damaged)."""
    with unpacking(info.filename):
        return zf.read(info)


#: Parts larger than this (uncompressed) are inflated into one buffer (see `Package.read_big`).
BIG_PART = 16 << 20
#: How much of a big part is inflated at a time.
READ_PIECE = 1 << 18


@dataclass
class Package:
    """The workbook package: members in order and where the parts are."""

    zf: zipfile.ZipFile
    names: dict[str, zipfile.ZipInfo]
    workbook: str
    workbook_rels: str
    sheets: dict[str, str]  # sheet name -> part name
    styles: str | None
    shared_strings: str | None
    calc_chain: str | None
    date1904: bool

    def read(self, name: str) -> bytes:
        return read_part(self.zf, self.names[name])

    def read_big(self, name: str) -> bytes:
        """A part's content, inflated piece by piece into one buffer.

        ``ZipFile.read`` holds a big part twice at its peak (zlib's output
        blocks, then the joined result): 1 GB for a 500 MB sheet.
        """
        info = self.names[name]
        if info.file_size < BIG_PART:
            return self.read(name)
        content = bytearray(info.file_size)
        view = memoryview(content)
        at = 0
        with unpacking(name), self.zf.open(info) as fh:  # checks the CRC at the end
            while piece := fh.read(READ_PIECE):
                if at + len(piece) > len(content):
                    raise zipfile.BadZipFile(f"{name} is longer than its header says")
                view[at : at + len(piece)] = piece
                at += len(piece)
        if at != len(content):
            raise zipfile.BadZipFile(f"{name} is shorter than its header says")
        view.release()
        return content  # type: ignore[return-value]  # regexes, slices and zlib take it as bytes


def rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def resolve_target(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


def relationships(pkg_names: Mapping[str, zipfile.ZipInfo], zf: zipfile.ZipFile, part: str) -> Any:
    name = rels_path(part)
    if name not in pkg_names:
        return etree.Element(f"{{{PKG_REL_NS}}}Relationships")
    return etree.fromstring(read_part(zf, pkg_names[name]), PARSER)


def _workbook_part(names: Mapping[str, zipfile.ZipInfo], zf: zipfile.ZipFile) -> str:
    root_rels = relationships(names, zf, "")
    return next(
        (
            resolve_target("", rel.get("Target"))
            for rel in root_rels
            if rel.get("Type", "").endswith("/officeDocument")
        ),
        "xl/workbook.xml",
    )


def _sheet_targets(
    names: Mapping[str, zipfile.ZipInfo], zf: zipfile.ZipFile, workbook: str
) -> tuple[Any, dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """(workbook tree, rId -> (type, part), [(sheet name, rel type, part)] in tab order)."""
    book = etree.fromstring(read_part(zf, names[workbook]), PARSER)
    ns = etree.QName(book).namespace
    rels = {
        rel.get("Id"): (rel.get("Type", ""), resolve_target(workbook, rel.get("Target", "")))
        for rel in relationships(names, zf, workbook)
    }
    sheets = []
    for sheet in book.iterfind(f"{{{ns}}}sheets/{{{ns}}}sheet"):
        rel_type, target = rels.get(sheet.get(f"{{{REL_NS}}}id"), ("", ""))
        sheets.append((sheet.get("name", ""), rel_type, target))
    return book, rels, sheets


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet name -> its part (chartsheets and macro sheets left out)."""
    names = {info.filename: info for info in zf.infolist()}
    workbook = _workbook_part(names, zf)
    if workbook not in names:
        return {}
    _, _, sheets = _sheet_targets(names, zf, workbook)
    return {name: part for name, rel_type, part in sheets if rel_type == REL_WORKSHEET}


def open_package(data: bytes, path: Path) -> Package:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = {info.filename: info for info in zf.infolist()}
        workbook = _workbook_part(names, zf)
    except DamagedPart:
        raise  # told as damaged, naming the part
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError) as exc:
        raise WriteBackError(f"{path.name} is not an Excel workbook (.xlsx/.xlsm).") from exc
    if workbook not in names:
        raise WriteBackError(f"{path.name} is not an Excel workbook (.xlsx/.xlsm).")
    book, rels, listed = _sheet_targets(names, zf, workbook)
    ns = etree.QName(book).namespace
    sheets = {name: part if rel_type == REL_WORKSHEET else "" for name, rel_type, part in listed}
    pr = book.find(f"{{{ns}}}workbookPr")
    by_type = {rel_type: target for rel_type, target in rels.values()}
    return Package(
        zf=zf,
        names=names,
        workbook=workbook,
        workbook_rels=rels_path(workbook),
        sheets=sheets,
        styles=by_type.get(REL_STYLES) if by_type.get(REL_STYLES) in names else None,
        shared_strings=by_type.get(REL_SHARED_STRINGS),
        calc_chain=by_type.get(REL_CALC_CHAIN) if by_type.get(REL_CALC_CHAIN) in names else None,
        date1904=pr is not None and pr.get("date1904", "0") in {"1", "true"},
    )


def sheet_name_ok(name: str) -> bool:
    return 0 < len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name) and name[0] != "'"


def new_sheet_xml() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="' + MAIN_NS.encode() + b'" xmlns:r="' + REL_NS.encode() + b'">'
        b'<dimension ref="A1"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        b'<sheetFormatPr defaultRowHeight="15"/><sheetData/>'
        b'<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        b"</worksheet>"
    )


def add_sheets(pkg: Package, new: Sequence[str], parts: dict[str, bytes]) -> dict[str, str]:
    """Register new worksheets in workbook.xml, its rels and the content types."""
    book = etree.fromstring(parts.get(pkg.workbook) or pkg.read(pkg.workbook), PARSER)
    ns = etree.QName(book).namespace
    rels = relationships(pkg.names, pkg.zf, pkg.workbook)
    types = etree.fromstring(pkg.read("[Content_Types].xml"), PARSER)
    sheets = book.find(f"{{{ns}}}sheets")
    if sheets is None:
        raise WriteBackError("The workbook is damaged (it lists no sheets).")
    ids = {rel.get("Id") for rel in rels}
    taken = {name.lower() for name in pkg.names}
    sheet_ids = [int(s.get("sheetId", "0")) for s in sheets]
    folder = posixpath.dirname(pkg.workbook)
    made: dict[str, str] = {}
    for name in new:
        n = 1
        while posixpath.join(folder, f"worksheets/sheet{n}.xml").lower() in taken:
            n += 1
        part = posixpath.join(folder, f"worksheets/sheet{n}.xml")
        taken.add(part.lower())
        k = len(ids) + 1
        while f"rId{k}" in ids:
            k += 1
        rid = f"rId{k}"
        ids.add(rid)
        sheet_ids.append(max(sheet_ids, default=0) + 1)
        etree.SubElement(
            sheets,
            f"{{{ns}}}sheet",
            {"name": name, "sheetId": str(sheet_ids[-1]), f"{{{REL_NS}}}id": rid},
        )
        etree.SubElement(
            rels,
            f"{{{PKG_REL_NS}}}Relationship",
            Id=rid,
            Type=REL_WORKSHEET,
            Target=posixpath.relpath(part, folder or "."),
        )
        etree.SubElement(
            types, f"{{{CT_NS}}}Override", PartName="/" + part, ContentType=WORKSHEET_CONTENT_TYPE
        )
        made[name] = part
    parts[pkg.workbook] = xml_bytes(book)
    parts[pkg.workbook_rels] = xml_bytes(rels)
    parts["[Content_Types].xml"] = xml_bytes(types)
    return made


def drop_calc_chain(pkg: Package, parts: dict[str, bytes], removed: set[str]) -> None:
    """Excel rebuilds calcChain.xml; a stale one naming a removed formula is "corrupt"."""
    if pkg.calc_chain is None:
        return
    rels = (
        etree.fromstring(parts[pkg.workbook_rels], PARSER)
        if pkg.workbook_rels in parts
        else relationships(pkg.names, pkg.zf, pkg.workbook)
    )
    for rel in list(rels):
        if rel.get("Type") == REL_CALC_CHAIN:
            rels.remove(rel)
    types = etree.fromstring(
        parts.get("[Content_Types].xml") or pkg.read("[Content_Types].xml"), PARSER
    )
    for override in list(types):
        if override.get("PartName", "").lstrip("/") == pkg.calc_chain:
            types.remove(override)
    parts[pkg.workbook_rels] = xml_bytes(rels)
    parts["[Content_Types].xml"] = xml_bytes(types)
    removed.add(pkg.calc_chain)


#: CT_Workbook's children that come before calcPr, in schema order.
_BEFORE_CALC_PR = (
    "fileVersion",
    "fileSharing",
    "workbookPr",
    "workbookProtection",
    "bookViews",
    "sheets",
    "functionGroups",
    "externalReferences",
    "definedNames",
)
FILTER_DATABASE = "_xlnm._FilterDatabase"


def update_workbook(pkg: Package, parts: dict[str, bytes], filters: Mapping[str, str]) -> None:
    """Ask for recalculation on open, and keep the sheets' filter names in step.

    Formulas elsewhere that read the cells just written still hold their old
    cached results; ``fullCalcOnLoad`` makes Excel (and LibreOffice) work them
    out again when the file is opened. `filters` maps a sheet name to the new
    range of its autofilter, which Excel mirrors in a hidden defined name.
    """
    book = etree.fromstring(parts.get(pkg.workbook) or pkg.read(pkg.workbook), PARSER)
    ns = etree.QName(book).namespace
    calc = book.find(f"{{{ns}}}calcPr")
    if calc is None:
        calc = etree.Element(f"{{{ns}}}calcPr")
        anchor = None
        for child in book:
            if isinstance(child.tag, str) and etree.QName(child).localname in _BEFORE_CALC_PR:
                anchor = child
        if anchor is None:
            book.insert(0, calc)
        else:
            anchor.addnext(calc)
    asked = calc.get("fullCalcOnLoad") in {"1", "true"}
    if asked and not filters and pkg.workbook not in parts:
        return  # already asks (XlsxWriter files do): the part stays byte for byte
    calc.set("fullCalcOnLoad", "1")
    if filters:
        order = [s.get("name", "") for s in book.iterfind(f"{{{ns}}}sheets/{{{ns}}}sheet")]
        for name in book.iterfind(f"{{{ns}}}definedNames/{{{ns}}}definedName"):
            local = name.get("localSheetId") or ""
            if name.get("name") != FILTER_DATABASE or not local.isdigit():
                continue
            sheet = order[int(local)] if int(local) < len(order) else ""
            if sheet in filters:
                name.text = f"{quote_sheet(sheet)}!{filters[sheet]}"
    parts[pkg.workbook] = xml_bytes(book)


def quote_sheet(name: str) -> str:
    """A sheet name as a formula writes it: quoted unless it is a plain word."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and not re.fullmatch(
        r"[A-Za-z]{1,3}\d+", name
    ):
        return name
    return "'" + name.replace("'", "''") + "'"


def readable_copy(path: Path, wanted: Sequence[str]) -> tuple[bytes, tuple[str, ...]]:
    """A copy of the workbook holding only the worksheets named `wanted` (any case).

    For reading only: a reader that refuses the whole file for one part it
    does not know (an Excel 4.0 macro sheet, a dialog sheet) reads this copy.
    Returns (the copy's bytes, every sheet name of the original). Raises
    ValueError naming the part at fault when even the workbook's own list of
    sheets cannot be read.
    """
    keys = {" ".join(w.split()).casefold() for w in wanted}
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(str(exc)) from None
    with zf:
        names = {info.filename: info for info in zf.infolist()}
        try:
            workbook = _workbook_part(names, zf)
            book, _, listed = _sheet_targets(names, zf, workbook)
        except DamagedPart as exc:
            raise ValueError(str(exc)) from None
        except (etree.XMLSyntaxError, KeyError) as exc:
            raise ValueError(f"its list of sheets ({exc}) cannot be read") from None
        ns = etree.QName(book).namespace
        dropped_parts = set()
        for element, (name, rel_type, part) in zip(
            list(book.iterfind(f"{{{ns}}}sheets/{{{ns}}}sheet")), listed, strict=True
        ):
            keep = rel_type == REL_WORKSHEET and " ".join(name.split()).casefold() in keys
            if not keep:
                element.getparent().remove(element)
                dropped_parts.add(part)
        defined = book.find(f"{{{ns}}}definedNames")
        if defined is not None:  # they may name the sheets left out
            book.remove(defined)
        dropped_parts |= {rels_path(part) for part in dropped_parts if part}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy:
            for info in zf.infolist():
                if info.filename in dropped_parts:
                    continue
                try:
                    data = xml_bytes(book) if info.filename == workbook else read_part(zf, info)
                except DamagedPart as exc:
                    raise ValueError(str(exc)) from None
                copy.writestr(info.filename, data)
        return out.getvalue(), tuple(n for n, _, _ in listed)


def damaged_part(path: Path, sheets: Sequence[str]) -> str | None:
    """The first part among the named sheets, shared strings and styles that is not valid XML."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = {info.filename: info for info in zf.infolist()}
            workbook = _workbook_part(names, zf)
            _, rels, listed = _sheet_targets(names, zf, workbook)
            keys = {" ".join(s.split()).casefold() for s in sheets}
            parts = [
                (f"the sheet {name}", part)
                for name, rel_type, part in listed
                if " ".join(name.split()).casefold() in keys
            ]
            parts += [
                (kind, target)
                for rel_type, target in rels.values()
                for suffix, kind in (
                    ("/sharedStrings", "the shared strings"),
                    ("/styles", "the styles"),
                )
                if rel_type.endswith(suffix)
            ]
            for what, part in parts:
                if part not in names:
                    return f"{what} ({part}) is missing from the file"
                try:
                    with unpacking(part), zf.open(names[part]) as fh:
                        for _, element in etree.iterparse(
                            fh, events=("end",), huge_tree=True, resolve_entities=False
                        ):
                            element.clear()  # a big sheet is checked, not kept
                except etree.XMLSyntaxError as exc:
                    return f"{what} ({part}) is damaged: {exc}"
                except DamagedPart as exc:
                    return f"{what} ({part}) is damaged: {exc.why}"
    except (OSError, zipfile.BadZipFile, etree.XMLSyntaxError, KeyError) as exc:
        return str(exc)
    return None
