"""The files that travel with the package: templates and the sample workbook.

An installed wheel carries them inside the package, as `automation/bundled/templates`
and `automation/bundled/workbooks` (pyproject maps the repository's top-level
`templates/` and `workbooks/` folders there); a source checkout run with
`python run_billing.py` finds the same folders at the top of the repository.

>>> (TEMPLATES / "invoice.docx").is_file() and SAMPLE_WORKBOOK.is_file()
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_folder(name: str) -> Path:
    """The folder `name` (`templates`, `workbooks`) as a real path on disk."""
    packaged = resources.files(__package__ or "automation") / "bundled" / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    # A source checkout: the folders sit beside the package, where the repository keeps them.
    return Path(__file__).resolve().parent.parent / name


TEMPLATES = bundled_folder("templates")
SAMPLE_WORKBOOK = bundled_folder("workbooks") / "service_log.xlsx"
SAMPLE_CONFIG = bundled_folder("workbooks") / "billing.toml"
