"""Templates a folder keeps that are an earlier version's own, never edited.

`run-billing init` copies the bundled templates into the bookkeeper's folder,
and the run uses the folder's copies, so that the bookkeeper can word them as
the firm likes. A copy nobody edited is the tool's own text as it was when the
folder was made, mistakes included (an overpayment email of an earlier version
told the amount due without its credit notes). The run uses the bundled
template instead of a copy whose bytes are exactly those of an earlier bundled
version (`superseded_templates`, made from the repository's history by
scripts/superseded_templates.py); a copy edited in any way is the folder's own.

    current(folder / "invoice.docx", "invoice.docx")  # the folder's, or the bundled one

A folder copied from Windows keeps the case Windows gave its names (`Templates/`,
`Invoice.DOCX`), which a Linux machine running the weekly job tells apart from
`templates/invoice.docx`: the folder's templates are found whatever their case
(`own_file`).

    own_file(folder, "email/en/invoice.txt")  # folder/Email/EN/Invoice.TXT, say, or None
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from .bundled import TEMPLATES

#: Text templates, whose line ends a checkout or an editor may have turned into \r\n.
_TEXT = (".txt", ".html", ".subject")


def digest(name: str, data: bytes) -> str:
    """The SHA-256 of a template's bytes (`name`: its path under templates/); a text
    template's line ends read as \\n."""
    if name.endswith(_TEXT):
        data = data.replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def superseded(path: Path, name: str) -> bool:
    """Whether the file `path` is an unedited copy of an earlier version of the bundled
    template `name` ("invoice.docx", "email/en/overpaid.txt")."""
    from .superseded_templates import SUPERSEDED

    known = SUPERSEDED.get(name)
    if not known:
        return False
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return digest(name, data) in known


def current(path: Path, name: str) -> Path:
    """`path`, or the bundled template `name` when `path` is an earlier version's copy."""
    bundled = TEMPLATES / name
    if path != bundled and bundled.is_file() and superseded(path, name):
        return bundled
    return path


def own_file(folder: Path, name: str) -> Path | None:
    """The file or folder `name` under `folder` ("templates", "invoice.ru.docx",
    "email/en/invoice.txt"), whatever the case of its name and of the folders on its way;
    where two differ only by case, the one named exactly as asked. None when there is none."""
    path = folder
    for part in PurePosixPath(name).parts:
        exact = path / part
        if exact.exists():
            path = exact
            continue
        try:
            same = sorted(p for p in path.iterdir() if p.name.casefold() == part.casefold())
        except OSError:  # not a folder, or not there
            return None
        if not same:
            return None
        path = same[0]
    return path
