"""References that follow a table's totals row when it moves down.

When rows are appended to an Excel Table with a totals row, the tool moves the
totals row's cells (the table's columns only) down to stay last. Excel makes
room for new table rows by inserting cells, and every A1 reference to a cell
that moved follows it; so it does here, in the whole workbook:

* cell formulas on every worksheet: on the table's sheet with or without the
  sheet's name, elsewhere with it (quoted or not); shared and array formulas;
* a range whose last row is the totals row stretches down with it
  (``SUM(Invoices!G2:G3)`` becomes ``SUM(Invoices!G2:G5)``), as Excel's
  insertion stretches it; a range of the totals row alone moves with it;
* defined names, and the table's own calculated and totals formulas;
* notes (comments) on moved cells, with their boxes in the VML drawing.

Text in quotes, function names, other sheets' cells at the same address,
whole columns (``G:G``) and cells beside the table are left alone, and so is a
formula the tokenizer cannot read. A worksheet none of whose references change
is not rewritten: it stays byte for byte.

>>> move = RowMove("Invoices", origin=3, to=5, first_col=1, last_col=20)
>>> follow_formula("Invoices!G3+SUM(Invoices!$J$2:$J$3)", "Summary", [move])
'Invoices!G5+SUM(Invoices!$J$2:$J$5)'
>>> follow_formula('IF(G3>0,"G3",G:G)', "Invoices", [move])
'IF(G5>0,"G3",G:G)'
>>> follow_formula("G3", "Summary", [move]) is None  # Summary's own G3
True
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from automation.writeback.formulas import translate
from automation.writeback.package import Package, relationships, resolve_target
from automation.writeback.xmlscan import (
    PARSER,
    col_index,
    col_letters,
    read_root,
    split_range,
    split_ref,
    xml_bytes,
)

MAX_ROW = 1_048_576
MAX_COL = 16_384


@dataclass(frozen=True)
class RowMove:
    """A table's totals row moved down on its sheet: the cells of row `origin` in
    columns `first_col`..`last_col` are now in row `to` (the rows between were empty)."""

    sheet: str
    origin: int
    to: int
    first_col: int
    last_col: int

    def in_block(self, row: int, col: int) -> bool:
        """Whether a cell of the sheet is a moved one or one of the new rows above it: their
        formulas were written for their new place (moved, or taken from the row above)."""
        return self.origin <= row <= self.to and self.first_col <= col <= self.last_col


# A sheet name before "!": quoted ('My Sheet', '' for a quote), or a plain word.
_SHEET = r"(?:'(?:[^']|'')+'|[^'!:\[\]\s]+)"
_REF = re.compile(
    rf"(?:(?P<sheet>{_SHEET})!)?(?P<c1>\$?[A-Za-z]{{1,3}})(?P<r1>\$?\d+)"
    rf"(?::(?:(?P<sheet2>{_SHEET})!)?(?P<c2>\$?[A-Za-z]{{1,3}})(?P<r2>\$?\d+))?"
)


def _sheet_name(written: str) -> str:
    if written.startswith("'"):
        return written[1:-1].replace("''", "'")
    return written


def _target(m: re.Match[str], here: str | None) -> str | None:
    """The sheet an A1 reference points into (None: another workbook, several sheets)."""
    if m["sheet"] is None:
        return here
    sheet = _sheet_name(m["sheet"])
    if m["sheet2"] is not None and _sheet_name(m["sheet2"]).casefold() != sheet.casefold():
        return None
    if sheet.startswith("[") or ":" in sheet:  # '[Book.xlsx]Sheet'!A1, 'Jan:Mar'!A1
        return None
    return sheet


def _follow_operand(
    value: str,
    here: str | None,
    moves: Sequence[RowMove],
    cell: tuple[int, int] | None,
    absolute_only: bool,
) -> str | None:
    """A range operand after the moves, or None when it does not change."""
    m = _REF.fullmatch(value)
    if m is None:
        return None
    target = _target(m, here)
    if target is None:
        return None
    key = target.casefold()
    move = next((mv for mv in moves if mv.sheet.casefold() == key), None)
    if move is None:
        return None
    groups = ("c1", "r1") if m["c2"] is None else ("c1", "r1", "c2", "r2")
    cols = [col_index(m[g].lstrip("$").upper()) for g in groups[::2]]
    rows = [int(m[g].lstrip("$")) for g in groups[1::2]]
    if max(cols) > MAX_COL or not all(1 <= r <= MAX_ROW for r in rows):
        return None  # not a cell (a name such as XYZ1234567)
    if min(cols) < move.first_col or max(cols) > move.last_col or max(rows) != move.origin:
        return None
    fixed = absolute_only or (
        cell is not None and here is not None
        and here.casefold() == key and move.in_block(*cell)
    )  # fmt: skip
    # The cells of the totals row alone: every end moves; a range down to it: its last end.
    out, pos = [], 0
    for g in groups[1::2]:
        start, end = m.span(g)
        absolute = m[g].startswith("$")
        if int(m[g].lstrip("$")) != move.origin or (fixed and not absolute):
            continue
        out += [value[pos:start], "$" if absolute else "", str(move.to)]
        pos = end
    if not out:
        return None
    out.append(value[pos:])
    return "".join(out)


def follow_formula(
    text: str,
    here: str | None,
    moves: Sequence[RowMove],
    cell: tuple[int, int] | None = None,
    absolute_only: bool = False,
) -> str | None:
    """A formula (as stored, without "=") after the moves, or None when it does not change.

    `here` is the sheet the formula is on (None for a defined name: its references
    always name their sheet); `cell` its (row, column) there. A formula in the
    moved block (see `RowMove.in_block`), or with `absolute_only`, had its
    relative references moved already: only its absolute rows follow.
    """
    found = _ranges(text)
    if found is None:
        return None  # left as it is: Excel reads it, the tokenizer cannot
    out: list[str] = []
    pos = 0
    anywhere = cell is None and not absolute_only  # where the formula is does not matter
    key = tuple(moves) if anywhere else ()
    # A reference without a sheet's name is to the formula's own sheet: moved there only.
    unnamed = here is not None and any(m.sheet.casefold() == here.casefold() for m in moves)
    for at, value in found:
        if not unnamed and "!" not in value:
            continue
        if anywhere:  # a column of formulas names the same cells again and again
            new = _followed(value, here, key)
        else:
            new = _follow_operand(value, here, moves, cell, absolute_only)
        if new is not None:
            out += [text[pos:at], new]
            pos = at + len(value)
    if not out:
        return None
    out.append(text[pos:])
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _followed(value: str, here: str | None, moves: tuple[RowMove, ...]) -> str | None:
    """`_follow_operand` of a formula whose cell does not matter, remembered."""
    return _follow_operand(value, here, moves, None, False)


#: A reference in a formula without text, external or structured parts (`_ranges`): an
#: unquoted sheet name is a word (letters, digits, "_", "."), a cell is not part of a
#: longer name nor a function's (LOG10 is a cell only when no "(" follows).
_PLAIN_REF = re.compile(
    r"(?<![\w.$!':])"
    r"(?:(?:'(?:[^']|'')+'|[^\W\d][\w.]*)!)?\$?[A-Za-z]{1,3}\$?\d+"
    r"(?::(?:(?:'(?:[^']|'')+'|[^\W\d][\w.]*)!)?\$?[A-Za-z]{1,3}\$?\d+)?"
    r"(?![\w(!.:$])"
)


def _ranges(text: str) -> list[tuple[int, str]] | None:
    """(where, text) of each range operand of a formula, or None when it cannot be read.

    Most formulas (`F2/Invoices!$G$1002`, a column of them) hold no text in quotes, no
    workbook or table brackets, no array: a pattern finds their references, a hundred
    times faster than openpyxl's tokenizer, which reads the others.
    """
    if not any(mark in text for mark in '"[{#'):
        return [(m.start(), m.group()) for m in _PLAIN_REF.finditer(text)]
    from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError  # rare: loaded here

    try:
        tokens = Tokenizer("=" + text).items
    except (TokenizerError, IndexError, ValueError):
        return None
    found: list[tuple[int, str]] = []
    pos = 0
    for token in tokens:
        if token.type == Token.WSPACE:  # the tokenizer merges and moves white space
            continue
        at = text.find(token.value, pos)
        if at < 0 or text[pos:at].strip():
            return None  # the tokens do not spell the formula
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            found.append((at, token.value))
        pos = at + len(token.value)
    return found


def _row_hint(moves: Sequence[RowMove]) -> re.Pattern[bytes]:
    """Bytes a formula must hold to reach a moved row: a column letter, then the row."""
    rows = "|".join(sorted({str(m.origin) for m in moves}))
    return re.compile(rb"[A-Za-z]\$?(?:" + rows.encode() + rb")(?![0-9])")


def named_sheets(pieces: Iterable[bytes | memoryview], sheets: Iterable[str]) -> set[str]:
    """Which of `sheets` a part may name in a formula (a quick look before any formula is
    read): a name, in any case, right before a "!" (or before its closing quote and "!").
    A name the part's bytes could spell otherwise is always among them."""
    keys: dict[bytes, str] = {}
    found = set()
    for sheet in sheets:
        name = sheet.replace("'", "''").encode()
        if not sheet.isascii() or re.search(rb"[&<>\"]", name):
            found.add(sheet)  # in another case, or escaped in the part's text
        else:
            keys[name.lower()] = sheet
    longest = max(map(len, keys), default=0)
    count = 0
    for piece in pieces:  # views of a big part are searched as they are, not copied
        for bang in _BANG.finditer(piece):
            if not keys:
                return found
            count += 1
            if count > _BANGS:
                return found | set(keys.values())
            end = bang.start()
            if end and piece[end - 1 : end] == b"'":
                end -= 1
            before = bytes(piece[max(end - longest, 0) : end]).lower()
            for key in [key for key in keys if before.endswith(key)]:
                found.add(keys.pop(key))
    return found


