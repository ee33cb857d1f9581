"""Time invoice rendering: docxtpl as documented vs InvoiceRenderer vs render_many.

    python benchmarks/render.py [N] [LINES]      # default 200 invoices of 8 lines

Prints milliseconds per invoice for each way. Not run in CI.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docxtpl import DocxTemplate  # noqa: E402 - after the path set-up

from automation.model import InvoiceDocument  # noqa: E402
from automation.render import (  # noqa: E402
    InvoiceRenderer,
    build_context,
    invoice_path,
    sample_document,
)

TEMPLATES = ROOT / "templates"


def make_documents(count: int, lines: int) -> list[InvoiceDocument]:
    languages = [("en", "USD"), ("ru", "RUB"), ("kk", "KZT")]
    return [
        replace(
            sample_document(*languages[i % 3], lines=lines, reissue_number=i % 4 // 3),
            invoice_no=f"INV-2026-{i:04d}",
        )
        for i in range(count)
    ]


def render_naive(docs: Sequence[InvoiceDocument], out_root: Path) -> None:
    renderer = InvoiceRenderer(TEMPLATES)  # only to pick the template file
    for doc in docs:
        template = DocxTemplate(str(renderer.template_path(doc.language)))
        template.render(build_context(doc), autoescape=True)
        path = invoice_path(out_root, doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        template.save(str(path))


def render_single(docs: Sequence[InvoiceDocument], out_root: Path) -> None:
    renderer = InvoiceRenderer(TEMPLATES)
    for doc in docs:
        renderer.render(doc, out_root)


def render_parallel(docs: Sequence[InvoiceDocument], out_root: Path) -> None:
    InvoiceRenderer(TEMPLATES).render_many(docs, out_root)


def measure(name: str, run: Callable[[Sequence[InvoiceDocument], Path], None],
            docs: Sequence[InvoiceDocument]) -> float:
    with tempfile.TemporaryDirectory() as out:
        start, cpu = time.perf_counter(), time.process_time()
        run(docs, Path(out))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    per_invoice = elapsed * 1000 / len(docs)
    # CPU of this process only (render_many's workers are not in it): on a shared
    # machine it moves less with the load than the wall time does.
    print(f"{name:<34} {per_invoice:7.2f} ms/invoice  ({elapsed:.2f} s total, "
          f"CPU here {cpu * 1000 / len(docs):.2f} ms/invoice)")
    return per_invoice


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=200, help="invoices (200)")
    parser.add_argument("lines", nargs="?", type=int, default=8, help="lines each (8)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    count, lines = args.count, args.lines
    docs = make_documents(count, lines)
    print(f"{count} invoices, {lines} lines each")
    naive = measure("docxtpl (load, render, save)", render_naive, docs)
    single = measure("InvoiceRenderer.render", render_single, docs)
    parallel = measure("InvoiceRenderer.render_many", render_parallel, docs)
    print(f"speed-up: {naive / single:.1f}x single process, {naive / parallel:.1f}x render_many")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
