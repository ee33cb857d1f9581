"""`init DIR`: the starter workbook, config and templates."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from automation.config import Config, ConfigError, load_config
from automation.model import CompanyInfo
from automation.schema import CLIENTS, INVOICES, SERVICES, SHEETS
from automation.starter import (
    COMMON_TERMS,
    EXAMPLE_CLIENT,
    EXAMPLE_CONFIG,
    StarterError,
    init_folder,
)

TODAY = date(2026, 3, 2)


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    src = tmp_path / "bundled"
    (src / "email").mkdir(parents=True)
    (src / "invoice.docx").write_bytes(b"docx-en")
    (src / "invoice_ru.docx").write_bytes(b"docx-ru")
    (src / "notes.txt").write_text("not a template")
    (src / "email" / "invoice_en.txt").write_text("Dear {{ client }}")
    return src


@pytest.fixture
def folder(tmp_path: Path, template_dir: Path) -> Path:
    target = tmp_path / "new" / "billing"
    init_folder(target, template_dir, today=TODAY)
    return target


def test_created_paths(tmp_path: Path, template_dir: Path) -> None:
    target = tmp_path / "books"
    created = init_folder(target, template_dir, today=TODAY)
    assert sorted(str(p.relative_to(target)) for p in created) == [
        "billing.toml",
        "service_log.xlsx",
        "templates/email/invoice_en.txt",
        "templates/invoice.docx",
        "templates/invoice_ru.docx",
    ]
    assert all(p.is_file() for p in created)
    assert (target / "templates" / "invoice_ru.docx").read_bytes() == b"docx-ru"
    assert sorted(p.name for p in target.iterdir()) == [
        "billing.toml",
        "service_log.xlsx",
        "templates",
    ]  # no temporary file left behind


def test_missing_template_dir_is_fine(tmp_path: Path) -> None:
    created = init_folder(tmp_path / "x", tmp_path / "nowhere", today=TODAY)
    assert sorted(p.name for p in created) == ["billing.toml", "service_log.xlsx"]


def test_workbook_with_openpyxl(folder: Path) -> None:
    wb = openpyxl.load_workbook(folder / "service_log.xlsx")
    assert wb.sheetnames == [CLIENTS, SERVICES, INVOICES]
    for name in wb.sheetnames:  # Payments is made by the first statement import
        ws, columns = wb[name], SHEETS[name]
        headers = [c.value for c in ws[1]]
        assert headers == [c.name for c in columns]
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.bold
        assert ws.column_dimensions["A"].width > 8

    clients, services = wb[CLIENTS], wb[SERVICES]
    rules = {str(dv.sqref): dv for dv in clients.data_validations.dataValidation}
    terms = rules["E2:E500"]
    assert terms.type == "list"
    assert terms.errorStyle == "information"
    assert all(t in terms.formula1 for t in COMMON_TERMS)
    client_rule = services.data_validations.dataValidation[0]
    assert str(client_rule.sqref) == "B2:B500"
    assert client_rule.formula1 == "Clients!$A$2:$A$500"

    assert services["A2"].number_format == "yyyy-mm-dd"
    assert services["F2"].value == "=D2*E2"
    assert services["F2"].number_format == "#,##0.00"
    assert services["E2"].number_format == "#,##0.00"
    assert wb[INVOICES].column_dimensions["E"].width >= 12  # Invoice Date


def test_workbook_with_pandas_calamine(folder: Path) -> None:
    sheets = pd.read_excel(folder / "service_log.xlsx", sheet_name=None, engine="calamine")
    assert list(sheets) == [CLIENTS, SERVICES, INVOICES]
    assert list(sheets[INVOICES].columns) == [c.name for c in SHEETS[INVOICES]]
    assert sheets[INVOICES].empty
    client = sheets[CLIENTS].iloc[0]
    assert client["Client"] == EXAMPLE_CLIENT
    assert client["Email"] == "client@example.com"
    assert client["Terms"] == "Net 30"
    service = sheets[SERVICES].iloc[0]
    assert pd.Timestamp(service["Date"]).date() == TODAY
    assert service["Client"] == EXAMPLE_CLIENT
    assert "example" in service["Description"].lower()
    assert service["Amount"] == service["Quantity"] * service["Unit Price"] == 100
    assert len(sheets[CLIENTS]) == len(sheets[SERVICES]) == 1


def test_config_loads_with_defaults(folder: Path) -> None:
    cfg = load_config(folder / "billing.toml")
    defaults = Config()
    assert cfg.billing == defaults.billing
    assert cfg.reissue == defaults.reissue
    assert cfg.email == defaults.email
    assert cfg.columns == defaults.columns
    assert cfg.bank == defaults.bank
    assert cfg.company.email == "billing@example.com"


def test_config_saved_by_notepad_loads(folder: Path) -> None:
    """Notepad's "UTF-8 with BOM" and Windows line ends read as the same settings (the mark
    was refused as "Invalid statement" on line 1); UTF-16 is told to be saved as UTF-8."""
    path = folder / "billing.toml"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert dataclasses.replace(load_config(path), path=None) == load_config_text(folder, text)
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(ConfigError, match="is not UTF-8 text; save it as UTF-8"):
        load_config(path)


def load_config_text(folder: Path, text: str) -> Config:
    """The settings of `text`, saved plainly beside `folder`'s billing.toml (same folder:
    paths in it resolve alike)."""
    plain = folder / "plain.toml"
    plain.write_text(text, encoding="utf-8")
    return dataclasses.replace(load_config(plain), path=None)


def test_example_config_shows_every_option() -> None:
    data = tomllib.loads(EXAMPLE_CONFIG)
    assert set(data["company"]) == {f.name for f in dataclasses.fields(CompanyInfo)}
    for section, cls in (("billing", Config().billing), ("reissue", Config().reissue)):
        assert set(data[section]) == {f.name for f in dataclasses.fields(cls)}
    email_options = {f.name for f in dataclasses.fields(Config().email)} - {"sender"} | {"from"}
    assert set(data["email"]) == email_options
    assert "[columns.Services]" in EXAMPLE_CONFIG
    bank_options = {f.name for f in dataclasses.fields(Config().bank)} - {"csv"}
    assert set(data["bank"]) == bank_options
    lines = EXAMPLE_CONFIG.splitlines()
    csv_example = [ln[2:] for ln in lines if ln.startswith("# ") and " = " in ln]
    assert "[bank.csv]" in EXAMPLE_CONFIG and 'date_format = "%d.%m.%Y"' in csv_example


@pytest.mark.parametrize("existing", ["service_log.xlsx", "billing.toml"])
def test_refuses_to_overwrite(tmp_path: Path, template_dir: Path, existing: str) -> None:
    target = tmp_path / "books"
    target.mkdir()
    (target / existing).write_text("the bookkeeper's own")
    with pytest.raises(StarterError, match=existing):
        init_folder(target, template_dir, today=TODAY)
    assert [p.name for p in target.iterdir()] == [existing]
    assert (target / existing).read_text() == "the bookkeeper's own"


def test_refuses_existing_template(tmp_path: Path, template_dir: Path) -> None:
    target = tmp_path / "books"
    (target / "templates").mkdir(parents=True)
    (target / "templates" / "invoice.docx").write_bytes(b"customised")
    with pytest.raises(StarterError, match="invoice.docx"):
        init_folder(target, template_dir, today=TODAY)
    assert (target / "templates" / "invoice.docx").read_bytes() == b"customised"
    assert not (target / "service_log.xlsx").exists()


def test_refuses_a_file_as_target(tmp_path: Path, template_dir: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(StarterError, match="not a folder"):
        init_folder(target, template_dir, today=TODAY)


def test_existing_empty_folder_is_used(tmp_path: Path, template_dir: Path) -> None:
    created = init_folder(tmp_path, template_dir, today=TODAY)
    assert (tmp_path / "service_log.xlsx") in created