_BANG = re.compile(rb"!")
#: After this many "!" in a part, every sheet counts as named there.
_BANGS = 100_000


def _formulas(prefix: bytes) -> re.Pattern[bytes]:
    """A formula element: its attributes, and its text unless it is empty (<f .../>)."""
    p = re.escape(prefix)
    return re.compile(b"<" + p + rb"f(?=[\s/>])([^>]*?)(?:/>|>([^<]*)</" + p + rb"f>)")


def _cell_tags(prefix: bytes) -> re.Pattern[bytes]:
    """A cell's start tag, its attributes in group 1."""
    return re.compile(b"<" + re.escape(prefix) + rb"c(?=[\s>])([^>]*)>")


#: How far before a formula its cell's start tag is looked for (it is right before it: a
#: formula is a cell's first child).
_CELL_TAG_BEFORE = 1024


_ATTR = re.compile(rb"""\s([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SHARED_ATTRS = re.compile(rb"""\s(?:t|ref|si)\s*=\s*(?:"[^"]*"|'[^']*')""")


def _attrs(tag: bytes) -> dict[bytes, str]:
    return {
        m[1]: html.unescape((m[2] if m[2] is not None else m[3]).decode())
        for m in _ATTR.finditer(tag)
    }


@dataclass
class _Group:
    """A shared formula whose cells must each get a formula of their own."""

    text: str  # the master's formula
    master: str  # the master's cell


