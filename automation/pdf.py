"""Convert rendered invoices to PDF with LibreOffice, many files per call.

Starting LibreOffice costs seconds, so all documents go to one headless
`soffice` run. It gets a private profile in a temporary folder, so it neither
clashes with a LibreOffice the bookkeeper has open nor leaves state behind:

>>> convert_to_pdf([Path("invoices/2026/INV-2026-0007.docx")], Path("pdf"))  # doctest: +SKIP
[PosixPath('pdf/INV-2026-0007.pdf')]
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

MISSING_MESSAGE = (
    "PDF attachments need LibreOffice: install libreoffice-writer-nogui "
    "(Debian/Ubuntu: sudo apt-get install libreoffice-writer-nogui; Windows and macOS: "
    'https://www.libreoffice.org), or set attach = "docx" in the [email] section of billing.toml.'
)
#: Where installers put soffice when it is not on PATH.
KNOWN_LOCATIONS = (
    r"C:\Program Files\LibreOffice\program\soffice.exe",
    r"C:\Program Files (x86)\LibreOffice\program\soffice.exe",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    "/opt/libreoffice/program/soffice",
)


class PdfError(Exception):
    """A document could not be converted to PDF (or LibreOffice is missing)."""


def soffice_path() -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in KNOWN_LOCATIONS if Path(path).is_file()), None)


def convert_to_pdf(docx_paths: Sequence[Path], out_dir: Path, timeout: float = 180) -> list[Path]:
    """Convert documents to `out_dir/<stem>.pdf`; the PDF paths, in input order."""
    if not docx_paths:
        return []
    soffice = soffice_path()
    if soffice is None:
        raise PdfError(MISSING_MESSAGE)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[Path] = []
    for batch in _batches_with_unique_stems(docx_paths):
        results.extend(_convert_batch(soffice, batch, out_dir, timeout))
    return results


def _batches_with_unique_stems(paths: Sequence[Path]) -> list[list[Path]]:
    """Split so that no two inputs of one call would write the same PDF name."""
    batches: list[list[Path]] = []
    for path in paths:
        for batch in batches:
            if all(other.stem != path.stem for other in batch):
                batch.append(path)
                break
        else:
            batches.append([path])
    return batches


def _convert_batch(soffice: str, paths: list[Path], out_dir: Path, timeout: float) -> list[Path]:
    targets = [out_dir / f"{path.stem}.pdf" for path in paths]
    for target in targets:
        target.unlink(missing_ok=True)  # a stale PDF must not pass for a new one
    with tempfile.TemporaryDirectory(prefix="billing-soffice-") as profile:
        command = [
            soffice,
            f"-env:UserInstallation={Path(profile).resolve().as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--nodefault",
            "--convert-to",
            "pdf:writer_pdf_Export",
            "--outdir",
            str(out_dir),
            *(str(path) for path in paths),
        ]
        output = _run(command, timeout)
    missing = [
        str(path)
        for path, target in zip(paths, targets, strict=True)
        if not target.is_file() or target.stat().st_size == 0
    ]
    if missing:
        hint = ""
        if "source file could not be loaded" in output:  # Calc alone cannot open a .docx
            hint = (
                " LibreOffice could not open the Word file: is Writer installed? (Debian/Ubuntu:"
                " sudo apt-get install libreoffice-writer-nogui), or set attach = \"docx\"."
            )
        raise PdfError(
            f"LibreOffice did not convert {', '.join(missing)} to PDF: "
            f"{output.strip()[-500:]}{hint}"
        )
    return targets


def _run(command: list[str], timeout: float) -> str:
    """Run soffice; on timeout kill it and everything it started (oosplash, soffice.bin)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=os.name == "posix",
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.communicate()
        raise PdfError(f"LibreOffice took longer than {timeout:g} s to convert to PDF") from None
    if process.returncode != 0:
        raise PdfError(f"LibreOffice failed (exit code {process.returncode}): {output.strip()}")
    return output
