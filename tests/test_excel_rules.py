"""The Excel rules checker itself: a clean workbook passes, each broken rule is found.

(Every other test's workbooks go through the checker in conftest's autouse
fixture; this file shows that the checker can fail.)
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter
from excel_rules import excel_problems

SHEET = "xl/worksheets/sheet1.xml"


def clean(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Invoices")
    money = wb.add_format({"num_format": "#,##0.00"})
    columns = [
        {"header": "No", "total_string": "Total"},
        {"header": "Total", "format": money, "total_function": "sum"},
        {"header": "Paid"},
    ]
    ws.add_table(
        "A1:C4",
        {"name": "tblA", "total_row": True, "columns": columns, "data": [["x", 1, 2], ["y", 3, 4]]},
    )
    ws.add_table("E1:F2", {"name": "tblB", "columns": [{"header": "K"}, {"header": "V"}]})
    ws.autofilter("H1:I3")
    ws.write_row(0, 7, ["F1", "F2"])
    wb.close()
    return path


def mutate(path: Path, part: str, change: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members:
            if name == part:
                data = change(data)
                if not data:
                    continue
            out.writestr(name, data)


def test_a_clean_workbook_passes(tmp_path: Path) -> None:
    assert excel_problems(clean(tmp_path / "ok.xlsx")) == []


def swap_rows(xml: bytes) -> bytes:
    return xml.replace(b'<row r="2"', b'<row r="9"', 1)


BREAKS: list[tuple[str, Callable[[bytes], bytes], str]] = [
    (
        "xl/tables/table1.xml",
        lambda x: x.replace(b'name="Paid"', b'name="Paid Amount"'),
        "header cell 3 says 'Paid', the column is named 'Paid Amount'",
    ),
    (
        "xl/tables/table2.xml",
        lambda x: x.replace(b'ref="E1:F2"', b'ref="C1:D2"').replace(
            b'<autoFilter ref="E1:F2"/>', b'<autoFilter ref="C1:D2"/>'
        ),
        "overlaps the table",
    ),
    (
        "xl/tables/table1.xml",
        lambda x: x.replace(b'<autoFilter ref="A1:C3"/>', b'<autoFilter ref="A1:C4"/>'),
        "autofilter A1:C4 does not match A1:C4",
    ),
    (
        "xl/tables/table1.xml",
        lambda x: x.replace(b'tableColumns count="3"', b'tableColumns count="4"'),
        "tableColumns count 4 but 3 columns",
    ),
    (
        "xl/sharedStrings.xml",
        lambda x: re.sub(rb'count="\d+"', b'count="99"', x, count=1),
        "sharedStrings: count 99",
    ),
    (
        "xl/sharedStrings.xml",
        lambda x: re.sub(rb'uniqueCount="\d+"', b'uniqueCount="2"', x),
        "uniqueCount 2",
    ),
    (
        SHEET,
        lambda x: x.replace(b'<c r="B2" s="1">', b'<c r="B2" s="42">'),
        "uses missing style 42",
    ),
    (SHEET, swap_rows, "row 3 comes after row 9"),
    (SHEET, lambda x: x.replace(b'<c r="A2" t="s">', b'<c r="D2" t="s">'), "out of order"),
    (
        SHEET,
        lambda x: x.replace(b'<c r="A3" t="s"><v>', b'<c r="A3" t="s"><v>7'),
        "refers to missing shared string",
    ),
    (
        "[Content_Types].xml",
        lambda x: re.sub(rb'<Override PartName="/xl/tables/table2.xml"[^>]*/>', b"", x),
        "xl/tables/table2.xml has no content type of its own",
    ),
    (
        "xl/worksheets/_rels/sheet1.xml.rels",
        lambda x: x.replace(b"table2.xml", b"table9.xml"),
        "points at xl/tables/table9.xml, which is not in the file",
    ),
    (
        "xl/styles.xml",
        lambda x: x.replace(b'<cellXfs count="2">', b'<cellXfs count="3">'),
        "cellXfs count is 3 but it holds 2",
    ),
    (
        "xl/workbook.xml",
        lambda x: x.replace(b"$H$1:$I$3", b"$H$1:$J$3"),
        "filter name says H1:J3, the autofilter H1:I3",
    ),
]


@pytest.mark.broken_workbooks
@pytest.mark.parametrize(("part", "change", "found"), BREAKS, ids=[b[2][:30] for b in BREAKS])
def test_each_broken_rule_is_found(
    tmp_path: Path, part: str, change: Callable[[bytes], bytes], found: str
) -> None:
    path = clean(tmp_path / "broken.xlsx")
    mutate(path, part, change)
    problems = excel_problems(path)
    assert any(found in p for p in problems), problems