@dataclass
class SheetFollow:
    """One worksheet part's formulas after the moves.

    Attributes:
      sheet: the worksheet's name.
      moves: the moves to follow.
      changed: how many formulas were rewritten.
      groups: shared formulas (by si) split into a formula per cell.
    """

    sheet: str
    moves: Sequence[RowMove]
    changed: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)
    prefix: bytes = b""  # the part's prefix of the main namespace
    cell_tag: re.Pattern[bytes] = _cell_tags(b"")
    local: bool = False  # a move is on this sheet: where a formula is matters

    def pieces(self, pieces: Sequence[bytes | memoryview]) -> list[bytes | memoryview] | None:
        """The part's pieces with its formulas followed, or None when none changed.

        A formula lies inside one piece (pieces are split between rows)."""
        local = self.sheet.casefold()
        named = named_sheets(pieces, {m.sheet for m in self.moves} - {self.sheet})
        moves = [m for m in self.moves if m.sheet.casefold() == local or m.sheet in named]
        if not moves or not pieces:
            return None
        self.moves = moves
        self.local = any(m.sheet.casefold() == local for m in moves)
        self.prefix = read_root(bytes(pieces[0][:4096])).prefix
        pattern = _formulas(self.prefix)
        self.cell_tag = _cell_tags(self.prefix)
        hint = _row_hint(moves)
        out: list[bytes | memoryview] = []
        for piece in pieces:
            edits = list(self._edits(piece, pattern, hint))
            if not edits:
                out.append(piece)
                continue
            parts, pos = [], 0
            for start, end, new in edits:
                parts += [piece[pos:start], new]
                pos = end
            parts.append(piece[pos:])
            out.append(b"".join(parts))
        return out if self.changed else None

    def _edits(
        self, piece: bytes | memoryview, pattern: re.Pattern[bytes], hint: re.Pattern[bytes]
    ) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, new bytes) of the formulas of a piece that change."""
        for m in pattern.finditer(piece):
            raw = m[2]
            if b"shared" not in m[1]:
                if not raw or not hint.search(raw):
                    continue  # most formulas: a look at their bytes is enough
            elif not raw and not self.groups:
                continue  # a cell of a shared formula, none split up
            if raw and not self.local and b"t=" not in m[1]:
                # A plain formula on a sheet no move is on: where it is does not matter.
                new = follow_formula(html.unescape(raw.decode("utf-8")), self.sheet, self.moves)
                if new is not None:
                    self.changed += 1
                    yield m.start(2), m.end(2), html.escape(new, quote=False).encode()
                continue
            f_attrs = _attrs(m[1])
            kind = f_attrs.get(b"t")
            if kind == "dataTable":
                continue
            ref = self._address(piece, m.start())
            if kind == "shared" and b"ref" not in f_attrs:  # a cell of a shared formula
                group = self.groups.get(f_attrs.get(b"si", ""))
                if group is not None:
                    yield from self._own_formula(m, ref, group)
                continue
            if raw is None:
                continue
            text = html.unescape(raw.decode("utf-8"))
            cell = _cell(ref)
            if kind == "shared":
                yield from self._shared(m, f_attrs, text, ref, cell)
                continue
            new = follow_formula(text, self.sheet, self.moves, cell)
            if new is not None:
                self.changed += 1
                yield m.start(2), m.end(2), html.escape(new, quote=False).encode()

    def _address(self, piece: bytes | memoryview, at: int) -> str | None:
        """The r attribute of the cell whose formula starts at `at`."""
        tags = list(self.cell_tag.finditer(piece, max(0, at - _CELL_TAG_BEFORE), at))
        return _attrs(tags[-1][1]).get(b"r") if tags else None

    def _shared(
        self,
        m: re.Match[bytes],
        f_attrs: dict[bytes, str],
        text: str,
        ref: str | None,
        cell: tuple[int, int] | None,
    ) -> Iterator[tuple[int, int, bytes]]:
        """A shared formula's master: its text follows when every cell of the group
        changes alike; else each cell gets a formula of its own."""
        try:
            area = split_range(f_attrs[b"ref"])
        except ValueError:
            return
        if cell is None:
            cell = (area[0], area[1])
            ref = f"{col_letters(area[1])}{area[0]}"
        assert ref is not None
        change = _group_change(text, self.sheet, self.moves, cell, area)
        if change == "none":
            return
        if change == "alike":
            new = follow_formula(text, self.sheet, self.moves, cell)
            if new is not None:
                self.changed += 1
                yield m.start(2), m.end(2), html.escape(new, quote=False).encode()
            return
        group = self.groups[f_attrs.get(b"si", "")] = _Group(text, ref)
        yield from self._own_formula(m, ref, group)

    def _own_formula(
        self, m: re.Match[bytes], ref: str | None, group: _Group
    ) -> Iterator[tuple[int, int, bytes]]:
        """A cell of a shared formula given the formula it stood for, followed."""
        cell = _cell(ref)
        if ref is None or cell is None:
            return  # a cell without its address: left in the group
        text = group.text if ref == group.master else translate(group.text, group.master, ref)
        new = follow_formula(text, self.sheet, self.moves, cell)
        self.changed += 1
        tag = b"<" + self.prefix + b"f"
        body = html.escape(text if new is None else new, quote=False).encode()
        new_f = tag + _SHARED_ATTRS.sub(b"", m[1]) + b">" + body + b"</" + self.prefix + b"f>"
        yield m.start(0), m.end(0), new_f


def _cell(ref: str | None) -> tuple[int, int] | None:
    if not ref:
        return None
    try:
        return split_ref(ref)
    except ValueError:
        return None


def _group_change(
    text: str,
    here: str,
    moves: Sequence[RowMove],
    master: tuple[int, int],
    area: tuple[int, int, int, int],
) -> str:
    """How a shared formula's cells change: "none", "alike" (each reference by the same
    rows in every cell: the master's text can follow) or "apart"."""
    found = _ranges(text)
    if found is None:
        return "none"
    mr, mc = master
    row_span = (area[0] - mr, area[2] - mr)
    col_span = (area[1] - mc, area[3] - mc)
    seen: set[tuple[int, ...]] = set()
    for _, value in found:
        m = _REF.fullmatch(value)
        if m is None:
            continue
        rows = [(m[g].startswith("$"), int(m[g].lstrip("$"))) for g in ("r1", "r2") if m[g]]
        cols = [
            (m[g].startswith("$"), col_index(m[g].lstrip("$").upper()))
            for g in ("c1", "c2")
            if m[g]
        ]
        deltas = set()
        for dr in _samples(row_span, [r for a, r in rows if not a], [mv.origin for mv in moves]):
            for dc in _samples(
                col_span,
                [c for a, c in cols if not a],
                [c for mv in moves for c in (mv.first_col, mv.last_col)],
            ):
                cell = (mr + dr, mc + dc)
                derived = _derived(m, rows, cols, dr, dc)
                if derived is None:
                    continue
                new = _follow_operand(derived, here, moves, cell, False)
                deltas.add(_row_delta(derived, new))
        if len(deltas) > 1:
            return "apart"
        seen |= deltas
    return "alike" if seen - {()} else "none"


