"""A folder's templates that are an earlier version's own, never edited, give way to the
bundled ones of today; an edited copy is the folder's own (automation/upgrade.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import Folder, client, service, write_workbook
from docx import Document

from automation import superseded_templates, upgrade
from automation.bundled import TEMPLATES

AS_OF = "2026-03-09"
REPO = Path(__file__).resolve().parent.parent


def own_templates(folder: Folder) -> Path:
    own = folder.root / "templates"
    shutil.copytree(TEMPLATES, own)
    return own


def as_if_shipped(monkeypatch: pytest.MonkeyPatch, **files: Path) -> None:
    """Make each file's bytes those of an earlier bundled version of the template named."""
    table = dict(superseded_templates.SUPERSEDED)
    for name, path in files.items():
        name = name.replace("__", "/").replace("_dot_", ".")
        table[name] = frozenset({upgrade.digest(name, path.read_bytes())})
    monkeypatch.setattr(superseded_templates, "SUPERSEDED", table)


def text_of(path: Path) -> str:
    return "\n".join(p.text for p in Document(str(path)).paragraphs)


def test_unedited_earlier_copies_give_way_to_todays_templates(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = own_templates(folder)
    text = own / "email" / "en" / "invoice.txt"
    text.write_bytes(b"Old words for {{ client_name }}.\r\nTotal {{ total }}\r\n")  # CRLF
    word = own / "invoice.docx"
    document = Document(str(word))
    document.add_paragraph("Old layout")
    document.save(str(word))
    old_text = text.read_bytes().replace(b"\r\n", b"\n")  # as the version shipped it
    shipped = folder.root / "shipped.txt"
    shipped.write_bytes(old_text)
    as_if_shipped(
        monkeypatch, email__en__invoice_dot_txt=shipped, invoice_dot_docx=word
    )
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0
    body = folder.received[0].message.get_body(("plain",)).get_content()
    assert "Old words" not in body and body.startswith("Dear Acme,")  # today's words
    (invoice,) = (folder.root / "invoices").rglob("INV-*.docx")
    assert "Old layout" not in text_of(invoice)


def test_an_edited_copy_is_the_folders_own(folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    own = own_templates(folder)
    text = own / "email" / "en" / "invoice.txt"
    shipped = folder.root / "shipped.txt"
    shipped.write_text("Old words for {{ client_name }}.\n")
    as_if_shipped(monkeypatch, email__en__invoice_dot_txt=shipped)
    text.write_text("Our own words for {{ client_name }}.\n")  # edited since
    write_workbook(folder.workbook, [client("Acme")], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0
    body = folder.received[0].message.get_body(("plain",)).get_content()
    assert body.startswith("Our own words for Acme.")


def test_todays_templates_are_not_among_the_superseded() -> None:
    for name, digests in superseded_templates.SUPERSEDED.items():
        path = TEMPLATES / name
        if path.is_file():
            assert upgrade.digest(name, path.read_bytes()) not in digests, name


def test_the_list_of_earlier_versions_is_up_to_date(tmp_path: Path) -> None:
    """scripts/superseded_templates.py run on this history writes the module as it is."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the repository's history")
    shallow = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--is-shallow-repository"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if shallow == "true":
        pytest.skip("a shallow clone lacks the earlier versions")
    module = REPO / "automation" / "superseded_templates.py"
    fresh = tmp_path / "superseded_templates.py"
    script = REPO / "scripts" / "superseded_templates.py"
    subprocess.run([sys.executable, str(script), str(fresh)], check=True, capture_output=True)
    assert fresh.read_bytes() == module.read_bytes(), (
        "a bundled template changed: run python scripts/superseded_templates.py and commit"
    )


def test_an_unedited_copy_text_from_before_past_due_gives_way(folder: Folder) -> None:
    """A folder made while a copy's email asked to pay "by" a due date already past (its
    resend text unedited since) sends today's words, which say when it was due."""
    before = "e6eb7dd692b0e51d043549286edc534d99d9b8ab"  # the last with "by <due date>"
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the repository's history")
    old = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{before}:templates/email/en/resend.txt"],
        capture_output=True,
    )  # fmt: skip
    if old.returncode != 0:
        pytest.skip("a shallow clone lacks the earlier versions")
    own = own_templates(folder)
    (own / "email" / "en" / "resend.txt").write_bytes(old.stdout)
    acme = client("Acme", Terms="Net 14")
    write_workbook(folder.workbook, [acme], [service(date(2026, 3, 2), "Acme", "Work")])
    assert folder.run("--as-of", AS_OF) == 0  # due 23 March
    folder.type_in("Invoices", folder.row_of("Invoices", "Client", "Acme"), Resend="Yes")
    assert folder.run("--as-of", "2026-03-30") == 0
    body = folder.received[-1].message.get_body(("plain",)).get_content()
    assert "which was due on March 23, 2026." in body and "by March 23" not in body
