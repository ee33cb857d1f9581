"""Configuration: `billing.toml`, read once into frozen records.

Looked up as `--config PATH`, else `billing.toml` beside the workbook, else in
the current directory. Every option has a default, so an empty file works:

>>> cfg = parse_config({"billing": {"default_terms": "Net 15"}})
>>> cfg.billing.default_terms, cfg.reissue.every_days, cfg.email.mode
('Net 15', 7, 'outbox')
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .bank.record import BankConfig
from .bank.settings import BankConfigError, parse_bank
from .config_text import at_line, toml_lines, toml_problem, unknown_option, windows_path
from .datetext import DATE_ORDERS
from .model import CompanyInfo
from .money import CURRENCY_CODES, currency_in_use, currency_problem
from .payqr import check_bank_details
from .schema import SHEETS, normalise_header
from .terms import BusinessCalendar, CalendarError, TermsError, parse_terms

DEFAULT_NUMBER_FORMAT = "INV-{year}-{seq:04d}"
DEFAULT_CREDIT_NOTE_FORMAT = "CN-{year}-{seq:04d}"
SECURITY_MODES = ("ssl", "starttls", "none")
ATTACH_MODES = ("docx", "pdf", "both")
LANGUAGES = ("en", "ru", "kk")
AUTH_MODES = ("password", "oauth2")
OAUTH_PROVIDERS = ("microsoft", "google")
#: The options that only mean something with auth = "oauth2" (tenant has a default).
OAUTH_OPTIONS = ("oauth_provider", "client_id", "client_secret_env", "oauth_device_url",
                 "oauth_token_url")  # fmt: skip


#: Upper bounds of whole-number options (day counts default to ten years).
MAX_DAYS = 3650
LIMITS = {"port": 65535, "max_count": 100, "max_retries": 10, "day": 31}
#: What a mail header cannot hold, as mail.py refuses it: str.splitlines()'s line breaks, NUL.
LINE_BREAK = re.compile("[\r\n\0\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
#: The most SMTP connections a run opens at once (`[email] connections`).
MAX_CONNECTIONS = 10


class ConfigError(Exception):
    """The configuration cannot be used (exit code 2)."""


@dataclass(frozen=True)
class BillingConfig:
    workbook: str = "service_log.xlsx"
    output_dir: str = ""
    number_format: str = DEFAULT_NUMBER_FORMAT
    credit_note_format: str = DEFAULT_CREDIT_NOTE_FORMAT
    bill_after_days: int = 0
    default_terms: str = "Net 30"
    currency: str = "USD"
    language: str = "en"
    receipt_lag_days: int = 0
    business_days: bool = False
    holidays_country: str = ""
    holidays_subdivision: str = ""
    #: How slash dates typed as text are read: "DMY" (05/03 = 5 March), "MDY", or "" (only
    #: when unambiguous).
    date_order: str = ""
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
    #: "password", or "oauth2" for Microsoft 365 / Google (see automation/oauth.py).
    auth: str = "password"
    oauth_provider: str = ""
    client_id: str = ""
    #: Names the environment variable holding the client secret (confidential apps, Google).
    client_secret_env: str = ""
    tenant: str = "organizations"
    oauth_device_url: str = ""
    oauth_token_url: str = ""
    #: SMTP connections used at once (1..MAX_CONNECTIONS); each message goes over one of them.
    connections: int = 1

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.security, 25)


@dataclass(frozen=True)
class StatementsConfig:
    """`[statements] day = N`: the first run on or after day N of a month emails
    last month's statement to every client with an open balance (0: never)."""

    day: int = 0


