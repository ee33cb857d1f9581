"""Hostile workbooks stop with exit 2 and a message, in bounded time and memory, never a crash.

Each case runs the real command in a child process whose address space is
capped (`resource.setrlimit`) and which has a timeout: before the package check
the far-away cell made the reader ask for 512 GiB and abort with a Rust backtrace.
"""

from __future__ import annotations

import os
import re
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Folder, client, service, write_workbook

from automation.cli import main
from automation.package_check import (
    GRID_BUDGET,
    Extent,
    UnsafeWorkbookError,
    UnsavedFormulas,
    check_package,
    sheet_extent,
)
from automation.zipcopy import ZipCopier, raw_member

#: Every workbook here is broken on purpose.
pytestmark = pytest.mark.broken_workbooks
REPO = Path(__file__).resolve().parent.parent
MEMORY = 1536 << 20  # the whole tool, pandas included, runs in far less
SERVICES_PART = "xl/worksheets/sheet2.xml"


def limited_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / "run_billing.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )


def base_book(folder: Path) -> Path:
    (folder / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    return write_workbook(
        folder / "service_log.xlsx", [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")]
    )


def rebuild(
    book: Path,
    parts: dict[str, bytes],
    raw: dict[str, tuple[bytes, int, int]] | None = None,
    duplicate: str | None = None,
) -> None:
    """Rewrite `book` with some parts replaced (`raw`: deflated bytes, size, CRC as given)."""
    data = book.read_bytes()
    with zipfile.ZipFile(book) as zf:
        infos = zf.infolist()
    with book.open("wb") as out:
        writer = ZipCopier(out)
        for info in infos:
            if info.filename in parts:
                writer.replace(info, parts[info.filename])
            elif raw and info.filename in raw:
                deflated, size, crc = raw[info.filename]
                info.file_size, info.CRC, info.compress_type = size, crc, zipfile.ZIP_DEFLATED
                writer.copy(info, deflated)
            else:
                writer.copy(info, raw_member(data, info))
            if info.filename == duplicate:
                writer.replace(info, b"<worksheet/>")
        writer.close()


def services_xml(book: Path) -> bytes:
    with zipfile.ZipFile(book) as zf:
        return zf.read(SERVICES_PART)


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    out = " ".join(result.stdout.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    for word in words:
        assert word in out, out
    return out


def test_one_cell_at_xfd1048576(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    xml = services_xml(book).replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    )
    rebuild(book, {SERVICES_PART: xml})
    assert book.stat().st_size < 10_000
    before = book.read_bytes()
    out = refused(
        limited_run("--workbook", str(book), "--as-of", "2026-03-09", cwd=tmp_path),
        "sheet 'Services': its cells reach A1:XFD1048576",
        "a grid of 17,179,869,184 cells",
        "Ctrl+End",
    )
    assert out.startswith("Cannot run: service_log.xlsx")
    assert book.read_bytes() == before and not (tmp_path / ".billing" / "ledger.sqlite").exists()


def test_zip_bomb(tmp_path: Path) -> None:
    """6 MiB of sheet XML per KiB packed, 1.2 GiB in all: a small file that inflates hugely."""
    book = base_book(tmp_path)
    xml = services_xml(book)
    head, tail = xml.split(b"</sheetData>")
    block, blocks = b" " * (1 << 20), 1200

    def segment(data: bytes, final: bool = False) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(head)
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(b"</sheetData>" + tail, crc)
    deflated = segment(head) + segment(block) * blocks + segment(b"</sheetData>" + tail, True)
    size = len(head) + len(block) * blocks + len(tail) + len(b"</sheetData>")
    rebuild(book, {}, {SERVICES_PART: (deflated, size, crc)})
    assert book.stat().st_size < 3 << 20
    refused(
        limited_run("check", "--workbook", str(book), cwd=tmp_path),
        f"service_log.xlsx is too large once unpacked: its part '{SERVICES_PART}' inflates "
        "to 1.2 GiB, more than the 1.0 GiB",
    )


def test_zip_bomb_by_ratio_alone(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    head, tail = services_xml(book).split(b"</sheetData>")
    rebuild(book, {SERVICES_PART: head + b" " * (64 << 20) + b"</sheetData>" + tail})
    refused(
        limited_run("check", "--workbook", str(book), cwd=tmp_path),
        "service_log.xlsx is not read",
        "times larger), as a zip bomb does",
    )


def test_duplicate_member_names(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    rebuild(book, {}, duplicate=SERVICES_PART)
    with zipfile.ZipFile(book) as zf:
        assert [i.filename for i in zf.infolist()].count(SERVICES_PART) == 2
    refused(
        limited_run("--workbook", str(book), "--as-of", "2026-03-09", cwd=tmp_path),
        f"holds two parts named '{SERVICES_PART}'",
    )


def test_damaged_part(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    with zipfile.ZipFile(book) as zf:
        info = zf.getinfo(SERVICES_PART)
    data = bytearray(book.read_bytes())
    middle = info.header_offset + 30 + len(SERVICES_PART) + info.compress_size // 2
    data[middle] ^= 0xFF
    book.write_bytes(bytes(data))
    refused(
        limited_run("check", "--workbook", str(book), cwd=tmp_path),
        "service_log.xlsx is damaged or is not an Excel workbook",
    )


def test_not_a_zip_at_all(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    book.write_text("Date,Client,Description\n2026-03-02,Acme,Work\n")  # a CSV named .xlsx
    refused(
        limited_run("check", "--workbook", str(book), cwd=tmp_path),
        "is not an Excel .xlsx workbook",
    )


@pytest.mark.parametrize(
    ("length", "said"),
    [
        (lambda size: 0, "service_log.xlsx is empty (0 bytes)"),
        (lambda size: size // 2, "service_log.xlsx is cut short (damaged)"),
        (lambda size: 40, "service_log.xlsx is cut short (damaged)"),
    ],
)
def test_an_empty_or_cut_short_workbook_is_told_so(
    folder: Folder, capsys: pytest.CaptureFixture[str], length: Any, said: str
) -> None:
    """A workbook left 0 bytes (a cloud folder's placeholder never downloaded, a save
    interrupted) or cut short (a download or sync not finished) was told "is not an Excel
    .xlsx workbook (save it from Excel as ...)", which Excel cannot do with it. Now it is
    called empty or cut short, and the way out is letting the sync finish or the backup
    the tool keeps (exit 2 as before); check and the run alike."""
    book = base_book(folder.root)
    folder.write_config()
    data = book.read_bytes()
    book.write_bytes(data[: length(len(data))])
    assert main(["check", "--workbook", str(book)]) == 2
    assert folder.run("--as-of", "2026-03-09") == 2
    out = " ".join(capsys.readouterr().out.split())
    assert out.count(said) == 2, out
    assert out.count("Let the sync finish, or put back the latest backup from .billing/") == 2
    assert "not an Excel .xlsx workbook" not in out and folder.received == []


@pytest.mark.parametrize("cut", [3, 7, 9, 12, 15, 16])
def test_a_sheet_cut_off_inside_a_cell_tag_is_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cut: int
) -> None:
    """The part ends in `<c r="C2" t=` or near it (a copy stopped half way): the scan saw
    an unclosed tag as a cell and failed on it (IndexError, exit 1)."""
    book = base_book(tmp_path)
    xml = services_xml(book)
    rebuild(book, {SERVICES_PART: xml[: xml.index(b'<c r="C2"') + cut]})
    assert main(["check", "--workbook", str(book)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "the sheet Services (xl/worksheets/sheet2.xml) is damaged" in out, out


@pytest.mark.parametrize(
    "chunk", [b'<c r="A1" t=', b'<c r="A1"', b'<row r="1"><c r="A1"><v>1</v></c><c r="B1" s="1']
)
def test_a_cell_tag_left_open_is_no_cell(chunk: bytes) -> None:
    cells = 1 if b"<v>" in chunk else 0
    assert sheet_extent("book.xlsx", "Services", [chunk]).cells == cells


@pytest.mark.parametrize("ref", ["XFE1", "A1048577", "AAAA1", "A12345678"])
def test_reference_beyond_excels_limits(tmp_path: Path, ref: str) -> None:
    book = base_book(tmp_path)
    xml = services_xml(book).replace(
        b"</sheetData>", b'<row r="9"><c r="' + ref.encode() + b'"><v>1</v></c></row></sheetData>'
    )
    rebuild(book, {SERVICES_PART: xml})
    with pytest.raises(UnsafeWorkbookError, match=f"the cell reference '{ref}' is beyond"):
        check_package(book, ["Services"])


def test_entity_declarations(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    with zipfile.ZipFile(book) as zf:
        strings = zf.read("xl/sharedStrings.xml")
    bomb = b'<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    rebuild(book, {"xl/sharedStrings.xml": strings.replace(b"?>", b"?>" + bomb, 1)})
    with pytest.raises(UnsafeWorkbookError, match="declares XML entities"):
        check_package(book, ["Services"])


def test_a_wide_but_small_sheet_is_read(tmp_path: Path) -> None:
    """Within Excel's limits: a note in column XFD of a short sheet is a small grid."""
    book = base_book(tmp_path)
    xml = services_xml(book).replace(
        b"</sheetData>",
        b'<row r="3"><c r="XFD3" t="inlineStr"><is><t>note</t></is></c></row>'
        b'<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>',  # formatting only
    )
    rebuild(book, {SERVICES_PART: xml})
    result = limited_run("check", "--workbook", str(book), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cell_typed_in_excels_last_row_is_read(tmp_path: Path) -> None:
    """Within Excel's limits: one value at K1048576 (typed by accident) makes a grid of
    11.5 million cells; it is read, within the memory cap, and the service is billed."""
    book = base_book(tmp_path)
    xml = services_xml(book).replace(
        b"</sheetData>", b'<row r="1048576"><c r="K1048576"><v>1</v></c></row></sheetData>'
    )
    rebuild(book, {SERVICES_PART: xml})
    result = limited_run("--workbook", str(book), "--as-of", "2026-03-09", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INV-2026-0001" in result.stdout


def test_a_sheet_claiming_more_than_excels_limits_is_refused(tmp_path: Path) -> None:
    book = base_book(tmp_path)
    xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFZ2000000"/>',
                 services_xml(book))  # fmt: skip
    assert b"XFZ2000000" in xml
    rebuild(book, {SERVICES_PART: xml})
    refused(
        limited_run("check", "--workbook", str(book), cwd=tmp_path),
        "sheet 'Services': it claims the range A1:XFZ2000000, beyond Excel's limits",
    )


def test_a_long_sheet_is_read_in_bounded_memory(tmp_path: Path) -> None:
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    rows = [service(date(2026, 3, 2), "Acme", f"Work {i}") for i in range(15_000)]
    book = write_workbook(tmp_path / "service_log.xlsx", [client("Acme")], rows)
    result = limited_run("check", "--workbook", str(book), "--as-of", "2026-03-01", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("xml", "extent"),
    [
        (
            b'<row r="2"><c r="B2"><v>1</v></c><c r="D7" t="s"><v>0</v></c></row>',
            Extent(2, 2, 7, 2, 4),
        ),
        (b"<x:row r='5'><x:c t=\"n\"\nr='c5'><x:v>1</x:v></x:c></x:row>", Extent(1, 5, 5, 3, 3)),
        (b'<row r="1"><c r="A1" s="1"/><c r="ZZ900"/></row>', Extent()),
        (
            b'<row r="1"><c s="1" r="AB10" t="inlineStr"><is><t>x</t></is></c></row>',
            Extent(1, 10, 10, 28, 28),
        ),
    ],
)
def test_extent_reads_the_cells_own_references(xml: bytes, extent: Extent) -> None:
    assert sheet_extent("book.xlsx", "Services", [xml]) == extent


def test_extent_across_chunks_and_the_grid_budget() -> None:
    chunks = [b'<row r="1"><c r="A1"><v>1</v></c></row>', b'<row r="3000"><c r="Z3000"><v>1</v>']
    extent = sheet_extent("book.xlsx", "Services", chunks)
    assert extent == Extent(2, 1, 3000, 1, 26) and extent.grid == 78_000 < GRID_BUDGET


def test_error_cells_are_found_however_quoted() -> None:
    """The marker is read off the "=" signs: single quotes, mixed quotes and an attribute
    right after a quote still mark an error cell; text that only looks like one does not."""
    chunks = [
        b"<row r='2'><c r='B2' t='e'><v>#REF!</v></c></row>",
        b'<row r="3"><c r="C3" s="1"t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        b'<c r="D3" t="e\'><v>#N/A</v></c></row>',
        b'<row r="4"><c r="A4" t="inlineStr"><is><t>t="e" is text</t></is></c></row>',
    ]
    found: dict[tuple[int, int], str] = {}
    extent = sheet_extent("book.xlsx", "Services", chunks, found)
    assert found == {(2, 2): "#REF!", (3, 3): "#DIV/0!", (3, 4): "#N/A"}
    assert extent == Extent(4, 2, 4, 1, 4)


def test_formulas_saved_without_a_result_are_found_in_every_form() -> None:
    """A formula whose cell ends after it (under a prefix or not), or holds <v/> or
    openpyxl's <v></v>, was saved without its result; one with a value was not. An
    error cell (t="e") is told as an error, not again as an unsaved formula."""
    chunks = [
        b'<row r="2"><c r="A2"><f>1+1</f></c><c r="B2"><f>C2*2</f><v>4</v></c>'
        b'<c r="C2"><f>D2&amp;"x"</f><v/></c></row>',
        b'<row r="3"><x:c r="E3"><x:f>A3*B3</x:f></x:c>'
        b'<c r="F3" t="e"><f>1/0</f></c><c r="D3"><f t="shared" si="0">A3</f><v></v></c></row>',
    ]
    found: dict[tuple[int, int], str] = {}
    parts: list[UnsavedFormulas] = []
    sheet_extent("book.xlsx", "Services", chunks, found, None, parts)
    unsaved = UnsavedFormulas.joined(parts, found)
    assert found == {(3, 6): "#ERROR"}
    assert unsaved.formulas() == {
        (2, 1): "1+1", (2, 3): 'D2&"x"', (3, 4): "A3", (3, 5): "A3*B3"}  # fmt: skip
    assert list(unsaved.formulas(rows=[3], cols=[5, 4])) == [(3, 4), (3, 5)]
    assert unsaved.formulas(rows=[4]) == {} and UnsavedFormulas().formulas() == {}


def test_formulas_saved_with_the_result_0_are_noted_apart() -> None:
    """A formula followed by <v>0</v> (LibreOffice's form too: `<f aca="false">`) is noted
    apart from those saved without a result, when asked; other results, and a 0 that is
    no formula's, are not. In a workbook asking to be recalculated on open, such a 0 is
    no result: told as unsaved, and nothing is noted apart."""
    chunks = [
        b'<row r="2"><c r="E2" s="2" t="n"><f aca="false">VLOOKUP(B2,Clients!A:E,5,FALSE())'
        b'</f><v>0</v></c><c r="F2"><f>D2*E2</f><v>0</v></c><c r="G2"><f>1+1</f><v>2</v></c>'
        b'<c r="H2"><v>0</v></c><c r="I2"><f>10-1</f><v>0.5</v></c></row>',
        b'<row r="3"><c r="D3"><f>1</f></c><c r="J3"><f>A3</f><v>0</v></c></row></sheetData>'
        b"<extLst><x14:dataValidation><xm:f>Clients!$A$2:$A$9</xm:f><v>0</v>"
        b"</x14:dataValidation></extLst>",
    ]
    unsaved: list[UnsavedFormulas] = []
    zeroed: list[UnsavedFormulas] = []
    sheet_extent("book.xlsx", "Services", chunks, {}, None, unsaved, False, None, zeroed)
    assert UnsavedFormulas.joined(unsaved).formulas() == {(3, 4): "1"}
    assert UnsavedFormulas.joined(zeroed).formulas() == {
        (2, 5): "VLOOKUP(B2,Clients!A:E,5,FALSE())", (2, 6): "D2*E2", (3, 10): "A3"}  # fmt: skip
    unsaved, zeroed = [], []
    sheet_extent("book.xlsx", "Services", chunks, {}, None, unsaved, True, None, zeroed)
    assert list(UnsavedFormulas.joined(unsaved).formulas()) == [(2, 5), (2, 6), (3, 4), (3, 10)]
    assert zeroed == []
    unsaved = []
    sheet_extent("book.xlsx", "Services", chunks, {}, None, unsaved)  # not asked: not looked for
    assert list(UnsavedFormulas.joined(unsaved).formulas()) == [(3, 4)]


def test_unsaved_formulas_on_every_row_are_kept_as_found() -> None:
    """A sheet saved by a script holds a formula on every row: they are kept as arrays,
    and only the rows asked for are decoded, the same on helper threads as without."""
    rows = [
        f'<row r="{r}"><c r="A{r}"><v>1</v></c><c r="F{r}"><f>D{r}*E{r}</f><v></v></c></row>'
        for r in range(2, 40_002)
    ]
    chunks = ["".join(rows[k : k + 5000]).encode() for k in range(0, len(rows), 5000)]
    with ThreadPoolExecutor(max_workers=2) as helpers:
        ahead: list[UnsavedFormulas] = []
        sheet_extent("b.xlsx", "S", chunks, {}, helpers, ahead)
    one_by_one: list[UnsavedFormulas] = []
    sheet_extent("b.xlsx", "S", chunks, {}, None, one_by_one)
    unsaved = UnsavedFormulas.joined(ahead)
    assert len(unsaved) == 40_000 and len(ahead) == len(chunks)
    assert unsaved.formulas([7, 40_001, 40_002], [6]) == {
        (7, 6): "D7*E7", (40_001, 6): "D40001*E40001"}  # fmt: skip
    assert unsaved.formulas([9]) == UnsavedFormulas.joined(one_by_one).formulas([9])


def test_scanning_on_helper_threads_tells_the_same() -> None:
    """Chunks scanned ahead on other threads: the same extent and error cells, and what is
    wrong is told for the first chunk it is in, as when they are scanned one by one."""
    good = [
        f'<row r="{r}"><c r="B{r}"><v>1</v></c><c r="C{r}" t="e"><v>#REF!</v></c></row>'.encode()
        for r in range(1, 40)
    ]
    beyond = b'<row r="9"><c r="XFE9"><v>1</v></c></row>'
    entity = b'<!DOCTYPE x [<!ENTITY a "a">]><row r="8"><c r="A8"><v>1</v></c></row>'
    with ThreadPoolExecutor(max_workers=2) as helpers:
        one_by_one: dict[tuple[int, int], str] = {}
        ahead: dict[tuple[int, int], str] = {}
        assert sheet_extent("b.xlsx", "S", good, ahead, helpers) == sheet_extent(
            "b.xlsx", "S", good, one_by_one
        )
        assert ahead == one_by_one and len(ahead) == 39
        for chunks, message in [
            ([*good[:5], entity, *good[5:], beyond], "declares XML entities"),
            ([*good[:7], beyond, *good[7:], entity], "'XFE9' is beyond"),
        ]:
            with pytest.raises(UnsafeWorkbookError, match=message):
                sheet_extent("b.xlsx", "S", chunks, {}, helpers)


def test_an_open_document_spreadsheet_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A LibreOffice .ods is a zip too: it is not called damaged, and the message says how
    to save it as a workbook."""
    path = tmp_path / "log.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(UnsafeWorkbookError, match=r"log.ods is an OpenDocument file .* Save As"):
        check_package(path, ["Services"])


STRICT = [
    (b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
     b"http://purl.oclc.org/ooxml/spreadsheetml/main"),
    (b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
     b"http://purl.oclc.org/ooxml/officeDocument/relationships"),
]  # fmt: skip


def test_a_strict_open_xml_workbook_is_refused_before_anything_is_sent(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's "Strict Open XML Spreadsheet" can be read but not updated: refused by check
    and by the run (exit 2) before numbering, rather than invoices going out that never
    reach the workbook, every week."""
    made = folder.root / "made.xlsx"
    write_workbook(made, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work", 1, 100)])
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(folder.workbook, "w") as out:
        for info in src.infolist():
            part = src.read(info)
            for usual, strict in STRICT:
                part = part.replace(usual, strict)
            out.writestr(info, part)
    before = folder.workbook.read_bytes()
    assert main(["check", "--workbook", str(folder.workbook)]) == 2
    assert folder.run("--as-of", "2026-03-09") == 2
    assert folder.received == [] and folder.workbook.read_bytes() == before
    said = capsys.readouterr()
    assert said.out.count('"Strict Open XML Spreadsheet"') + said.err.count("Strict Open") == 2
    assert 'Save As, "Excel Workbook (*.xlsx)"' in said.out + said.err


def test_a_machine_without_a_utf8_locale_names_files_it_can_hold(folder: Folder) -> None:
    """LC_ALL=C with Python's UTF-8 mode off: the file system takes ASCII names only. A
    client called "ТОО Ақ Жол" made the monthly statement's file name unwritable: the run
    stopped after the invoices had gone, before the workbook was written, every week.
    Names the machine cannot hold are written with "_" and a digest instead."""
    write_workbook(
        folder.workbook,
        [client("ТОО Ақ Жол"), client("ТОО Бірлік")],
        [service(date(2026, 11, 20), "ТОО Ақ Жол", "Аудит", 1, 100),
         service(date(2026, 11, 20), "ТОО Бірлік", "Аудит", 1, 200)],
    )  # fmt: skip
    config = folder.write_config(extra="[statements]\nday = 1")
    config.write_text(config.read_text().replace('mode = "smtp"', 'mode = "outbox"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8"))}
    env |= {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONPATH": str(REPO)}

    def run(as_of: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / "run_billing.py"), "--workbook", str(folder.workbook),
             "--as-of", as_of],
            cwd=folder.root, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    probe = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.getfilesystemencoding())"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    if probe.stdout.strip().lower() in ("utf-8", "utf8"):
        pytest.skip("this Python keeps UTF-8 file names under the C locale")
    first = run("2026-11-30")
    assert first.returncode == 0, first.stdout + first.stderr
    second = run("2026-12-02")  # November's statements go
    assert second.returncode == 0, second.stdout + second.stderr
    assert "unexpected problem" not in second.stdout + second.stderr
    statements = sorted(p.name for p in (folder.root / "account-statements").rglob("*.docx"))
    assert len(statements) == 2 and all(name.isascii() for name in statements)
    assert len(set(statements)) == 2, statements  # two clients, two names
    frame = pd.read_excel(folder.workbook, sheet_name="Services", engine="calamine")
    assert list(frame["Status"]) == ["Invoiced", "Invoiced"]


def _no_longer_inflating(content: bytes) -> bytes:
    """`content` deflated against a dictionary nobody has: its back-references reach
    before the start, as a bad sync or disk leaves a part ("invalid distance too far
    back"); its CRC and size are the content's own."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=content)
    return packer.compress(content) + packer.flush()


def damage(book: Path, part: str, how: str) -> None:
    """`part` of `book` damaged: its data no longer inflates ("inflate"), or it inflates
    to other bytes than its CRC says ("crc")."""
    with zipfile.ZipFile(book) as zf:
        content = zf.read(part)
    if how == "inflate":
        raw = (_no_longer_inflating(content), len(content), zlib.crc32(content))
    else:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = (packer.compress(content) + packer.flush(), len(content), zlib.crc32(content) ^ 1)
    rebuild(book, {}, {part: raw})
    with zipfile.ZipFile(book) as zf, pytest.raises(zlib.error if how == "inflate" else
                                                    zipfile.BadZipFile):  # fmt: skip
        zf.read(part)


def damaged_book(folder: Folder) -> Path:
    return write_workbook(
        folder.workbook,
        [client("Acme")],
        [service(date(2026, 3, 2), "Acme", "Work", 1, 100)],
        extra=True,  # a sheet the tool does not read: xl/worksheets/sheet3.xml
    )


def test_a_sheet_whose_data_no_longer_inflates_is_damaged(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Services sheet's compressed data broken (not only its CRC): check, the dry run
    and the run stopped on "an unexpected problem" (exit 1, "the next run finishes the
    rest"). Now each says the workbook is damaged (exit 2), as for a bad CRC."""
    book = damaged_book(folder)
    damage(book, SERVICES_PART, "inflate")
    before = book.read_bytes()
    assert main(["check", "--workbook", str(book)]) == 2
    assert folder.run("--dry-run", "--as-of", "2026-03-09") == 2
    assert folder.run("--as-of", "2026-03-09") == 2
    said = capsys.readouterr()
    out = " ".join((said.out + said.err).split())
    assert "unexpected problem" not in out, out
    assert out.count("service_log.xlsx is damaged") == 3, out
    assert out.count("or use the latest backup from .billing/backups/") == 3, out
    assert folder.received == [] and book.read_bytes() == before


@pytest.mark.parametrize("how", ["inflate", "crc"])
@pytest.mark.parametrize(
    "part",
    ["[Content_Types].xml", "xl/theme/theme1.xml", "docProps/app.xml", "xl/worksheets/sheet3.xml"],
)
def test_a_damaged_part_the_tool_does_not_read_stops_the_run(
    folder: Folder, capsys: pytest.CaptureFixture[str], part: str, how: str
) -> None:
    """A part copied through unread (the content types, the theme, a sheet of the
    bookkeeper's own) damaged: `check` found no problems, the run numbered and sent the
    invoices and wrote the damaged part back as it was; Excel still could not open the
    workbook. Now check and the run stop (exit 2) before anything is numbered, naming
    the part."""
    book = damaged_book(folder)
    damage(book, part, how)
    before = book.read_bytes()
    assert main(["check", "--workbook", str(book)]) == 2
    assert folder.run("--as-of", "2026-03-09") == 2
    said = capsys.readouterr()
    out = " ".join((said.out + said.err).split())
    told = f"service_log.xlsx is damaged or is not an Excel workbook (its part {part} is damaged"
    assert out.count(told) == 2, out
    assert out.count("or use the latest backup from .billing/backups/") == 2, out
    assert folder.received == [] and book.read_bytes() == before
    assert not (folder.root / "invoices").exists() or not any((folder.root / "invoices").iterdir())


def test_a_stored_part_is_checked_against_its_crc(tmp_path: Path) -> None:
    """A part stored rather than deflated (as some programs keep pictures) is checked
    against its CRC too; as it was saved, the workbook passes."""
    book = base_book(tmp_path)
    picture = "xl/media/image1.png"
    with zipfile.ZipFile(book, "a") as zf:
        zf.writestr(picture, b"\x89PNG" + bytes(range(256)) * 64, zipfile.ZIP_STORED)
        crc = zf.getinfo(picture).CRC
    check_package(book, ["Services"])
    data = book.read_bytes()
    assert data.count(struct.pack("<I", crc)) == 2  # its local header and directory entry
    book.write_bytes(data.replace(struct.pack("<I", crc), struct.pack("<I", crc ^ 1)))
    with pytest.raises(UnsafeWorkbookError, match=rf"\(its part {picture} is damaged: its data"):
        check_package(book, ["Services"])


PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"


def sign(book: Path) -> None:
    """`book` with a digital signature as Excel adds it (File > Info > Protect Workbook >
    Add a Digital Signature): an origin part the package's relationships name, and a
    signature part the origin's relationships name, holding the signed parts' digests."""
    with zipfile.ZipFile(book) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    digests = "".join(
        f'<Reference URI="/{name}"><DigestValue>{zlib.crc32(parts[name])}</DigestValue></Reference>'
        for name in (SERVICES_PART, "xl/styles.xml", "xl/workbook.xml")
    )
    parts["_xmlsignatures/sig1.xml"] = (
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/>'
        f"<Object><Manifest>{digests}</Manifest></Object></Signature>"
    ).encode()
    parts["_xmlsignatures/origin.sigs"] = b""
    parts["_xmlsignatures/_rels/origin.sigs.rels"] = (
        f'<Relationships xmlns="{PKG_RELS}"><Relationship Id="rId1" '
        f'Type="{PKG_RELS}/digital-signature/signature" Target="sig1.xml"/></Relationships>'
    ).encode()
    parts["_rels/.rels"] = parts["_rels/.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rId9" Type="{PKG_RELS}/digital-signature/origin" '
        'Target="_xmlsignatures/origin.sigs"/></Relationships>'.encode(),
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Default Extension="sigs" ContentType="application/vnd.openxmlformats-package.'
        b'digital-signature-origin"/><Override PartName="/_xmlsignatures/sig1.xml" '
        b'ContentType="application/vnd.openxmlformats-package.digital-signature-xmlsignature'
        b'+xml"/></Types>',
    )
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            zf.writestr(name, content)


SIGNED = (
    "service_log.xlsx is digitally signed: the changes a run writes into it (invoice "
    "numbers, statuses) make the signature invalid, and Excel will show it as invalid. If "
    "the workbook must stay signed, sign it again in Excel after the run."
)


def test_a_signed_workbook_is_told_its_signature_breaks(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """A digitally signed workbook: the run rewrote signed parts and Excel showed the
    signature invalid, without a word. `check`, the dry run and the run now each say so
    once, as a notice: the exit codes and what the run does are unchanged."""
    write_workbook(
        folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work", 1, 100)]
    )
    sign(folder.workbook)
    said = []
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 0
    said.append(capsys.readouterr().out)
    assert folder.run("--dry-run", "--as-of", "2026-03-09") == 0
    said.append(capsys.readouterr().out)
    assert folder.run("--as-of", "2026-03-09") == 0
    said.append(capsys.readouterr().out)
    for out in said:
        assert " ".join(out.split()).count(SIGNED) == 1, out
    assert "no problems found" in said[0]
    assert len(folder.received) == 1  # the invoice went, as for any workbook
    with zipfile.ZipFile(folder.workbook) as zf:
        assert "_xmlsignatures/sig1.xml" in zf.namelist()  # kept: the bookkeeper signs again


def test_a_workbook_without_a_signature_is_not_told_of_one(
    folder: Folder, capsys: pytest.CaptureFixture[str]
) -> None:
    """An origin part with no signature left (signatures removed) is no signature."""
    write_workbook(
        folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work", 1, 100)]
    )
    sign(folder.workbook)
    with zipfile.ZipFile(folder.workbook) as zf:
        parts = {info.filename: zf.read(info) for info in zf.infolist()}
    parts["_xmlsignatures/_rels/origin.sigs.rels"] = f'<Relationships xmlns="{PKG_RELS}"/>'.encode()
    with zipfile.ZipFile(folder.workbook, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            zf.writestr(name, content)
    assert check_package(folder.workbook, ["Services"]).signed is False
    assert main(["check", "--workbook", str(folder.workbook), "--as-of", "2026-03-09"]) == 0
    assert "digitally signed" not in capsys.readouterr().out