def _samples(span: tuple[int, int], relative: list[int], marks: list[int]) -> set[int]:
    """Offsets within `span` where a relative row (column) meets the marks, with their
    neighbours and the span's ends: between them, nothing a reference's change depends
    on changes."""
    lo, hi = span
    found = {lo, hi}
    if relative:
        for at in relative:
            for mark in marks:
                for k in (-1, 0, 1):
                    if lo <= mark - at + k <= hi:
                        found.add(mark - at + k)
    return found


def _derived(
    m: re.Match[str],
    rows: list[tuple[bool, int]],
    cols: list[tuple[bool, int]],
    dr: int,
    dc: int,
) -> str | None:
    """The reference as a cell `dr` rows and `dc` columns from the master reads it."""
    parts = []
    for (row_abs, row), (col_abs, col) in zip(rows, cols, strict=True):
        r = row if row_abs else row + dr
        c = col if col_abs else col + dc
        if not (1 <= r <= MAX_ROW and 1 <= c <= MAX_COL):
            return None
        parts.append(f"{'$' if col_abs else ''}{col_letters(c)}{'$' if row_abs else ''}{r}")
    sheet = f"{m['sheet']}!" if m["sheet"] else ""
    return sheet + ":".join(parts)


def _row_delta(old: str, new: str | None) -> tuple[int, ...]:
    """How far each row of a reference moved: () when none did."""
    if new is None:
        return ()
    before = [int(n) for n in re.findall(r"\$?(\d+)(?=:|$)", old)]
    after = [int(n) for n in re.findall(r"\$?(\d+)(?=:|$)", new)]
    return tuple(b - a for a, b in zip(before, after, strict=True))