@dataclass(frozen=True)
class Config:
    company: CompanyInfo = field(default_factory=CompanyInfo)
    billing: BillingConfig = field(default_factory=BillingConfig)
    reissue: ReissueConfig = field(default_factory=ReissueConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    #: sheet -> {default header: the bookkeeper's header}
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None
    statements: StatementsConfig = field(default_factory=StatementsConfig)
    bank: BankConfig = field(default_factory=BankConfig)


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
            shown = {v: k for k, v in (renames or {}).items()}  # as the file spells them
            names = [shown.get(k, k) for k in known if k != "path"]
            raise ConfigError(unknown_option(section, key, names))
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


def _renamed_sheet(sheet: str) -> tuple[str, dict[str, str]]:
    """The sheet a [columns.<sheet>] table renames, and its default column names (by their
    `normalise_header` form); a ConfigError for a sheet the tool does not read."""
    for name, cols in SHEETS.items():
        if name.casefold() == sheet.strip().casefold():
            return name, {normalise_header(c.name): c.name for c in cols}
    raise ConfigError(unknown_option("columns", sheet, sorted(SHEETS), "no sheet", "sheets"))


#: What a number format's fields may be, and sample values each must be written as.
_NUMBER_FIELDS = {"year": (2026, 1999), "month": (1, 12), "seq": (1, 2, 10, 12345)}


def _as_digits(name: str, spec: str) -> bool:
    """Whether the format `spec` writes each sample value of field `name` as that number
    in digits (a width and zero padding, however written), never otherwise."""
    for value in _NUMBER_FIELDS[name]:
        try:
            written = format(value, spec)
        except (ValueError, TypeError):
            return False
        if not (written.isascii() and written.isdigit() and int(written) == value):
            return False
    return True


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a Config from parsed TOML, checking every value."""
    known_sections = {"company", "billing", "reissue", "email", "columns", "statements", "bank"}
    unknown = sorted(set(data) - known_sections)
    if unknown:
        near = difflib.get_close_matches(unknown[0].lower(), sorted(known_sections), n=1)
        hint = f" (did you mean [{near[0]}]?)" if near else ""
        raise ConfigError(
            f"unknown section [{unknown[0]}]{hint}; sections are "
            + ", ".join(f"[{s}]" for s in sorted(known_sections))
            + "."
        )
    company = _build(CompanyInfo, "company", data.get("company"))
    for problem in check_bank_details(company):
        raise ConfigError(f"[company] {problem}")
    billing = _build(BillingConfig, "billing", data.get("billing"))
    # "kz" is KZ, as currency codes are read whatever their case
    billing = replace(billing, holidays_country=billing.holidays_country.strip().upper())
    reissue = _build(ReissueConfig, "reissue", data.get("reissue"))
    _check_connections(data.get("email"))  # its own words, before the generic range check
    email = _build(EmailConfig, "email", data.get("email"), {"from": "sender"})
    _check_sender_name(company, email)
    columns_raw = data.get("columns", {})
    columns: dict[str, dict[str, str]] = {}
    if not isinstance(columns_raw, dict):
        raise ConfigError("[columns] must hold tables such as [columns.Services].")
    for sheet, renames in columns_raw.items():
        if isinstance(renames, str):  # [columns] Client = "Customer": which sheet's?
            raise ConfigError(
                f"[columns] renames a sheet's headers under that sheet's name: write "
                f'[columns.Services] (or [columns.Clients], [columns.Invoices]) and '
                f'{sheet} = "{renames}" under it.'
            )
        if not isinstance(renames, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in renames.items()
        ):
            raise ConfigError(
                f'[columns.{sheet}] must map default headers to yours, e.g. Client = "Customer".'
            )
        name, defaults = _renamed_sheet(sheet)
        if name in columns:
            raise ConfigError(f"[columns.{name}] appears twice (in another case); keep one.")
        for column in renames:
            if normalise_header(column) not in defaults:
                # A rename that names no column would leave the bookkeeper's own column
                # unread (their payments ignored) and add an empty one beside it.
                raise ConfigError(
                    unknown_option(
                        f"columns.{sheet}",
                        column,
                        sorted(defaults.values()),
                        "an unknown column",
                        "its columns",
                    )  # fmt: skip
                )
        columns[name] = _distinct_headers(sheet, name, defaults, renames)
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
    for option, example in (
        ("number_format", DEFAULT_NUMBER_FORMAT),
        ("credit_note_format", DEFAULT_CREDIT_NOTE_FORMAT),
    ):
        text = getattr(billing, option)
        usable = f'it may use {{year}}, {{month}} and {{seq}}, e.g. "{example}".'
        try:
            fields_used = [
                (name, spec, conversion)
                for _, name, spec, conversion in string.Formatter().parse(text)
                if name is not None
            ]
            made = [text.format(year=2026, seq=seq, month=1) for seq in (1, 2, 10)]
        except (KeyError, ValueError, IndexError, AttributeError) as exc:
            raise ConfigError(
                f"[billing] {option} {text!r} is not usable ({exc}); {usable}"
            ) from None
        for name, spec, conversion in fields_used:
            # A field is a name, perhaps with a width ({seq:04d}, {seq:0>4}): nothing looked
            # up on it, no conversion, and written as its number in digits.
            if name not in _NUMBER_FIELDS or conversion or not _as_digits(name, spec or ""):
                raise ConfigError(
                    f"[billing] {option} {text!r}: {{{name}{'!' + conversion if conversion else ''}"
                    f"{':' + spec if spec else ''}}} is not usable: a field is {{year}}, {{month}} "
                    f"or {{seq}}, written in digits, at most with a width such as {{seq:04d}}; "
                    f'e.g. "{example}".'
                )
        if [name for name, _, _ in fields_used].count("seq") != 1:
            raise ConfigError(
                f"[billing] {option} must contain {{seq}} once, so numbers are unique."
            )
        if len(set(made)) != len(made) or not all(m.isprintable() and m.strip() for m in made):
            raise ConfigError(
                f"[billing] {option} {text!r} does not make distinct numbers; {usable}"
            )
    if billing.credit_note_format.format(year=2026, seq=1, month=1) == (
        billing.number_format.format(year=2026, seq=1, month=1)
    ):
        raise ConfigError(
            "[billing] credit_note_format must differ from number_format: credit notes "
            'have their own series (e.g. "CN-{year}-{seq:04d}").'
        )
    billing = replace(billing, header_rows=_check_header_rows(billing.header_rows))
    if billing.date_order.upper() not in ("", *DATE_ORDERS):
        raise ConfigError(
            f'[billing] date_order must be "DMY" (05/03/2026 is 5 March) or "MDY" '
            f"(05/03/2026 is May 3), not {billing.date_order!r}."
        )
    if email.timeout <= 0:
        raise ConfigError("[email] timeout must be a positive number of seconds.")
    if not 0 <= email.retry_window <= 86400:
        raise ConfigError("[email] retry_window must be between 0 and 86400 seconds.")
    _check_oauth(email)
    try:
        parse_terms(billing.default_terms)
    except TermsError as exc:
        raise ConfigError(f"[billing] default_terms: {exc}") from None
    if billing.currency.upper() not in CURRENCY_CODES:
        raise ConfigError(
            f"[billing] currency {billing.currency!r} is not an ISO currency code "
            '(use e.g. "USD", "EUR", "KZT").'
        )
    if not currency_in_use(billing.currency):
        problem = currency_problem(billing.currency)
        raise ConfigError(f"[billing] currency {billing.currency!r} {problem}")
    if billing.holidays_country:
        import holidays

        try:
            holidays.country_holidays(billing.holidays_country)
        except NotImplementedError:
            raise ConfigError(
                f"[billing] holidays_country {billing.holidays_country!r} is not a country "
                'code the holidays package knows (use ISO codes such as "US", "GB", "KZ").'
            ) from None
        _check_subdivision(billing.holidays_country, billing.holidays_subdivision)
    elif billing.holidays_subdivision.strip():
        raise ConfigError(
            f"[billing] holidays_subdivision {billing.holidays_subdivision!r} needs "
            'holidays_country, the country it is part of (e.g. holidays_country = "US").'
        )
    statements = _build(StatementsConfig, "statements", data.get("statements"))
    try:
        bank = parse_bank(data.get("bank"))
    except BankConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Config(company, billing, reissue, email, columns, path, statements, bank)


#: How a column not renamed has its header, said in `_distinct_headers`.
_DEFAULT_HEADER = "its default header"


def _distinct_headers(
    written: str, sheet: str, defaults: dict[str, str], renames: dict[str, str]
) -> dict[str, str]:
    """The renames of [columns.<written>] by default column name (`defaults`, as
    `_renamed_sheet` gives them), refused when two columns of `sheet` would have one header
    (compared as headers are matched): the run would read one as the other, e.g. "Paid
    Amount" = "Total" takes every invoice's Total for a payment."""
    renamed: dict[str, str] = {}
    for key, header in renames.items():
        column = defaults[normalise_header(key)]
        if column in renamed:
            raise ConfigError(
                f"[columns.{written}] {_toml_key(key)} renames {column} a second time; keep one."
            )
        renamed[column] = header
    # each header the sheet will have -> the column that has it, and how (as written)
    headed = {k: (c, _DEFAULT_HEADER) for k, c in defaults.items() if c not in renamed}
    for key, header in renames.items():
        column = defaults[normalise_header(key)]
        rename = f'{_toml_key(key)} = "{header}"'
        other, how = headed.setdefault(normalise_header(header), (column, rename))
        if other != column:
            raise ConfigError(
                f"[columns.{written}] {rename}: {column} would have the same header as "
                f"{other} ({how}) in the {sheet} sheet; two columns cannot share a header, "
                f"or the run would read one as the other. Give {column} a header of its own"
                + (f", or rename {other} too." if how == _DEFAULT_HEADER else ".")
            )
    return renamed


def _toml_key(key: str) -> str:
    """`key` as billing.toml writes it: in quotes unless it is one word."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _check_subdivision(country: str, subdivision: str) -> None:
    """`[billing] holidays_subdivision`: one the holidays package knows for `country`, read
    as the business calendar reads it (a region's holidays move due dates)."""
    if not subdivision.strip():
        return
    try:
        BusinessCalendar(True, country, subdivision)
    except CalendarError:
        import holidays

        known = sorted(holidays.country_holidays(country).subdivisions)
        listed = f"{country}'s are {', '.join(known)}" if known else f"{country} has none there"
        raise ConfigError(
            f"[billing] holidays_subdivision {subdivision!r} is not a subdivision of {country} "
            f"the holidays package knows ({listed}); leave it empty for the national holidays."
        ) from None


def _check_sender_name(company: CompanyInfo, email: EmailConfig) -> None:
    """The sender name (`[email] from_name`, else `[company] name`) on one line: the From
    of every email cannot carry a line break, and every message would fail."""
    option = "[email] from_name" if email.from_name else "[company] name"
    if LINE_BREAK.search(email.from_name or company.name):
        raise ConfigError(
            f"{option} must be one line; it contains a line break: it is the sender name of "
            "every email, which a mail header holds on one line (the company address may "
            "have several lines: put them under [company] address)."
        )


def _check_header_rows(header_rows: object) -> dict[str, int]:
    """header_rows by the sheets' own names (any case); a sheet the tool does not read is
    refused with the nearest name, as in [columns]: unused, the row would be looked for."""
    if not isinstance(header_rows, dict) or not all(
        isinstance(sheet, str) and isinstance(row, int) and not isinstance(row, bool) and row >= 1
        for sheet, row in header_rows.items()
    ):
        raise ConfigError(
            "[billing] header_rows must map sheet names to Excel row numbers, "
            "e.g. header_rows = { Services = 4 }."
        )
    named = {name.casefold(): name for name in SHEETS}
    for sheet in header_rows:
        if sheet.strip().casefold() not in named:
            said = unknown_option("billing", sheet, sorted(SHEETS), "no sheet", "sheets")
            raise ConfigError(said.replace("[billing] has", "[billing] header_rows names", 1))
    return {named[sheet.strip().casefold()]: row for sheet, row in header_rows.items()}


def _check_connections(section: Any) -> None:
    """`connections`: a whole number from 1 to MAX_CONNECTIONS (checked before its type's range)."""
    value = section.get("connections", 1) if isinstance(section, dict) else 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONNECTIONS:
        raise ConfigError(
            f"[email] connections must be a whole number from 1 to "
            f"{MAX_CONNECTIONS} (how many SMTP connections send at once; many providers "
            f"accept 2 to 4), not {value!r}."
        )


def _check_oauth(email: EmailConfig) -> None:
    """The OAuth 2.0 options: complete for auth = "oauth2", absent otherwise."""
    if email.auth not in AUTH_MODES:
        raise ConfigError(f'[email] auth must be "password" or "oauth2", not {email.auth!r}.')
    if email.auth == "password":
        stray = [name for name in OAUTH_OPTIONS if getattr(email, name)]
        if stray:
            raise ConfigError(
                f'[email] {stray[0]} is set but auth is "password": set auth = "oauth2" '
                f"to sign in with Microsoft 365 or Google, or remove {stray[0]}."
            )
        return
    if email.oauth_provider not in OAUTH_PROVIDERS:
        raise ConfigError(
            '[email] auth = "oauth2" needs oauth_provider = "microsoft" or "google", '
            f"not {email.oauth_provider!r}."
        )
    if not email.client_id.strip():
        raise ConfigError(
            '[email] auth = "oauth2" needs client_id: the Application (client) ID of the '
            "app registered for the billing run (see the README)."
        )
    if not email.username:
        raise ConfigError(
            '[email] auth = "oauth2" needs username: the mailbox that signs in and sends, '
            'e.g. username = "billing@ledgerwise.example".'
        )
    if email.client_secret_env and not re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_]*", email.client_secret_env
    ):
        raise ConfigError(
            f"[email] client_secret_env must name an environment variable, e.g. "
            f'"BILLING_OAUTH_SECRET", not {email.client_secret_env!r}.'
        )
    if email.oauth_provider == "google":
        if not email.client_secret_env:
            raise ConfigError(
                '[email] oauth_provider = "google" needs client_secret_env: Google asks '
                "for the client secret of a desktop-app client; name the environment "
                'variable that holds it, e.g. client_secret_env = "BILLING_OAUTH_SECRET".'
            )
        if email.oauth_device_url:
            raise ConfigError(
                "[email] oauth_device_url is for Microsoft's device-code sign-in; Google "
                "signs in through the browser on this computer: remove oauth_device_url."
            )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", email.tenant):
        raise ConfigError(
            f"[email] tenant must be a directory (tenant) ID, a domain such as "
            f'"ledgerwise.example", or "organizations", not {email.tenant!r}.'
        )
    for name in ("oauth_device_url", "oauth_token_url"):
        url = getattr(email, name)
        if url:
            problem = endpoint_problem(url)
            if problem:
                raise ConfigError(f"[email] {name} {url!r} {problem}.")


