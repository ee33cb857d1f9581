"""OAuth 2.0 sign-in: config, the three grants, the token store, XOAUTH2, and whole runs.

Real parts: an identity endpoint on loopback (tests/oauth_servers.py), an
aiosmtpd server that offers only AUTH XOAUTH2, real workbooks and ledgers. The
OS keyring is never touched: every test installs an in-memory keyring, or
keyring's "fail" backend to stand for a system without one.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import keyring
import pytest
from conftest import Folder, client, service, write_workbook
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from oauth_servers import (
    USER_CODE,
    VERIFICATION_URI,
    XOAUTH2_ONLY,
    Identity,
    XOAuth2Recorder,
    running_identity,
)
from smtp_servers import Recorder, password_checker, running_server

from automation.cli import main
from automation.config import ConfigError, EmailConfig, parse_config
from automation.delivery import Outcome, Parcel, RetryPolicy, deliver
from automation.mail import BuiltMessage, MailLoginError, RecipientResult, SmtpSender, open_sender
from automation.model import CompanyInfo
from automation.oauth import (
    KEYRING_SERVICE,
    REFRESH_MARGIN,
    SIGN_IN_AGAIN,
    OAuthError,
    SignIn,
    SignInRefused,
    TokenStore,
    describe_error,
    endpoints_for,
    login,
    request_device_code,
    wait_for_device_sign_in,
)
from automation.smtp_pool import SmtpPool

USER = "billing@ledgerwise.example"
AS_OF = "2026-03-09"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    """A keyring that is there but refuses to store (locked, no D-Bus...)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(params=[fail.Keyring, null.Keyring])
def no_keyring(request: pytest.FixtureRequest) -> None:
    """No usable keyring: a headless system, or PYTHON_KEYRING_BACKEND=...null.Keyring."""
    keyring.set_keyring(request.param())


@pytest.fixture
def identity() -> Iterator[tuple[Identity, str]]:
    ident = Identity()
    with running_identity(ident) as url:
        yield ident, url


def oauth_email(url: str, **values: object) -> EmailConfig:
    base: dict[str, object] = dict(
        mode="smtp", host="127.0.0.1", security="none", username=USER, sender=USER,
        auth="oauth2", oauth_provider="microsoft", client_id="billing-app-id",
        oauth_device_url=f"{url}/devicecode", oauth_token_url=f"{url}/token",
    )  # fmt: skip
    base.update(values)
    return EmailConfig(**base)  # type: ignore[arg-type]


# -- configuration -------------------------------------------------------------------


def email_section(**values: str) -> dict:
    return {"email": {"username": USER, **values}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth": "token"}, 'auth must be "password" or "oauth2"'),
        ({"auth": "oauth2"}, 'needs oauth_provider = "microsoft" or "google"'),
        ({"auth": "oauth2", "oauth_provider": "yahoo"}, "not 'yahoo'"),
        ({"auth": "oauth2", "oauth_provider": "microsoft"}, "needs client_id"),
        ({"auth": "oauth2", "oauth_provider": "google", "client_id": "x"},
         "needs client_secret_env"),
        ({"auth": "oauth2", "oauth_provider": "google", "client_id": "x",
          "client_secret_env": "S", "oauth_device_url": "https://x.example/d"},
         "remove oauth_device_url"),
        ({"auth": "oauth2", "oauth_provider": "microsoft", "client_id": "x",
          "client_secret_env": "not a name"}, "must name an environment variable"),
        ({"auth": "oauth2", "oauth_provider": "microsoft", "client_id": "x",
          "oauth_token_url": "http://login.example.com/token"},
         "plain http only on this computer"),
        ({"auth": "oauth2", "oauth_provider": "microsoft", "client_id": "x",
          "oauth_device_url": "file:///etc/passwd"}, "must start with https://"),
        ({"auth": "oauth2", "oauth_provider": "microsoft", "client_id": "x",
          "tenant": "a b"}, "tenant must be"),
        ({"client_id": "x"}, 'client_id is set but auth is "password"'),
    ],
)  # fmt: skip
def test_config_mistakes_are_named(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(email_section(**values))
    assert message in str(caught.value)


def test_config_oauth_needs_the_username() -> None:
    with pytest.raises(ConfigError, match="needs username"):
        parse_config({"email": {"auth": "oauth2", "oauth_provider": "microsoft",
                                "client_id": "x"}})  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8400/token", "http://localhost/token", "http://[::1]:9/t",
     "https://login.microsoftonline.us/contoso.example/oauth2/v2.0/token"],
)  # fmt: skip
def test_config_accepts_https_and_loopback_http(url: str) -> None:
    cfg = parse_config(email_section(auth="oauth2", oauth_provider="microsoft",
                                     client_id="x", oauth_token_url=url))  # fmt: skip
    assert cfg.email.oauth_token_url == url and cfg.email.tenant == "organizations"


