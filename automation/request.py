"""What a run is asked to do (`RunRequest`) and the folders it works in (`Paths`).

request = RunRequest(workbook=Path("service_log.xlsx"), as_of=date(2026, 11, 30))
paths = Paths.for_request(request)   # .billing/, invoices/, outbox/, reports/ beside it
request.covers("acme ltd")           # True unless `--only` names another client
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .bundled import TEMPLATES
from .config import Config
from .upgrade import own_file
from .validate import client_key

REPO_TEMPLATES = TEMPLATES  # the bundled templates, used when the folder has none


@dataclass(frozen=True)
class RunRequest:
    workbook: Path
    as_of: date
    config: Config = field(default_factory=Config)
    dry_run: bool = False
    outbox: Path | None = None
    only: str | None = None
    #: statement files to import besides those in the [bank] inbox (`payments FILE...`)
    statements: tuple[Path, ...] = ()
    #: `payments`: import and apply bank statements only; bill and remind nobody
    payments_only: bool = False
    #: the date was given (--as-of), not read from the computer's clock
    as_of_given: bool = False

    def covers(self, key: str) -> bool:
        """Whether the client (by key) is in this run: all are, unless `--only` names one."""
        return self.only is None or client_key(self.only) == key


@dataclass(frozen=True)
class Paths:
    workbook: Path
    billing: Path
    invoices: Path
    preview: Path
    outbox: Path
    reports: Path
    templates: Path
    #: the folder's own templates/ (from `init`; Templates/ too), whether or not it holds
    #: invoice.docx
    own_templates: Path | None = None

    @property
    def email_templates(self) -> Path | None:
        """The folder's own email templates (from `init`), else None for the bundled ones;
        used even where the folder keeps no Word templates of its own."""
        if self.own_templates is None:
            return None
        folder = own_file(self.own_templates, "email")
        return folder if folder is not None and folder.is_dir() else None

    @classmethod
    def for_request(cls, request: RunRequest) -> Paths:
        folder = request.workbook.resolve().parent
        out = Path(request.config.billing.output_dir or folder)
        out = out if out.is_absolute() else folder / out
        outbox = request.outbox or Path(request.config.email.outbox_dir)
        outbox = outbox if outbox.is_absolute() else folder / outbox
        local_templates = own_file(folder, "templates") or folder / "templates"  # any case
        templates = local_templates if _has_word_templates(local_templates) else REPO_TEMPLATES
        return cls(
            workbook=request.workbook.resolve(),
            billing=folder / ".billing",
            invoices=out / "invoices",
            preview=out / "preview",
            outbox=outbox,
            reports=out / "reports",
            templates=templates,
            own_templates=local_templates if local_templates.is_dir() else None,
        )


def _has_word_templates(folder: Path) -> bool:
    """The folder keeps a Word template of its own (an invoice, a credit note or a
    statement, in any language, `.docx` in any case); what it lacks comes from the bundled
    set."""
    try:
        return any(
            p.suffix.casefold() == ".docx" and not p.name.startswith("~$") for p in folder.iterdir()
        )
    except OSError:
        return False


def outbox_folder(request: RunRequest, paths: Paths) -> Path | None:
    """Where messages are written instead of emailed (outbox mode or --outbox), else None."""
    return paths.outbox if request.outbox or request.config.email.mode == "outbox" else None