def follow_names(book_xml: bytes, moves: Sequence[RowMove]) -> bytes | None:
    """workbook.xml with its defined names followed, or None when none changed."""
    book = etree.fromstring(book_xml, PARSER)
    ns = etree.QName(book).namespace
    changed = False
    for name in book.iterfind(f"{{{ns}}}definedNames/{{{ns}}}definedName"):
        new = follow_formula(name.text or "", None, moves)
        if new is not None:
            name.text = new
            changed = True
    return xml_bytes(book) if changed else None


def follow_table(root: Any, ns: str, sheet: str, moves: Sequence[RowMove]) -> bool:
    """A table's calculated and totals formulas followed (their relative references are
    written for a row of their own); whether any changed."""
    changed = False
    for local in ("calculatedColumnFormula", "totalsRowFormula"):
        for element in root.iter(f"{{{ns}}}{local}"):
            new = follow_formula(element.text or "", sheet, moves, absolute_only=True)
            if new is not None:
                element.text = new
                changed = True
    return changed


REL_COMMENTS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments"
REL_VML = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing"
REL_THREADED = "http://schemas.microsoft.com/office/2017/10/relationships/threadedComment"
#: A comment's (or threaded comment's) start tag, and its ref attribute's value.
_COMMENT_REF = re.compile(
    rb"(<(?:[\w.-]+:)?(?:comment|threadedComment)\s[^>]*?\bref\s*=\s*[\"'])([^\"']*)([\"'])"
)
_VML_SHAPE = re.compile(rb"<((?:[\w.-]+:)?)shape(?=[\s>]).*?</\1shape>", re.S)
_VML_CELL = re.compile(rb"(<((?:[\w.-]+:)?)(Row|Column)>)\s*(\d+)\s*(</\2\3>)")
_VML_ANCHOR = re.compile(rb"(<((?:[\w.-]+:)?)Anchor>)([^<]*)(</\2Anchor>)")


