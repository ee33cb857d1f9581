"""Write-back indexes only the rows it writes near: the rest is found by searching the bytes.

A sheet's rows from the first one written onward are indexed; a row above
(the header, a table's rows, a formula's group) is found by a binary search
over the part's bytes. These tests check that what is found that way is
what a whole index finds, and that writes near and far from the window
land where they should.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from automation import zipcopy
from automation.model import CellUpdate
from automation.writeback import WriteBackError, apply_updates, package
from automation.writeback.columns import columns_after
from automation.writeback.sheet import get_row, open_sheet, row_numbers_between, row_start
from automation.writeback.strings import SharedStrings
from automation.writeback.styles import Styles
from automation.writeback.values import Context

HEADERS = ["Date", "Client", "Amount", "Invoice No", "Status"]
#: Rows with gaps (empty rows are not in the part), as a bookkeeper's sheet has them.
PRESENT = [1, 2, 3, 5, 6, 7, 10, 11, 40, 41, 42, 43, 90, 100, 101, 102, 150]


def gappy_workbook(path: Path, note_at: tuple[int, int] | None = None) -> None:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Services")
    ws.write_row(0, 0, HEADERS)
    for row in PRESENT[1:]:
        ws.write_row(row - 1, 0, [f"2026-01-{row % 28 + 1:02d}", f"Client {row}", row * 10])
    if note_at is not None:
        ws.write(note_at[0] - 1, note_at[1] - 1, "a note typed beside the data")
    wb.close()


def sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read("xl/worksheets/sheet1.xml")


def context() -> Context:
    return Context(SharedStrings(None), Styles(None), False)


@pytest.mark.parametrize("first_row", [0, 1, 2, 4, 5, 9, 12, 43, 89, 100, 150, 151, 400])
def test_a_window_finds_what_a_whole_index_finds(tmp_path: Path, first_row: int) -> None:
    path = tmp_path / "log.xlsx"
    gappy_workbook(path)
    xml = sheet_xml(path)
    whole, window = open_sheet(xml, context()), open_sheet(xml, context(), first_row)
    assert whole.row_numbers == PRESENT
    for number in range(0, 160):
        assert row_start(window, number) == row_start(whole, number), number
        found = get_row(window, number, create=False) is not None
        assert found == (number in PRESENT), number
    for first, last in [(1, 160), (4, 9), (8, 9), (41, 100), (150, 150), (151, 200), (3, 3)]:
        assert row_numbers_between(window, first, last) == [
            n for n in PRESENT if first <= n <= last
        ]


def test_rows_without_numbers_are_indexed_whole(tmp_path: Path) -> None:
    """The r of a row is optional in the format: such a part cannot be searched by number."""
    path = tmp_path / "log.xlsx"
    gappy_workbook(path)
    xml = re.sub(rb'(<row) r="(?:2|3)"', rb"\1", sheet_xml(path))  # rows 2 and 3 follow row 1
    edit = open_sheet(xml, context(), 100)
    assert edit.tail_row == 0 and edit.row_numbers == PRESENT
    late = re.sub(rb'(<row) r="(?:101|102)"', rb"\1", sheet_xml(path))  # inside the window
    assert open_sheet(late, context(), 100).row_numbers == PRESENT


def test_writes_below_above_and_between_rows(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    gappy_workbook(path)
    updates = [
        CellUpdate("Services", 101, "Status", "Invoiced"),
        CellUpdate("Services", 160, "Client", "New client"),  # past the last row
        CellUpdate("Services", 125, "Client", "In a gap"),  # between two rows
        CellUpdate("Services", 102, "Error", "new column"),  # the header row is far above
    ]
    result = apply_updates(path, updates, header_rows={"Services": 1})
    assert result.cells == 4
    ws = openpyxl.load_workbook(path)["Services"]
    assert [c.value for c in ws[1]] == [*HEADERS, "Error"]
    assert ws["E101"].value == "Invoiced" and ws["B101"].value == "Client 101"
    assert ws["B160"].value == "New client" and ws["B125"].value == "In a gap"
    assert ws["F102"].value == "new column"
    assert [r[0].row for r in ws.iter_rows() if r[1].value] == sorted([*PRESENT, 125, 160])


def test_a_note_far_above_the_rows_written_keeps_its_column(tmp_path: Path) -> None:
    """A new column goes right of everything used, also of a note in the history."""
    path = tmp_path / "log.xlsx"
    gappy_workbook(path, note_at=(5, 9))  # I5, four columns right of the headers
    result = apply_updates(
        path, [CellUpdate("Services", 150, "Error", "x")], header_rows={"Services": 1}
    )
    assert result.cells == 1
    ws = openpyxl.load_workbook(path)["Services"]
    assert ws["I5"].value == "a note typed beside the data"
    assert ws["J1"].value == "Error" and ws["J150"].value == "x"


@pytest.mark.parametrize(
    ("col", "inside", "outside"),
    [
        (0, ["A", "Z", "XFD"], []),
        (10, ["K", "Z", "AA", "XFD"], ["A", "J"]),
        (26, ["AA", "BA", "ZZ", "AAA"], ["A", "Z"]),
        (28, ["AC", "AZ", "BA", "ZZ", "AAA"], ["AA", "AB", "Z"]),
        (16_384, ["XFE", "XGA", "YAA"], ["XFD", "XFC", "ZZ", "A"]),
    ],
)
def test_columns_after(col: int, inside: list[str], outside: list[str]) -> None:
    pattern = re.compile(b"(?:" + columns_after(col) + rb")\d")
    for letters in inside:
        assert pattern.fullmatch(letters.encode() + b"1"), letters
    for letters in outside:
        assert not pattern.fullmatch(letters.encode() + b"1"), letters


def unzipped(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def test_a_part_inflated_in_pieces_gives_the_same_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big parts are inflated piece by piece into one buffer; the result is the same.

    Pieces of 997 bytes put row and cell boundaries inside a piece and at
    its edges; the rows written span many pieces.
    """
    source = tmp_path / "source.xlsx"
    gappy_workbook(source)
    updates = [
        CellUpdate("Services", row, "Status", f"Invoiced {row}") for row in [*PRESENT[1:], 151]
    ] + [CellUpdate("Services", 42, "Error", "far from the end")]
    whole, pieces = tmp_path / "whole.xlsx", tmp_path / "pieces.xlsx"
    for target in (whole, pieces):
        target.write_bytes(source.read_bytes())
    apply_updates(whole, updates, header_rows={"Services": 1})
    monkeypatch.setattr(package, "BIG_PART", 0)
    monkeypatch.setattr(package, "READ_PIECE", 997)
    apply_updates(pieces, updates, header_rows={"Services": 1})
    assert unzipped(pieces) == unzipped(whole) != unzipped(source)
    ws = openpyxl.load_workbook(pieces)["Services"]
    assert ws["E151"].value == "Invoiced 151" and ws["F42"].value == "far from the end"


