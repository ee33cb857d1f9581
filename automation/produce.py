"""Render each document and build its email in the same worker process.

Building a MIME message (the email texts, the base64 of the attachment, the
headers) costs about as much as rendering the document, so it is done where
the document was just rendered, spread over the cores, instead of one by one
in the run's own process afterwards. The run only records and sends:

    for made in make_messages(jobs, renderer, paths.invoices, config, templates, smtputf8):
        ledger.store_built(...)             # then send it while the rest render

Only for .docx attachments: PDFs are converted by one LibreOffice call for
the whole batch, after rendering, so their messages are built afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .compose import Job, compose
from .config import Config
from .mail import BuiltMessage, MailError, build_message

if TYPE_CHECKING:
    from .render import InvoiceRenderer

#: Jobs handed to a worker at a time: small, so the first messages are ready
#: (to send) soon after the run starts rendering, large enough to keep the
#: pipes quiet.
CHUNK = 8


#: What building a message imports on first use (fmt.py, mail.py), imported once
#: in the process the render workers are forked from rather than in each worker.
#: Not yagmail (0.09 s): messages with .docx and .pdf files are written by mime.py.
WORKER_IMPORTS = ("num2words", "idna.uts46data")


@dataclass(frozen=True)
class Made:
    """One job done: the files it attaches and its message, or why it has none.

    Attributes:
      job: the job as given.
      files: the rendered document (empty for a message without one).
      message: the built message; None when it could not be built.
      error: why it could not be built (a MailError's sentence), else "".
      made_at: when it was ready (time.time(), in whichever process made it), so
        the run can tell when rendering ended while it was busy sending.
    """

    job: Job
    files: tuple[Path, ...]
    message: BuiltMessage | None
    error: str = ""
    made_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class _Task:
    job: Job
    out_root: Path
    config: Config
    templates: Path | None
    smtputf8: bool


@dataclass(frozen=True)
class _Result:
    """What a worker sends back: a Made without its job, which the run already has
    (unpickling a job's Decimals and dates took longer than the message's bytes)."""

    message_id: str
    files: tuple[Path, ...]
    message: BuiltMessage | None
    error: str
    made_at: float


def make_message(renderer: InvoiceRenderer, task: _Task) -> Made:
    """Render the job's document (if any) and build its message."""
    job = task.job
    files = (renderer.render(job.document, task.out_root),) if job.document is not None else ()
    return make_message_here(job, files, task.config, task.templates, task.smtputf8)


def _make_result(renderer: InvoiceRenderer, task: _Task) -> _Result:
    made = make_message(renderer, task)
    return _Result(task.job.message.message_id, made.files, made.message, made.error, made.made_at)


def make_message_here(
    job: Job, files: tuple[Path, ...], config: Config, templates: Path | None, smtputf8: bool
) -> Made:
    """Build the job's message around files already made, for a server that offers
    SMTPUTF8 or not (`mail.build_message`)."""
    try:
        message = build_message(
            compose(job, files, config, templates), config.email, config.company, smtputf8
        )
    except MailError as exc:
        return Made(job, files, None, str(exc))
    return Made(job, files, message)


def make_messages(
    jobs: Sequence[Job],
    renderer: InvoiceRenderer,
    out_root: Path,
    config: Config,
    templates: Path | None,
    smtputf8: bool,
    workers: int | None = None,
) -> Iterator[Made]:
    """`make_message` for every job, over all cores when there are enough; in order."""
    tasks = [_Task(job, out_root, config, templates, smtputf8) for job in jobs]
    results = renderer.map(_make_result, tasks, workers, chunk=CHUNK, preload=WORKER_IMPORTS)
    for job, result in zip(jobs, results, strict=True):
        if result.message_id != job.message.message_id:  # never a message under another job
            raise RuntimeError(f"render workers answered out of order at {job.invoice.invoice_no}")
        yield Made(job, result.files, result.message, result.error, result.made_at)
