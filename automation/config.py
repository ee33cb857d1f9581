"""Configuration: `billing.toml`, read once into frozen records.

Looked up as `--config PATH`, else `billing.toml` beside the workbook, else in
the current directory. Every option has a default, so an empty file works:

>>> cfg = parse_config({"billing": {"default_terms": "Net 15"}})
>>> cfg.billing.default_terms, cfg.reissue.every_days, cfg.email.mode
('Net 15', 7, 'outbox')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from babel.numbers import list_currencies

from .model import CompanyInfo
from .terms import TermsError, parse_terms

DEFAULT_NUMBER_FORMAT = "INV-{year}-{seq:04d}"
SECURITY_MODES = ("ssl", "starttls", "none")
ATTACH_MODES = ("docx", "pdf", "both")
LANGUAGES = ("en", "ru", "kk")


#: Upper bounds of whole-number options (day counts default to ten years).
MAX_DAYS = 3650
LIMITS = {"port": 65535, "max_count": 100, "max_retries": 10}


class ConfigError(Exception):
    """The configuration cannot be used (exit code 2)."""


@dataclass(frozen=True)
class BillingConfig:
    workbook: str = "service_log.xlsx"
    output_dir: str = ""
    number_format: str = DEFAULT_NUMBER_FORMAT
    bill_after_days: int = 0
    default_terms: str = "Net 30"
    currency: str = "USD"
    language: str = "en"
    receipt_lag_days: int = 0
    business_days: bool = False
    holidays_country: str = ""
    holidays_subdivision: str = ""
    #: Excel row of each sheet's header, when automatic detection is not wanted.
    header_rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReissueConfig:
    every_days: int = 7
    due_in_days: int = 14
    max_count: int = 3


@dataclass(frozen=True)
class EmailConfig:
    mode: str = "outbox"
    host: str = "localhost"
    port: int = 0  # 0: the usual port for `security` (465, 587 or 25)
    security: str = "starttls"
    username: str = ""
    password_env: str = "BILLING_SMTP_PASSWORD"
    use_keyring: bool = False
    sender: str = ""  # `from` in the TOML file
    from_name: str = ""  # defaults to the company name
    reply_to: str = ""
    bcc: str = ""
    redirect_to: str = ""
    outbox_dir: str = "outbox"
    allow_insecure: bool = False
    ca_file: str = ""
    attach: str = "docx"
    report_to: str = ""
    timeout: float = 30.0
    #: seconds a temporary refusal (4xx) is retried within the run, in all
    retry_window: float = 300.0
    #: retries within that window, the waits doubling, the last at its end
    max_retries: int = 6

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.security, 25)


@dataclass(frozen=True)
class Config:
    company: CompanyInfo = field(default_factory=CompanyInfo)
    billing: BillingConfig = field(default_factory=BillingConfig)
    reissue: ReissueConfig = field(default_factory=ReissueConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    #: sheet -> {default header: the bookkeeper's header}
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None


def _build(cls: type, section: str, data: Any, renames: dict[str, str] | None = None) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"[{section}] must be a table of options.")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = (renames or {}).get(key, key)
        if name not in known:
            raise ConfigError(
                f"[{section}] has an unknown option {key!r}; "
                f"known options: {', '.join(sorted(k for k in known if k != 'path'))}."
            )
        default = getattr(cls(), name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"[{section}] {key} must be true or false, not {value!r}.")
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"[{section}] {key} must be a whole number, not {value!r}.")
            highest = LIMITS.get(name, MAX_DAYS)
            if not 0 <= value <= highest:
                raise ConfigError(f"[{section}] {key} must be between 0 and {highest}.")
        if isinstance(default, float) and not isinstance(value, int | float):
            raise ConfigError(f"[{section}] {key} must be a number, not {value!r}.")
        if isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"[{section}] {key} must be text in quotes, not {value!r}.")
        kwargs[name] = value
    return cls(**kwargs)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a Config from parsed TOML, checking every value."""
    known_sections = {"company", "billing", "reissue", "email", "columns"}
    unknown = sorted(set(data) - known_sections)
    if unknown:
        raise ConfigError(
            f"unknown section [{unknown[0]}]; sections are "
            + ", ".join(f"[{s}]" for s in sorted(known_sections))
            + "."
        )
    company = _build(CompanyInfo, "company", data.get("company"))
    billing = _build(BillingConfig, "billing", data.get("billing"))
    reissue = _build(ReissueConfig, "reissue", data.get("reissue"))
    email = _build(EmailConfig, "email", data.get("email"), {"from": "sender"})
    columns_raw = data.get("columns", {})
    columns: dict[str, dict[str, str]] = {}
    if not isinstance(columns_raw, dict):
        raise ConfigError("[columns] must hold tables such as [columns.Services].")
    for sheet, renames in columns_raw.items():
        if not isinstance(renames, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in renames.items()
        ):
            raise ConfigError(
                f'[columns.{sheet}] must map default headers to yours, e.g. Client = "Customer".'
            )
        columns[sheet] = dict(renames)
    if email.mode not in ("smtp", "outbox"):
        raise ConfigError(f'[email] mode must be "smtp" or "outbox", not {email.mode!r}.')
    if email.security not in SECURITY_MODES:
        raise ConfigError(
            f"[email] security must be one of {', '.join(SECURITY_MODES)}, not {email.security!r}."
        )
    if email.attach not in ATTACH_MODES:
        raise ConfigError(
            f"[email] attach must be one of {', '.join(ATTACH_MODES)}, not {email.attach!r}."
        )
    if billing.language not in LANGUAGES:
        raise ConfigError(
            f"[billing] language must be one of {', '.join(LANGUAGES)}, not {billing.language!r}."
        )
    try:
        billing.number_format.format(year=2026, seq=1, month=1)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"[billing] number_format {billing.number_format!r} is not usable ({exc}); "
            'it may use {year}, {month} and {seq}, e.g. "INV-{year}-{seq:04d}".'
        ) from None
    if "{seq" not in billing.number_format:
        raise ConfigError("[billing] number_format must contain {seq} so numbers are unique.")
    _check_header_rows(billing.header_rows)
    if email.timeout <= 0:
        raise ConfigError("[email] timeout must be a positive number of seconds.")
    if not 0 <= email.retry_window <= 86400:
        raise ConfigError("[email] retry_window must be between 0 and 86400 seconds.")
    try:
        parse_terms(billing.default_terms)
    except TermsError as exc:
        raise ConfigError(f"[billing] default_terms: {exc}") from None
    if billing.currency.upper() not in list_currencies():
        raise ConfigError(
            f"[billing] currency {billing.currency!r} is not an ISO currency code "
            '(use e.g. "USD", "EUR", "KZT").'
        )
    if billing.holidays_country:
        import holidays

        try:
            holidays.country_holidays(billing.holidays_country)
        except NotImplementedError:
            raise ConfigError(
                f"[billing] holidays_country {billing.holidays_country!r} is not a country "
                'code the holidays package knows (use ISO codes such as "US", "GB", "KZ").'
            ) from None
    return Config(company, billing, reissue, email, columns, path)


def _check_header_rows(header_rows: object) -> None:
    if not isinstance(header_rows, dict) or not all(
        isinstance(sheet, str) and isinstance(row, int) and not isinstance(row, bool) and row >= 1
        for sheet, row in header_rows.items()
    ):
        raise ConfigError(
            "[billing] header_rows must map sheet names to Excel row numbers, "
            "e.g. header_rows = { Services = 4 }."
        )


def find_config(explicit: Path | None, workbook: Path | None) -> Path | None:
    """The config file to use, per SPEC: --config, beside the workbook, then cwd."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"the config file {explicit} does not exist.")
        return explicit
    candidates = []
    if workbook is not None:
        candidates.append(workbook.parent / "billing.toml")
    candidates.append(Path.cwd() / "billing.toml")
    return next((c for c in candidates if c.is_file()), None)


def load_config(path: Path | None) -> Config:
    """Read and check a billing.toml (or the defaults when path is None)."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}.") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}.") from None
    return parse_config(data, path.resolve())
