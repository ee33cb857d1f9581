"""XML plumbing shared by the write-back modules: namespaces, cell addresses, part scanning.

A big worksheet is scanned as bytes; only the elements that change are parsed,
inside a wrapper carrying the part's namespace declarations.

>>> split_range("A1:J10")
(1, 1, 10, 10)
>>> col_letters(28)
'AB'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from automation.writeback.records import WriteBackError

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
REL_OFFICE_DOCUMENT = REL_NS + "/officeDocument"
REL_WORKSHEET = REL_NS + "/worksheet"
REL_STYLES = REL_NS + "/styles"
REL_SHARED_STRINGS = REL_NS + "/sharedStrings"
REL_CALC_CHAIN = REL_NS + "/calcChain"
WORKSHEET_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

PARSER = etree.XMLParser(resolve_entities=False, huge_tree=True, remove_blank_text=False)
_XMLNS = re.compile(rb"""\sxmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')""")
ROOT_TAG = re.compile(rb"<(?![?!])(?:([\w.-]+):)?([\w.-]+)([^>]*)>")
_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def col_letters(index: int) -> str:
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """'AB12' -> (row 12, column 28)."""
    m = _CELL_REF.match(ref.replace("$", "").upper())
    if not m:
        raise ValueError(ref)
    return int(m.group(2)), col_index(m.group(1))


def split_range(ref: str) -> tuple[int, int, int, int]:
    """'A1:J10' -> (1, 1, 10, 10); a single cell is a one-cell range."""
    first, _, last = ref.partition(":")
    r1, c1 = split_ref(first)
    r2, c2 = split_ref(last) if last else (r1, c1)
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


@dataclass(frozen=True)
class Root:
    """The root element of a part: its prefix, namespace and declarations."""

    prefix: bytes  # b"" or b"x:"
    ns: str
    decls: bytes  # the xmlns attributes, copied onto fragment wrappers


def read_root(xml: bytes) -> Root:
    m = ROOT_TAG.search(xml)
    if not m:
        raise WriteBackError("A part of the workbook is not valid XML.")
    prefix = m.group(1) or b""
    decls = b"".join(_XMLNS.findall(m.group(3)))
    want = b"xmlns:" + prefix if prefix else b"xmlns"
    ns = MAIN_NS
    for decl in _XMLNS.findall(m.group(3)):
        name, _, value = decl.strip().partition(b"=")
        if name.strip() == want:
            ns = value.strip()[1:-1].decode()
    return Root(prefix + b":" if prefix else b"", ns, decls)


#: Where an element starts and where its start tag ends, in a part's bytes.
Span = tuple[int, int]


def tag_pattern(prefix: bytes, local: bytes) -> re.Pattern[bytes]:
    return re.compile(b"<" + re.escape(prefix + local) + rb"(?=[\s/>])[^>]*>")


def row_pattern(prefix: bytes) -> re.Pattern[bytes]:
    """A <row> start tag, capturing its r attribute (usually there, optional in the format)."""
    return re.compile(
        b"<" + re.escape(prefix) + rb"""row(?=[\s/>])(?:[^>]*?\sr\s*=\s*["'](\d+)["'])?[^>]*>"""
    )


def span_end(xml: bytes, span: Span, prefix: bytes, local: bytes) -> int:
    """Just past the element's end tag (or its start tag when written <x .../>)."""
    _, tag_end = span
    if xml[tag_end - 2 : tag_end] == b"/>":
        return tag_end
    close = b"</" + prefix + local + b">"
    at = xml.find(close, tag_end)
    if at < 0:
        raise WriteBackError("A worksheet of the workbook is damaged (an element is not closed).")
    return at + len(close)


def parse_fragment(fragment: bytes, root: Root) -> Any:
    """Parse a piece of a part inside a wrapper carrying the part's namespaces."""
    return etree.fromstring(b"<w " + root.decls + b">" + fragment + b"</w>", PARSER)


def serialize_fragment(wrapper: Any) -> bytes:
    """The wrapper's children, without the wrapper (so no namespace noise)."""
    out: bytes = etree.tostring(wrapper, encoding="utf-8")
    return out[out.index(b">") + 1 : out.rindex(b"</")]


def text_of(el: Any, ns: str) -> str:
    """Plain text of a shared or inline string (<t> and rich-text runs, no phonetics)."""
    parts = el.xpath("./m:t | ./m:r/m:t", namespaces={"m": ns})
    return "".join(p.text or "" for p in parts)


def xml_bytes(tree: Any) -> bytes:
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=True)
    return out
