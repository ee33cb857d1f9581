"""Shared formulas that lose their defining cell when the tool overwrites it."""

from __future__ import annotations

from automation.writeback.sheet import SheetEdit, get_row, row_numbers_between
from automation.writeback.xmlscan import col_letters, split_range, split_ref


def translate(formula: str, origin: str, dest: str) -> str:
    from openpyxl.formula.translate import Translator  # only needed in this rare case

    translated: str = Translator("=" + formula, origin=origin).translate_formula(dest)
    return translated[1:]


def repair_shared(edit: SheetEdit) -> None:
    """Keep a shared formula working when the cell that defined it was overwritten.

    Other cells of the group only say "same as the master"; without a master
    Excel calls the file corrupt. In a single row or column the next cell of
    the group becomes the master; in a block every cell gets its own formula.
    """
    ns = edit.root.ns
    for si, ref, text, origin in edit.orphans:
        r1, c1, r2, c2 = split_range(ref)
        vector = r1 == r2 or c1 == c2
        for number in row_numbers_between(edit, r1, r2):
            row = get_row(edit, number, create=False)
            for c in list(row) if row is not None else []:
                f = c.find(f"{{{ns}}}f")
                if f is None or f.get("t") != "shared" or f.get("si") != si:
                    continue
                here = c.get("r")
                if not c1 <= split_ref(here)[1] <= c2:
                    continue
                f.text = translate(text, origin, here)
                edit.dirty.add(number)
                if vector:
                    f.set("ref", f"{here}:{col_letters(c2)}{r2}")
                    break
                for attr in ("t", "si", "ref"):
                    f.attrib.pop(attr, None)
            else:
                continue
            break