def follow_comment_refs(xml: bytes, move: RowMove) -> bytes:
    """A comments part (legacy or threaded) with the notes on moved cells moved."""

    def moved(m: re.Match[bytes]) -> bytes:
        cell = _cell(m[2].decode("ascii", "replace"))
        if cell is None or cell[0] != move.origin or not move.in_block(*cell):
            return m[0]
        return m[1] + f"{col_letters(cell[1])}{move.to}".encode() + m[3]

    return _COMMENT_REF.sub(moved, xml)


def follow_vml_notes(xml: bytes, move: RowMove) -> bytes:
    """A legacy VML drawing with the note boxes of moved cells moved: their cell (x:Row,
    counted from 0) and their anchor's top and bottom rows."""

    def shape(m: re.Match[bytes]) -> bytes:
        block = m[0]
        if b"Note" not in block:
            return block
        found = {k[3]: int(k[4]) for k in _VML_CELL.finditer(block)}
        row, col = found.get(b"Row"), found.get(b"Column")
        if row is None or col is None or row + 1 != move.origin:
            return block
        if not move.in_block(row + 1, col + 1):
            return block
        rows = move.to - move.origin
        block = _VML_CELL.sub(
            lambda k: k[1] + str(move.to - 1).encode() + k[5] if k[3] == b"Row" else k[0], block
        )
        return _VML_ANCHOR.sub(lambda k: k[1] + _anchor_down(k[3], rows) + k[4], block)

    return _VML_SHAPE.sub(shape, xml)


def _anchor_down(anchor: bytes, rows: int) -> bytes:
    """An x:Anchor (left column, offset, top row, offset, right column, offset, bottom row,
    offset) `rows` further down."""
    numbers = anchor.split(b",")
    if len(numbers) != 8:
        return anchor
    for i in (2, 6):
        text = numbers[i].strip()
        if not text.isdigit():
            return anchor
        numbers[i] = numbers[i].replace(text, str(int(text) + rows).encode())
    return b",".join(numbers)


def follow_notes(pkg: Package, moves: Sequence[RowMove], parts: dict[str, bytes]) -> None:
    """The notes (comments) on moved cells move with them: the sheet's comments part,
    threaded comments and the VML drawing that shows the note boxes."""
    for move in moves:
        sheet = pkg.sheets.get(move.sheet)
        if not sheet:
            continue
        for rel in relationships(pkg.names, pkg.zf, sheet):
            kind = rel.get("Type", "")
            if kind not in _NOTE_PARTS or rel.get("TargetMode") == "External":
                continue
            part = resolve_target(sheet, rel.get("Target", ""))
            if part not in pkg.names:
                continue
            xml = parts[part] if part in parts else pkg.read(part)
            new = follow_vml_notes(xml, move) if kind == REL_VML else follow_comment_refs(xml, move)
            if new != xml:
                parts[part] = new


_NOTE_PARTS = {REL_COMMENTS, REL_VML, REL_THREADED}