def endpoint_problem(url: str) -> str:
    """Why `url` cannot be a sign-in endpoint ("" when it can): https, or http on loopback.

    >>> endpoint_problem("http://127.0.0.1:8080/token"), endpoint_problem("ftp://x.example/")
    ('', 'must start with https://')
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return ""
    if parts.scheme == "http" and parts.hostname:
        if is_loopback(parts.hostname):
            return ""
        return "must use https:// (plain http only on this computer: 127.0.0.1, ::1, localhost)"
    return "must start with https://"


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def find_config(explicit: Path | None, workbook: Path | None) -> Path | None:
    """The config file to use, per SPEC: --config, beside the workbook, then cwd."""
    if explicit is not None:
        if explicit.is_dir():
            raise ConfigError(
                f"{explicit} is a folder, not a config file: name the .toml file in it."
            )
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
        text = path.read_bytes().decode("utf-8-sig")  # Notepad's "UTF-8 with BOM" too
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name} is not UTF-8 text; save it as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_problem(path.name, text, str(exc))) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}.") from None
    _refuse_escaped_paths(path.name, text, data)
    try:
        return parse_config(data, path.resolve())
    except ConfigError as exc:
        raise ConfigError(at_line(path.name, text, str(exc))) from None


#: The options that name a file or folder: (section, key).
PATH_OPTIONS = (
    ("billing", "workbook"), ("billing", "output_dir"), ("email", "outbox_dir"),
    ("email", "ca_file"), ("bank", "inbox"),
)  # fmt: skip


def _refuse_escaped_paths(name: str, text: str, data: dict[str, Any]) -> None:
    """A path in double quotes whose backslashes TOML read as escapes ("C:\\books\\new": a
    backspace and a line break) is refused as "D:\\books" is: it would make folders of
    those characters."""
    for section, key in PATH_OPTIONS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            written = next(
                (line.strip() for line in toml_lines(text)
                 if re.match(rf"\s*{re.escape(key)}\s*=", line)),
                f"{key} = ...",
            )  # fmt: skip
            shown = written.partition("=")[2].strip().strip('"')
            harm = ", so this path holds characters no folder name has"
            raise ConfigError(f"{name}: [{section}] {written}: {windows_path(shown, harm)}")
