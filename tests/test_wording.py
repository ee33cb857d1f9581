"""Sentences as each language writes them: the English discount offer, Kazakh "until"."""

from __future__ import annotations

from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

from conftest import client, service, write_workbook

from automation.cli import main


def emails(folder: Path) -> dict[str, str]:
    """Client address -> the plain-text body of the invoice email written to the outbox."""
    found = {}
    for eml in sorted((folder / "out").glob("*.eml")):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        found[str(message["To"])] = body.get_content() if body else ""
    return found


def test_discount_sentence_ends_with_a_full_stop_and_kazakh_until_takes_the_dative(
    tmp_path: Path,
) -> None:
    (tmp_path / "billing.toml").write_text('[email]\nfrom = "billing@firm.example"\n')
    book = write_workbook(
        tmp_path / "log.xlsx",
        [
            client("Early Bird", Terms="2/10 Net 30"),
            client("Алма", Language="kk", Email="alma@clients.example"),
        ],
        [
            service(date(2026, 11, 2), "Early Bird", "Work"),
            service(date(2026, 11, 2), "Алма", "Жұмыс"),
        ],
    )
    assert (
        main(["--workbook", str(book), "--as-of", "2026-11-09", "--outbox", str(tmp_path / "out")])
        == 0
    )
    bodies = emails(tmp_path)
    english = bodies["earlybird@clients.example"]
    offer = next(line for line in english.splitlines() if "discount" in line)
    assert offer.endswith(".") and not offer.endswith("..")
    kazakh = bodies["alma@clients.example"]
    assert "9 желтоқсанға дейін" in kazakh  # Net 30 from 9 November: 9 December
    assert "желтоқсан дейін" not in kazakh