def test_a_part_shorter_than_its_header_says_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.xlsx"
    gappy_workbook(path)
    monkeypatch.setattr(package, "BIG_PART", 0)
    real_infolist = zipfile.ZipFile.infolist

    def lying_sizes(self: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
        infos = real_infolist(self)
        for info in infos:
            if info.filename == "xl/worksheets/sheet1.xml":
                info.file_size += 10
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying_sizes)
    before = path.read_bytes()
    with pytest.raises(WriteBackError, match="could not be read"):
        apply_updates(path, [CellUpdate("Services", 3, "Status", "x")], header_rows={"Services": 1})
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [0],
        [10],
        [1000],  # exactly one block
        [2000],
        [3000],  # three blocks: deflated on threads
        [999, 1, 1000, 1],  # block edges between pieces
        [1, 0, 5000, 0, 3, 2997, 1500],  # pieces straddling several blocks
        [70_000],  # each block primed with a full 32 kB window of the one before
    ],
)
def test_pack_joins_blocks_into_one_stream(
    monkeypatch: pytest.MonkeyPatch, sizes: list[int]
) -> None:
    monkeypatch.setattr(zipcopy, "PACK_BLOCK", 1000)
    source = b"".join(b"<row r=%d><c><v>%d</v></c></row>" % (i, i * 7) for i in range(20_000))
    pieces: list[bytes | memoryview] = []
    at = 0
    for n in sizes:
        pieces.append(memoryview(source)[at : at + n] if n % 2 else source[at : at + n])
        at += n
    content = b"".join(pieces)
    packed = zipcopy.pack(pieces, 3)
    assert zlib.decompress(b"".join(packed.raw), -15) == content
    assert (packed.crc, packed.size) == (zlib.crc32(content), len(content))


