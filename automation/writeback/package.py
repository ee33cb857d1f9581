"""The workbook package: its parts, relationships and content types.

Finds the workbook, sheet and style parts through the relationships (never
by guessing names), and registers new sheets.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Mapping, Sequence
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
        return self.zf.read(self.names[name])


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
    return etree.fromstring(zf.read(pkg_names[name]), PARSER)


def open_package(data: bytes, path: Path) -> Package:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = {info.filename: info for info in zf.infolist()}
        root_rels = relationships(names, zf, "")
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError) as exc:
        raise WriteBackError(f"{path.name} is not an Excel workbook (.xlsx/.xlsm).") from exc
    workbook = next(
        (
            resolve_target("", rel.get("Target"))
            for rel in root_rels
            if rel.get("Type", "").endswith("/officeDocument")
        ),
        "xl/workbook.xml",
    )
    if workbook not in names:
        raise WriteBackError(f"{path.name} is not an Excel workbook (.xlsx/.xlsm).")
    book = etree.fromstring(zf.read(names[workbook]), PARSER)
    ns = etree.QName(book).namespace
    rels = {
        rel.get("Id"): (rel.get("Type", ""), resolve_target(workbook, rel.get("Target", "")))
        for rel in relationships(names, zf, workbook)
    }
    sheets = {}
    for sheet in book.iterfind(f"{{{ns}}}sheets/{{{ns}}}sheet"):
        rel_type, target = rels.get(sheet.get(f"{{{REL_NS}}}id"), ("", ""))
        sheets[sheet.get("name")] = target if rel_type == REL_WORKSHEET else ""
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
    book = etree.fromstring(pkg.read(pkg.workbook), PARSER)
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