def test_default_endpoints_and_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    ms = endpoints_for(EmailConfig(username=USER, auth="oauth2", oauth_provider="microsoft",
                                   client_id="id", tenant="contoso.example"))  # fmt: skip
    assert ms.token_url == "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    assert ms.device_url.endswith("/contoso.example/oauth2/v2.0/devicecode")
    assert ms.scope == "https://outlook.office.com/SMTP.Send offline_access"
    monkeypatch.setenv("GOOGLE_SECRET", "s3cret")
    google_cfg = EmailConfig(username=USER, auth="oauth2", oauth_provider="google",
                             client_id="id", client_secret_env="GOOGLE_SECRET")  # fmt: skip
    google = endpoints_for(google_cfg)
    assert google.scope == "https://mail.google.com/"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert "s3cret" not in repr(google)
    monkeypatch.delenv("GOOGLE_SECRET")
    with pytest.raises(OAuthError, match="set the environment variable GOOGLE_SECRET"):
        endpoints_for(google_cfg)


# -- the device-code grant (Microsoft) ---------------------------------------------------


def test_device_code_login_honours_interval_and_slow_down(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    ident.interval, ident.slow_down, ident.pending = 2, 1, 2
    said: list[str] = []
    waits: list[float] = []
    where = login(oauth_email(url), tmp_path / ".billing", said.append, _no_browser, waits.append)
    assert where == "the OS keyring"
    # interval 2; slow_down adds 5 (RFC 8628 3.5) for every later poll.
    assert waits == [2, 7, 7, 7]
    assert ident.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 4
    assert VERIFICATION_URI in said[0] and USER_CODE in said[0]
    stored = memory_keyring.entries[(KEYRING_SERVICE, USER)]
    assert stored in ident.refresh_tokens
    assert not any(token in line for line in said for token in ident.issued)
    assert not (tmp_path / ".billing" / "oauth-token").exists()


@pytest.mark.parametrize(("seconds", "wait"), [(60, "1 minute..."), (900, "15 minutes...")])
def test_device_code_login_says_how_long_it_waits(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path,
    seconds: int, wait: str,
) -> None:  # fmt: skip
    ident, url = identity
    ident.device_expires_in = seconds
    said: list[str] = []
    login(oauth_email(url), tmp_path, said.append, _no_browser, lambda s: None)
    assert said[0].endswith(f"Waiting up to {wait}")


@pytest.mark.parametrize(
    ("outcome", "words"),
    [("access_denied", "declined"), ("expired_token", "expired"),
     ("server_error", "ended the sign-in")],
)  # fmt: skip
def test_device_code_login_that_does_not_finish_stores_nothing(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path,
    outcome: str, words: str,
) -> None:  # fmt: skip
    ident, url = identity
    ident.pending, ident.device_outcome = 1, outcome
    with pytest.raises(OAuthError) as caught:
        login(oauth_email(url), tmp_path, [].append, _no_browser, lambda s: None)
    assert words in str(caught.value)
    assert isinstance(caught.value, SignInRefused) == (outcome != "server_error")
    assert memory_keyring.entries == {}


def test_device_code_expires_on_our_clock_too(identity: tuple[Identity, str]) -> None:
    ident, url = identity
    ident.pending, ident.interval = 1000, 60
    ep = endpoints_for(oauth_email(url))
    code = request_device_code(ep)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(SignInRefused, match="expired before the sign-in finished"):
        wait_for_device_sign_in(ep, code, sleep, lambda: now[0])
    assert now[0] == 960 and len(ident.grants) == 15  # polls at 60, 120, ... 900 s


def test_unknown_client_is_a_clear_error(identity: tuple[Identity, str], tmp_path: Path) -> None:
    _ident, url = identity
    with pytest.raises(OAuthError, match="would not start the sign-in .invalid_client"):
        login(oauth_email(url, client_id="wrong"), tmp_path, [].append, _no_browser)


def test_an_unreachable_sign_in_service_is_named(tmp_path: Path) -> None:
    with running_identity(Identity()) as url:
        pass  # the port is closed now
    with pytest.raises(OAuthError, match="cannot reach the sign-in service at 127.0.0.1"):
        login(oauth_email(url), tmp_path, [].append, _no_browser)


def _no_browser(url: str) -> None:
    raise AssertionError("the device-code flow opens no browser")


# -- the installed-app flow with a loopback redirect (Google) ------------------------------


class Browser:
    """Plays the bookkeeper's browser: the provider's page signs in and redirects back."""

    def __init__(self, ident: Identity, outcome: str = "ok", state: str | None = None) -> None:
        self.ident, self.outcome, self.state = ident, outcome, state
        self.url = ""
        self.query: dict[str, str] = {}
        self.page = ""
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> None:
        self.url = url
        self.query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        self.thread = threading.Thread(target=self._come_back)
        self.thread.start()

    def _come_back(self) -> None:
        q = self.query
        back = {"state": self.state or q["state"]}
        if self.outcome == "ok":
            back["code"] = self.ident.authorize(q["code_challenge"], q["redirect_uri"])
        else:
            back["error"] = self.outcome
        with urllib.request.urlopen(f"{q['redirect_uri']}?{urlencode(back)}", timeout=10) as r:
            self.page = r.read().decode()


def google_email(url: str) -> EmailConfig:
    return oauth_email(url, oauth_provider="google", client_secret_env="TEST_GOOGLE_SECRET",
                       oauth_device_url="")  # fmt: skip


def test_google_loopback_login_with_pkce(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ident, url = identity
    ident.client_secret = "desktop-secret"
    monkeypatch.setenv("TEST_GOOGLE_SECRET", "desktop-secret")
    browser = Browser(ident)
    said: list[str] = []
    where = login(google_email(url), tmp_path, said.append, browser)
    assert browser.thread is not None
    browser.thread.join(5)
    q = browser.query
    assert q["scope"] == "https://mail.google.com/" and q["login_hint"] == USER
    assert q["code_challenge_method"] == "S256" and q["access_type"] == "offline"
    assert q["redirect_uri"].startswith("http://127.0.0.1:")
    assert "Signed in" in browser.page
    assert where == "the OS keyring"
    assert memory_keyring.entries[(KEYRING_SERVICE, USER)] in ident.refresh_tokens
    assert ident.grants == ["authorization_code"]
    assert "desktop-secret" not in " ".join(said)


@pytest.mark.parametrize(
    ("outcome", "state", "words"),
    [("access_denied", None, "declined"), ("ok", "forged", "did not start")],
)
def test_google_login_refused_or_forged_stores_nothing(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, outcome: str, state: str | None, words: str,
) -> None:  # fmt: skip
    ident, url = identity
    monkeypatch.setenv("TEST_GOOGLE_SECRET", "desktop-secret")
    browser = Browser(ident, outcome, state)
    with pytest.raises(OAuthError, match=words):
        login(google_email(url), tmp_path, [].append, browser)
    assert memory_keyring.entries == {} and ident.grants == []


# -- refresh and the token store ---------------------------------------------------------


def test_refresh_keeps_a_rotated_refresh_token(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    ident.rotate = True
    first = ident.seed()
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = first
    sign_in = SignIn(oauth_email(url), tmp_path)
    token, fresh = sign_in.current()
    assert fresh and token in ident.valid_access
    rotated = memory_keyring.entries[(KEYRING_SERVICE, USER)]
    assert rotated != first and rotated in ident.refresh_tokens
    assert first not in ident.refresh_tokens  # so only the kept one can work next week
    assert sign_in.current() == (token, False)  # no second refresh while the token is good
    again = SignIn(oauth_email(url), tmp_path)
    assert again.renew() in ident.valid_access


def test_a_short_lived_token_is_renewed_in_its_last_quarter(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    ident.expires_in = 60
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    clock = Clock()
    sign_in = SignIn(oauth_email(url), tmp_path, clock)
    token, _ = sign_in.current()
    clock.now += 44
    assert sign_in.current() == (token, False)
    clock.now += 2
    assert sign_in.current()[1] and ident.grants == ["refresh_token"] * 2


def test_connections_sharing_a_sign_in_refresh_once_per_refusal(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    ident.rotate = True  # a reused refresh token would be refused
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    sign_in = SignIn(oauth_email(url), tmp_path)
    old, _ = sign_in.current()
    renewed: list[str] = []
    threads = [threading.Thread(target=lambda: renewed.append(sign_in.renew(old)))
               for _ in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(renewed)) == 1 and renewed[0] != old
    assert ident.grants == ["refresh_token"] * 2


def test_revoked_sign_in_names_the_way_out_and_hides_the_token(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    stale = ident.seed()
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = stale
    ident.revoke()
    with pytest.raises(SignInRefused) as caught:
        SignIn(oauth_email(url), tmp_path).renew()
    text = str(caught.value)
    assert SIGN_IN_AGAIN in text and "invalid_grant" in text and "AADSTS70008" in text
    assert stale not in text and stale not in repr(caught.value)
    assert "Trace ID" not in text  # one line of the description, not the whole answer
    assert caught.value.__context__ is None or stale not in repr(caught.value.__context__)


def test_an_error_description_never_shows_a_piece_of_a_secret() -> None:
    secret = "RT-" + "x" * 300
    answer = {"error": "invalid_grant", "error_description": f"{'y' * 150} {secret} end"}
    text = describe_error(answer, secret)
    assert "xxx" not in text and text.startswith("invalid_grant: yyy")
    assert describe_error({"error": ["odd"], "error_description": 5}) == "error: 5"


def test_no_keyring_means_an_owner_only_file(
    identity: tuple[Identity, str], no_keyring: None, tmp_path: Path
) -> None:
    ident, url = identity
    billing = tmp_path / ".billing"
    where = login(oauth_email(url), billing, [].append, _no_browser, lambda s: None)
    path = billing / "oauth-token"
    assert where == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token, place = TokenStore(USER, billing).load()
    assert token in ident.refresh_tokens and place == str(path)
    assert TokenStore("someone@else.example", billing).load() == ("", "")
    assert [p.name for p in billing.iterdir()] == ["oauth-token"]  # no partial file left


@pytest.mark.parametrize("content", ["null", "[]", '"x"', "{}", "not json"])
def test_a_token_file_holding_no_sign_in_is_none(
    no_keyring: None, tmp_path: Path, content: str
) -> None:
    """`null` in the token file crashed check and the run (AttributeError, exit 1); it is no
    sign-in stored, as an empty file is: "sign in again" (exit 2)."""
    (tmp_path / "oauth-token").write_text(content)
    assert TokenStore(USER, tmp_path).load() == ("", "")


def test_a_keyring_that_refuses_falls_back_to_the_file(tmp_path: Path) -> None:
    keyring.set_keyring(BrokenKeyring())
    store = TokenStore(USER, tmp_path)
    assert store.save("RT-1") == str(tmp_path / "oauth-token")
    assert store.load() == ("RT-1", str(tmp_path / "oauth-token"))


def test_keyring_wins_and_an_older_file_is_removed(
    memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    keyring.set_keyring(fail.Keyring())
    TokenStore(USER, tmp_path).save("RT-old")
    keyring.set_keyring(memory_keyring)
    assert TokenStore(USER, tmp_path).load() == ("RT-old", str(tmp_path / "oauth-token"))
    assert TokenStore(USER, tmp_path).save("RT-new") == "the OS keyring"
    assert not (tmp_path / "oauth-token").exists()
    assert memory_keyring.entries[(KEYRING_SERVICE, USER)] == "RT-new"


# -- XOAUTH2 over SMTP ------------------------------------------------------------------------


def message(n: int) -> BuiltMessage:
    raw = (f"From: {USER}\r\nTo: c{n}@clients.example\r\nSubject: {n}\r\n"
           f"Message-ID: <m{n}@ledgerwise.example>\r\n\r\nbody {n}\r\n").encode()  # fmt: skip
    return BuiltMessage(f"<m{n}@ledgerwise.example>", USER, (f"c{n}@clients.example",), raw)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def xoauth2(identity: tuple[Identity, str]) -> Iterator[tuple[Identity, str, XOAuth2Recorder, int]]:
    ident, url = identity
    recorder = XOAuth2Recorder(identity=ident, username=USER)
    with running_server(recorder, **XOAUTH2_ONLY) as port:
        yield ident, url, recorder, port


def test_xoauth2_sends_with_the_current_token(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:  # fmt: skip
    ident, url, recorder, port = xoauth2
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    cfg = oauth_email(url, port=port)
    with SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)) as sender:
        results = [sender.send(message(n)).status for n in (1, 2)]
    assert results == ["sent", "sent"]
    assert recorder.presented == [ident.issued[-1]] and len(recorder.sessions) == 1


class _Echoing(XOAuth2Recorder):
    """A server whose refusal quotes the session's token back (a contrived server)."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        raw = f"user={self.username}\x01auth=Bearer {session.auth_data}\x01\x01"
        said = base64.b64encode(raw.encode()).decode()
        return f"550 5.7.1 {address} refused for session {session.auth_data} ({said})"


def test_a_server_quoting_the_token_back_never_gets_it_kept(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    recorder = _Echoing(identity=ident, username=USER)
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    with running_server(recorder, **XOAUTH2_ONLY) as port:
        cfg = oauth_email(url, port=port)
        with SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)) as sender:
            (result,) = sender.send(message(1)).recipients
    token = ident.issued[-1]
    assert result.state == "refused" and "***" in result.reply
    assert token not in result.reply and "auth=Bearer" not in result.reply


@pytest.mark.parametrize(
    "stale_reply", ["530 5.7.0 Authentication required", "421 4.7.0 Access token expired, closing"]
)
def test_token_refused_mid_batch_signs_in_again_and_sends_once(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path, stale_reply: str,
) -> None:  # fmt: skip
    ident, url, recorder, port = xoauth2
    recorder.stale_reply = stale_reply
    recorder.after_message = lambda count: ident.expire_access() if count == 2 else None
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    cfg = oauth_email(url, port=port)
    with SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)) as sender:
        results = [sender.send(message(n)).status for n in (1, 2, 3, 4)]
    assert results == ["sent"] * 4
    assert recorder.message_ids == [f"<m{n}@ledgerwise.example>" for n in (1, 2, 3, 4)]
    assert ident.grants == ["refresh_token", "refresh_token"]
    assert len(set(recorder.presented)) == 2  # the old token, then the renewed one


def test_a_sign_in_revoked_mid_batch_fails_the_rest_at_once(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Revoked after the 2nd message: the rest are refused ("sign in again"), not retried as
    a server asking to try later (23 refresh requests in the retry window, and a Note saying
    the server asked to try later)."""
    ident, url, recorder, port = xoauth2
    recorder.stale_reply = "530 5.7.0 Authentication required"

    def revoked(count: int) -> None:
        if count == 2:
            ident.revoke()
            ident.expire_access()

    recorder.after_message = revoked
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    cfg = oauth_email(url, port=port)
    with SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)) as sender:
        results = [sender.send(message(n)) for n in (1, 2, 3, 4, 5)]
    assert [r.status for r in results] == ["sent", "sent", "refused", "refused", "refused"]
    assert all("sign in again" in r.reply for r in results[2:])
    assert ident.grants.count("refresh_token") <= 2  # the provider is not asked per message


class _Answers:
    """A journal keeping each message's last answers."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, ...]] = {}

    def attempting(self, parcel: Parcel) -> None:
        pass

    def attempted(self, parcel: Parcel, results: tuple[RecipientResult, ...]) -> None:
        self.states[parcel.message.message_id] = tuple(r.state for r in results)

    def finished(self, outcome: Outcome) -> None:
        pass


def test_three_connections_share_one_renewal_when_the_token_is_refused_mid_batch(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:  # fmt: skip
    ident, url, recorder, port = xoauth2
    recorder.after_message = lambda count: ident.expire_access() if count == 4 else None
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    cfg = replace(oauth_email(url, port=port), connections=3)
    journal = _Answers()
    with open_sender(cfg, CompanyInfo(name="L", email=USER), billing_dir=tmp_path) as sender:
        assert isinstance(sender, SmtpPool) and len(sender.lanes) == 3
        messages = [message(n) for n in range(1, 13)]
        deliver([Parcel(m, m.recipients) for m in messages], sender, RetryPolicy(1, 2), journal)
    assert sorted(recorder.message_ids) == sorted(m.message_id for m in messages)
    assert set(journal.states.values()) == {("sent",)}
    # One refresh at the start, one when the server stopped taking the token: not one per lane.
    assert ident.grants == ["refresh_token", "refresh_token"]
    assert len(set(recorder.presented) - {""}) == 2


def test_a_long_batch_signs_in_afresh_before_the_token_ends(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:  # fmt: skip
    ident, url, recorder, port = xoauth2
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    clock = Clock()
    cfg = oauth_email(url, port=port)
    with SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path, clock)) as sender:
        assert sender.send(message(1)).status == "sent"
        clock.now += 3600 - REFRESH_MARGIN + 1  # the hour is nearly over
        assert sender.send(message(2)).status == "sent"
        assert sender.send(message(3)).status == "sent"
    assert ident.grants == ["refresh_token", "refresh_token"]
    assert len(recorder.sessions) == 2 and len(set(recorder.presented)) == 2
    assert len(recorder.received) == 3


def test_a_server_without_xoauth2_is_a_login_error(
    identity: tuple[Identity, str], memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    ident, url = identity
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    with running_server(Recorder(), authenticator=password_checker(USER, "pw"),
                        auth_require_tls=False) as port:  # fmt: skip
        cfg = oauth_email(url, port=port)
        with pytest.raises(MailLoginError, match="offers no AUTH XOAUTH2, only LOGIN PLAIN"):
            SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)).__enter__()


def test_a_mailbox_the_server_refuses_says_what_to_check(
    xoauth2: tuple[Identity, str, XOAuth2Recorder, int], memory_keyring: MemoryKeyring,
    tmp_path: Path,
) -> None:  # fmt: skip
    ident, url, recorder, port = xoauth2
    recorder.username = "someone-else@ledgerwise.example"  # signed in as another account
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    cfg = oauth_email(url, port=port)
    with pytest.raises(MailLoginError) as caught:
        SmtpSender(cfg, sign_in=SignIn(cfg, tmp_path)).__enter__()
    text = str(caught.value)
    assert "535" in text and "SMTP AUTH is enabled" in text and SIGN_IN_AGAIN in text
    assert not any(token in text for token in ident.issued)


def test_open_sender_signs_in_only_for_smtp(tmp_path: Path) -> None:
    company = CompanyInfo(name="Ledgerwise", email=USER)
    cfg = oauth_email("http://127.0.0.1:9")
    assert isinstance(open_sender(cfg, company, billing_dir=tmp_path), SmtpSender)
    assert not isinstance(open_sender(replace(cfg, mode="outbox"), company), SmtpSender)


# -- whole runs ---------------------------------------------------------------------------------


@pytest.fixture
def oauth_folder(
    tmp_path: Path, xoauth2: tuple[Identity, str, XOAuth2Recorder, int]
) -> Iterator[tuple[Folder, Identity]]:
    ident, url, recorder, port = xoauth2
    folder = Folder(tmp_path, recorder, port)
    folder.write_config(
        email=f"""username = "{USER}"
auth = "oauth2"
oauth_provider = "microsoft"
client_id = "{ident.client_id}"
oauth_device_url = "{url}/devicecode"
oauth_token_url = "{url}/token"
"""
    )
    names = ["Acme Ltd", "Beta LLC", "Gamma Co", "Delta Inc"]
    write_workbook(
        folder.workbook,
        [client(name) for name in names],
        [service(date(2026, 3, 2), name, f"Bookkeeping for {name}") for name in names],
    )
    yield folder, ident


def command(folder: Folder, name: str) -> int:
    return main([name, "--workbook", str(folder.workbook)])


def ledger_numbers(folder: Folder) -> list[str]:
    path = folder.root / ".billing" / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT invoice_no FROM invoices")]


def test_run_login_check_and_a_batch_outliving_its_token_leak_no_token(
    oauth_folder: tuple[Folder, Identity], memory_keyring: MemoryKeyring, capfd
) -> None:
    folder, ident = oauth_folder
    ident.rotate = True
    assert command(folder, "login") == 0
    out = capfd.readouterr().out
    assert VERIFICATION_URI in out and USER_CODE in out
    assert "accepted the sign-in (nothing was sent)" in out
    assert command(folder, "check") == 0
    said = capfd.readouterr().out  # check signs in to the mail server as the run does
    assert (
        f"accepted the login for {USER} with the sign-in at Microsoft 365 (kept in the OS "
        "keyring); nothing was sent." in said
    )
    assert folder.received == []
    # The token expires after the second invoice: the server refuses it from then on.
    folder.recorder.after_message = lambda n: ident.expire_access() if n == 2 else None
    grants = len(ident.grants)
    assert folder.run("--as-of", AS_OF) == 0
    out += capfd.readouterr().out
    assert ident.grants[grants:] == ["refresh_token", "refresh_token"]  # at start, mid-batch

    received = folder.received
    assert len(received) == 4 and len(set(folder.recorder.message_ids)) == 4
    assert sorted(ledger_numbers(folder)) == [f"INV-2026-000{n}" for n in range(1, 5)]
    assert folder.run("--as-of", AS_OF) == 0  # a second run sends nothing twice
    captured = capfd.readouterr()
    out += captured.out + captured.err
    assert len(folder.received) == 4

    secrets = [t for t in ident.issued if not t.startswith("CODE")]
    secrets += [base64.b64encode(f"user={USER}\x01auth=Bearer {t}\x01\x01".encode()).decode()
                for t in ident.issued if t.startswith("AT")]  # fmt: skip
    assert memory_keyring.entries[(KEYRING_SERVICE, USER)] in ident.refresh_tokens
    written = [p for p in folder.root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in written) and any(p.suffix == ".sqlite" for p in written)
    for path in written:
        data = path.read_bytes()
        leaked = [s for s in secrets if s.encode() in data]
        assert not leaked, f"{path} holds a token"
    assert not [s for s in secrets if s in out]


def test_without_a_keyring_only_the_token_file_holds_the_refresh_token(
    oauth_folder: tuple[Folder, Identity], no_keyring: None, capfd
) -> None:
    folder, ident = oauth_folder
    ident.rotate = True
    assert command(folder, "login") == 0
    assert folder.run("--as-of", AS_OF) == 0
    out = capfd.readouterr().out
    assert len(folder.received) == 4
    token_file = folder.root / ".billing" / "oauth-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    current, _ = TokenStore(USER, folder.root / ".billing").load()
    assert current in ident.refresh_tokens  # the rotated one was kept
    for path in folder.root.rglob("*"):
        if path.is_file() and path != token_file:
            assert not [t for t in ident.issued if t.encode() in path.read_bytes()], path
    assert not [t for t in ident.issued if t in out]


def test_a_revoked_sign_in_sends_nothing_and_numbers_nothing(
    oauth_folder: tuple[Folder, Identity], memory_keyring: MemoryKeyring, capfd
) -> None:
    folder, ident = oauth_folder
    memory_keyring.entries[(KEYRING_SERVICE, USER)] = ident.seed()
    ident.revoke()
    before = folder.workbook.read_bytes()
    assert folder.run("--as-of", AS_OF) == 2
    out = capfd.readouterr().out
    assert "sign in again with `run_billing.py login`" in out
    assert folder.received == [] and ledger_numbers(folder) == []
    assert folder.workbook.read_bytes() == before
    assert command(folder, "check") == 2
    assert SIGN_IN_AGAIN in capfd.readouterr().out
    assert main(["--as-of", AS_OF, "--dry-run", "--workbook", str(folder.workbook)]) == 2
    assert SIGN_IN_AGAIN in capfd.readouterr().out  # the dry run stops as the run does


def test_check_and_run_without_any_sign_in(oauth_folder: tuple[Folder, Identity], capfd) -> None:
    """No stored sign-in: check and --dry-run stop as the run does (exit 2, the same words:
    no environment supplies a sign-in), once, saying how to sign in."""
    folder, _ident = oauth_folder
    said = []
    for args in (["check"], ["--as-of", AS_OF, "--dry-run"], ["--as-of", AS_OF]):
        assert main([*args, "--workbook", str(folder.workbook)]) == 2
        out = " ".join(capfd.readouterr().out.split())
        assert out.count("no sign-in is stored for billing@ledgerwise.example") == 1
        assert "`run_billing.py login`" in out and "scheduled run whose" not in out
        said.append(out[out.index("Cannot run:") :])
    assert said[0] == said[1] == said[2]
    assert folder.received == [] and ledger_numbers(folder) == []


def test_no_sign_in_without_a_keyring_says_how_a_scheduled_job_gets_one(
    identity: tuple[Identity, str], no_keyring: None, tmp_path: Path
) -> None:
    _ident, url = identity
    with pytest.raises(SignInRefused) as caught:
        SignIn(oauth_email(url), tmp_path).renew()
    assert "cannot reach an OS keyring" in str(caught.value)
    assert "PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring" in str(caught.value)


def test_login_refuses_password_folders(folder: Folder, capfd) -> None:
    assert command(folder, "login") == 2
    assert 'set auth = "oauth2"' in capfd.readouterr().out


def test_a_google_folder_without_its_secret_stops_before_numbering(
    oauth_folder: tuple[Folder, Identity], capfd
) -> None:
    folder, _ident = oauth_folder
    text = (folder.root / "billing.toml").read_text()
    text = text.replace('"microsoft"', '"google"').replace(
        "oauth_device_url", 'client_secret_env = "TEST_NO_SUCH_SECRET"\n# oauth_device_url'
    )
    (folder.root / "billing.toml").write_text(text)
    assert "TEST_NO_SUCH_SECRET" not in os.environ
    assert folder.run("--as-of", AS_OF) == 2
    assert "set the environment variable TEST_NO_SUCH_SECRET" in capfd.readouterr().out
    assert ledger_numbers(folder) == []


def test_google_login_from_the_command_line(
    oauth_folder: tuple[Folder, Identity], memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch, capfd,
) -> None:  # fmt: skip
    folder, ident = oauth_folder
    ident.client_secret = "desktop-secret"
    monkeypatch.setenv("TEST_GOOGLE_SECRET", "desktop-secret")
    text = (folder.root / "billing.toml").read_text()
    text = text.replace('"microsoft"', '"google"').replace(
        "oauth_device_url", 'client_secret_env = "TEST_GOOGLE_SECRET"\n# oauth_device_url'
    )
    (folder.root / "billing.toml").write_text(text)
    browser = Browser(ident)
    monkeypatch.setattr("webbrowser.open", browser)
    assert command(folder, "login") == 0
    out = capfd.readouterr().out
    assert "Opening the Google sign-in page" in out and "accepted the sign-in" in out
    assert browser.url in out  # the address to open by hand, should no browser open
    assert memory_keyring.entries[(KEYRING_SERVICE, USER)] in ident.refresh_tokens
    assert "desktop-secret" not in out and not [t for t in ident.issued if t in out]
    assert folder.run("--as-of", AS_OF) == 0 and len(folder.received) == 4