def test_a_workbook_packed_in_small_blocks_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.xlsx"
    gappy_workbook(source)
    updates = [CellUpdate("Services", row, "Status", f"Paid {row}") for row in PRESENT[1:]]
    whole, blocks = tmp_path / "whole.xlsx", tmp_path / "blocks.xlsx"
    for target in (whole, blocks):
        target.write_bytes(source.read_bytes())
    apply_updates(whole, updates, header_rows={"Services": 1})
    monkeypatch.setattr(zipcopy, "PACK_BLOCK", 333)
    apply_updates(blocks, updates, header_rows={"Services": 1})
    assert unzipped(blocks) == unzipped(whole)
    with zipfile.ZipFile(blocks) as zf:
        assert zf.testzip() is None
    assert openpyxl.load_workbook(blocks)["Services"]["E150"].value == "Paid 150"


def test_totals_row_moves_onto_formatted_empty_cells(tmp_path: Path) -> None:
    """Where the totals row moves to, formatted empty cells give way: one cell per column."""
    path = tmp_path / "log.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Payments")
    shaded = wb.add_format({"bg_color": "#DDEEFF"})
    ws.add_table("A1:C4", {
        "name": "tblPayments", "total_row": True,
        "data": [["P-1", "Acme", 10], ["P-2", "Bolt", 20]],
        "columns": [{"header": "Ref", "total_string": "Total"}, {"header": "Payer"},
                    {"header": "Amount", "total_function": "sum"}],
    })  # fmt: skip
    for col in range(3):
        ws.write_blank(5, col, None, shaded)  # row 6: where the totals row goes
    wb.close()
    updates = [
        CellUpdate("Payments", row, column, value)
        for row, values in ((4, ("P-3", "Cole", 30)), (5, ("P-4", "Dune", 40)))
        for column, value in zip(("Ref", "Payer", "Amount"), values, strict=True)
    ]
    apply_updates(path, updates, header_rows={"Payments": 1})
    xml = sheet_xml(path)
    row6 = re.search(rb'<row r="6".*?</row>', xml)
    assert row6 is not None
    assert re.findall(rb'<c r="([A-Z]+6)"', row6.group(0)) == [b"A6", b"B6", b"C6"]
    sheet = openpyxl.load_workbook(path)["Payments"]
    assert [sheet.cell(6, c).value for c in (1, 3)] == ["Total", "=SUBTOTAL(109,[Amount])"]
    assert sheet["C5"].value == 40 and sheet["A4"].value == "P-3"


def test_a_prefixed_part_with_single_quotes_is_searched_the_same(tmp_path: Path) -> None:
    """<x:row r='5'>: another way to write the same part (some writers do)."""
    plain = tmp_path / "plain.xlsx"
    gappy_workbook(plain)
    xml = re.sub(rb"<(/?)(?![?!])([A-Za-z]+)", rb"<\1x:\2", sheet_xml(plain))
    xml = xml.replace(b'xmlns="http', b'xmlns:x="http', 1)
    xml = re.sub(rb'(<x:row[^>]*?) r="(\d+)"', rb"\1 r='\2'", xml)
    path = tmp_path / "prefixed.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = xml if info.filename == "xl/worksheets/sheet1.xml" else src.read(info)
            dst.writestr(info.filename, data)
    edit = open_sheet(xml, context(), 100)
    assert edit.tail_row == 100 and edit.row_numbers == [100, 101, 102, 150]
    assert row_numbers_between(edit, 1, 12) == [n for n in PRESENT if n <= 12]
    updates = [
        CellUpdate("Services", 101, "Status", "Invoiced"),
        CellUpdate("Services", 125, "Error", "in a gap, new column"),
    ]
    assert apply_updates(path, updates, header_rows={"Services": 1}).cells == 2
    ws = openpyxl.load_workbook(path)["Services"]
    assert ws["E101"].value == "Invoiced" and ws["F125"].value == "in a gap, new column"
    assert ws["F1"].value == "Error" and ws["B100"].value == "Client 100"
    assert b'<x:row r="125"' in sheet_xml(path) or b"<x:row r='125'" in sheet_xml(path)
