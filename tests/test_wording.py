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


def test_no_sentence_ends_twice_after_a_russian_date() -> None:
    """Russian dates end in "г." ("5 декабря 2026 г."): no template puts another full stop
    after a date or a period of dates (it read "г.. Пожалуйста")."""
    import pytest

    from automation.fmt import format_date
    from automation.mail import CONTEXT_KEYS, TEMPLATE_KINDS, render_email

    day = format_date(date(2026, 12, 5), "ru")
    assert day.endswith("г.")
    dates = {"invoice_date", "due_date", "due_date_until", "original_date", "reissue_date",
             "credit_note_date", "statement_date"}  # fmt: skip
    context = {key: day if key in dates else "X1" for key in CONTEXT_KEYS}
    context["period"] = f"{format_date(date(2026, 11, 1), 'ru')} – {day}"
    for flag in ("cancels_invoice", "balance_open", "owed_back", "past_due", "invoice_attached"):
        context[flag] = "yes"
    found = []
    for kind in TEMPLATE_KINDS:
        subject, text, html = render_email(kind, "ru", context)
        found += [f"{kind}: {line}" for line in (subject, *text.splitlines(), html)
                  if "г.." in line]  # fmt: skip
    if found:
        pytest.fail("\n".join(found))
