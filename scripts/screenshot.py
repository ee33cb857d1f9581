"""Render a sample invoice and save a picture of its first page as docs/invoice.png.

Used for the README and to check the layout by eye after a template change:

    python scripts/build_templates.py && python scripts/screenshot.py [en|ru|kk] [--reissue]

Needs LibreOffice (`soffice`) and poppler's `pdftoppm`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automation.pdf import convert_to_pdf  # noqa: E402 - after the path set-up
from automation.render import InvoiceRenderer, sample_document  # noqa: E402

CURRENCIES = {"en": "USD", "ru": "RUB", "kk": "KZT"}


def take_screenshot(language: str, reissue: bool, target: Path) -> Path:
    """Render, convert to PDF, then rasterise page one at 80 dpi into `target`."""
    doc = sample_document(language, CURRENCIES[language], lines=6, reissue_number=int(reissue))
    with tempfile.TemporaryDirectory() as work:
        docx = InvoiceRenderer(ROOT / "templates").render(doc, Path(work))
        pdf = convert_to_pdf([docx], Path(work))[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        stem = target.with_suffix("")
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", "-singlefile", str(pdf), str(stem)], check=True
        )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    language = next((a for a in args if a in CURRENCIES), "en")
    print(take_screenshot(language, "--reissue" in args, ROOT / "docs" / "invoice.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
