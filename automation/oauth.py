"""OAuth 2.0 sign-in for sending through Microsoft 365 and Google mail (SASL XOAUTH2).

`login` signs the sending mailbox in once (Microsoft: the device-code flow,
RFC 8628; Google: the installed-app flow with a loopback redirect and PKCE,
RFC 8252 / RFC 7636) and keeps the refresh token in the OS keyring, or where
there is none in `.billing/oauth-token`, readable by the owner only. Every run
that sends exchanges it for an access token (RFC 6749 section 6), keeping a
rotated refresh token, and the SMTP sender signs in with XOAUTH2:

>>> xoauth2_string("billing@ledgerwise.example", "t0k")
'user=billing@ledgerwise.example\\x01auth=Bearer t0k\\x01\\x01'

Tokens are secrets: no record shows them in its repr, no message or exception
carries them, and answers from the sign-in service are reduced to their error
code and first line of description before anyone sees them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import json
import logging
import os
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .config import EmailConfig, endpoint_problem, is_loopback
from .text import hide_secrets

log = logging.getLogger(__name__)

SIGN_IN_AGAIN = "sign in again with `run_billing.py login`"
KEYRING_SERVICE = "billing-automation"
TOKEN_FILE = "oauth-token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Refresh this long before the access token runs out, so no message meets an expired one.
REFRESH_MARGIN = 300.0
#: How long `login` waits for the browser to come back (Google's loopback flow).
BROWSER_WAIT = 600.0
HTTP_TIMEOUT = 30.0
#: Error codes that mean the stored sign-in itself is no longer good.
REFUSED_CODES = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)


@dataclass(frozen=True)
class Provider:
    """Where a provider signs in. `{tenant}` is filled from `[email] tenant`."""

    title: str
    scope: str
    token_url: str
    device_url: str = ""
    auth_url: str = ""


PROVIDERS = {
    "microsoft": Provider(
        title="Microsoft 365",
        scope="https://outlook.office.com/SMTP.Send offline_access",
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        device_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
    ),
    "google": Provider(
        title="Google",
        scope="https://mail.google.com/",
        token_url="https://oauth2.googleapis.com/token",
        auth_url="https://accounts.google.com/o/oauth2/v2/auth",
    ),
}


class OAuthError(Exception):
    """The sign-in cannot be used: unreachable service, bad answer, app not accepted (exit 2)."""


class SignInRefused(OAuthError):
    """The sign-in was refused, expired or revoked: the bookkeeper must sign in again."""


@dataclass(frozen=True)
class Endpoints:
    """Everything one grant needs: the provider's endpoints and this app's identity."""

    provider: str
    title: str
    username: str
    client_id: str
    scope: str
    token_url: str
    device_url: str
    auth_url: str
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Tokens:
    """What a grant returned. Times are on the `time.monotonic` clock."""

    access_token: str = field(repr=False)
    expires_at: float
    issued_at: float
    refresh_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class DeviceCode:
    """RFC 8628 section 3.2: what the bookkeeper types, and where."""

    user_code: str
    verification_uri: str
    expires_in: int
    interval: int
    device_code: str = field(repr=False)


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response, before base64 (smtplib encodes it)."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def endpoints_for(cfg: EmailConfig) -> Endpoints:
    """The endpoints and client for `[email]`; the secret comes from the environment."""
    if cfg.oauth_provider not in PROVIDERS:
        raise OAuthError(
            '[email] oauth_provider must be "microsoft" or "google" for auth = "oauth2".'
        )
    provider = PROVIDERS[cfg.oauth_provider]
    secret = ""
    if cfg.client_secret_env:
        secret = os.environ.get(cfg.client_secret_env, "")
        if not secret:
            raise OAuthError(
                f"the client secret is missing: set the environment variable "
                f"{cfg.client_secret_env} (named by client_secret_env in [email]) for this "
                "command and for the scheduled run."
            )
    return Endpoints(
        provider=cfg.oauth_provider,
        title=provider.title,
        username=cfg.username,
        client_id=cfg.client_id.strip(),
        scope=provider.scope,
        token_url=cfg.oauth_token_url or provider.token_url.format(tenant=cfg.tenant),
        device_url=cfg.oauth_device_url or provider.device_url.format(tenant=cfg.tenant),
        auth_url=provider.auth_url,
        client_secret=secret,
    )


# -- talking to the sign-in service ---------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A token endpoint never redirects; following one could carry a refresh token elsewhere.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_form(url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a form to a sign-in endpoint; its JSON answer, errors included (`error` key).

    Raises OAuthError when the service cannot be reached or answers something
    other than OAuth JSON. Nothing from the form ever goes into a message.
    """
    host = urlsplit(url).hostname or url
    problem = endpoint_problem(url)
    if problem:
        raise OAuthError(f"the sign-in address {url} {problem}.")
    handlers: list[Any] = [
        _NoRedirect(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    ]
    if is_loopback(host):
        handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach our loopback
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url,
        data=urlencode(form).encode("ascii"),
        headers={"Accept": "application/json", "User-Agent": "billing-automation"},
        method="POST",
    )
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            status, body = response.status, response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(1_000_000)
        exc.close()
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        why = "no answer in time" if isinstance(reason, TimeoutError) else reason
        raise OAuthError(f"cannot reach the sign-in service at {host}: {why}.") from None
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict) or (status != 200 and not isinstance(answer.get("error"), str)):
        raise OAuthError(
            f"the sign-in service at {host} gave an unexpected answer (HTTP {status}); "
            "check oauth_token_url / oauth_device_url in [email]."
        )
    return answer


def describe_error(answer: dict[str, Any], *hide: str) -> str:
    """`code: first line of the description`, shortened, with any secret blanked out.

    >>> describe_error({"error": "invalid_grant", "error_description": "AADSTS7: expired.\\r\\nId"})
    'invalid_grant: AADSTS7: expired.'
    """
    code = str(answer.get("error", ""))
    code = code if re.fullmatch(r"[A-Za-z0-9_.:-]{1,60}", code) else "error"
    text = str(answer.get("error_description") or "")
    text = hide_secrets(text, *hide)  # before shortening: no piece of a secret survives the cut
    lines = text.strip().splitlines()
    text = lines[0][:200] if lines else ""
    return f"{code}: {text}" if text else code


def _tokens(answer: dict[str, Any], host: str, clock: Callable[[], float]) -> Tokens:
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuthError(f"the sign-in service at {host} sent no access token.")
    token_type = str(answer.get("token_type", "Bearer"))
    if token_type.lower() != "bearer":
        raise OAuthError(f"the sign-in service at {host} sent a {token_type!r} token, not Bearer.")
    try:
        lifetime = float(answer.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    refresh = answer.get("refresh_token")
    now = clock()
    return Tokens(access, now + lifetime, now, refresh if isinstance(refresh, str) else "")


def _client(ep: Endpoints) -> dict[str, str]:
    form = {"client_id": ep.client_id}
    if ep.client_secret:
        form["client_secret"] = ep.client_secret
    return form


def refresh_tokens(
    ep: Endpoints, refresh_token: str, clock: Callable[[], float] = time.monotonic
) -> Tokens:
    """RFC 6749 section 6: a new access token (and maybe a rotated refresh token)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **_client(ep)}
    if ep.provider == "microsoft":
        form["scope"] = ep.scope  # Microsoft's v2 endpoint wants it on every grant
    answer = post_form(ep.token_url, form)
    host = urlsplit(ep.token_url).hostname or ep.token_url
    if "error" in answer:
        why = describe_error(answer, refresh_token, ep.client_secret)
        if str(answer["error"]) in REFUSED_CODES:
            raise SignInRefused(
                f"{ep.title} refused the stored sign-in for {ep.username} ({why}); "
                f"it has expired or was revoked: {SIGN_IN_AGAIN}."
            )
        raise OAuthError(
            f"{ep.title} did not accept the sign-in for {ep.username} ({why}); check client_id, "
            f"tenant and the app registration, then {SIGN_IN_AGAIN}."
        )
    return _tokens(answer, host, clock)


# -- login: Microsoft's device code ------------------------------------------------


def request_device_code(ep: Endpoints) -> DeviceCode:
    """RFC 8628 section 3.1: ask for a code the bookkeeper enters in any browser."""
    if not ep.device_url:
        raise OAuthError(f"{ep.title} has no device-code sign-in here; set oauth_device_url.")
    answer = post_form(ep.device_url, {**_client(ep), "scope": ep.scope})
    if "error" in answer:
        raise OAuthError(
            f"{ep.title} would not start the sign-in ({describe_error(answer, ep.client_secret)}); "
            "check client_id and tenant in [email] and that the app registration allows "
            "public client flows."
        )
    try:
        return DeviceCode(
            user_code=str(answer["user_code"]),
            # Google's older device endpoint says verification_url.
            verification_uri=str(answer.get("verification_uri") or answer["verification_url"]),
            expires_in=int(answer.get("expires_in", 900)),
            interval=max(1, int(answer.get("interval", 5))),
            device_code=str(answer["device_code"]),
        )
    except (KeyError, TypeError, ValueError):
        raise OAuthError(f"{ep.title} sent an incomplete device-code answer.") from None


def wait_for_device_sign_in(
    ep: Endpoints,
    code: DeviceCode,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tokens:
    """RFC 8628 section 3.4/3.5: poll at the server's interval until the sign-in ends."""
    interval = float(code.interval)
    deadline = clock() + code.expires_in
    host = urlsplit(ep.token_url).hostname or ep.token_url
    form = {"grant_type": DEVICE_GRANT, "device_code": code.device_code, **_client(ep)}
    while True:
        sleep(interval)
        if clock() > deadline:
            raise SignInRefused(f"the code {code.user_code} expired before the sign-in finished; "
                                "run `run_billing.py login` again.")  # fmt: skip
        answer = post_form(ep.token_url, form)
        error = answer.get("error")
        if error is None:
            tokens = _tokens(answer, host, clock)
            if not tokens.refresh_token:
                raise OAuthError(
                    f"{ep.title} signed in but gave no refresh token, so a scheduled run could "
                    "not sign in by itself; check that the app may use offline_access."
                )
            return tokens
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5: every slow_down adds five seconds
            continue
        if error == "expired_token":
            raise SignInRefused(f"the code {code.user_code} expired before the sign-in finished; "
                                "run `run_billing.py login` again.")  # fmt: skip
        if error in ("access_denied", "authorization_declined"):
            raise SignInRefused(
                "the sign-in was declined in the browser; nothing was stored. Run "
                "`run_billing.py login` again and accept the permission to send mail."
            )
        raise OAuthError(
            f"{ep.title} ended the sign-in: "
            f"{describe_error(answer, code.device_code, ep.client_secret)}."
        )


# -- login: Google's installed-app flow with a loopback redirect --------------------


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    """Answers the browser's return to http://127.0.0.1:<port>/ and keeps the query."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        if "state" not in query:
            self.send_error(404)  # e.g. /favicon.ico
            return
        server = self.server
        assert isinstance(server, _RedirectServer)
        server.result = {k: v[0] for k, v in query.items()}
        ok = "code" in query
        page = (
            "Signed in. You can close this window and go back to the billing tool."
            if ok
            else "The sign-in did not finish. Go back to the billing tool for details."
        )
        body = f"<!doctype html><title>Billing sign-in</title><p>{page}</p>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the query holds the authorization code: never printed


class _RedirectServer(http.server.HTTPServer):
    result: dict[str, str] | None = None


def _pkce_pair() -> tuple[str, str]:
    """RFC 7636: a random verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_in_in_browser(
    ep: Endpoints,
    open_browser: Callable[[str], object],
    say: Callable[[str], None],
    wait: float = BROWSER_WAIT,
    clock: Callable[[], float] = time.monotonic,
) -> Tokens:
    """RFC 8252: open the sign-in page, catch its redirect on loopback, trade the code."""
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(24)
    with _RedirectServer(("127.0.0.1", 0), _RedirectHandler) as server:
        server.timeout = 0.5
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"
        url = ep.auth_url + "?" + urlencode({
            "client_id": ep.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ep.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",  # Google sends a refresh token only with consent
            "login_hint": ep.username,
        })  # fmt: skip
        say(
            f"Opening the {ep.title} sign-in page in your browser. Sign in as {ep.username} and "
            f"allow sending mail. If no browser opens, open this address yourself:\n{url}"
        )
        open_browser(url)
        deadline = clock() + wait
        while server.result is None:
            if clock() > deadline:
                raise SignInRefused("no answer from the browser in time; nothing was stored. "
                                    "Run `run_billing.py login` again.")  # fmt: skip
            server.handle_request()
        result = server.result
    if result.get("state") != state:
        raise OAuthError("the browser came back with a sign-in this run did not start; try again.")
    if "code" not in result:
        error = describe_error(result)
        if result.get("error") == "access_denied":
            raise SignInRefused(f"the sign-in was declined in the browser ({error}); nothing "
                                "was stored. Run `run_billing.py login` again.")  # fmt: skip
        raise OAuthError(f"{ep.title} ended the sign-in: {error}.")
    form = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        **_client(ep),
    }
    answer = post_form(ep.token_url, form)
    if "error" in answer:
        why = describe_error(answer, result["code"], verifier, ep.client_secret)
        raise OAuthError(f"{ep.title} would not complete the sign-in ({why}).")
    tokens = _tokens(answer, urlsplit(ep.token_url).hostname or ep.token_url, clock)
    if not tokens.refresh_token:
        raise OAuthError(
            f"{ep.title} signed in but gave no refresh token; remove the app's access at "
            "myaccount.google.com/permissions and run `run_billing.py login` again."
        )
    return tokens


# -- where the refresh token lives ----------------------------------------------------


def _usable_keyring() -> Any:
    """The keyring module when a real backend is available, else None."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration is no keyring
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    return keyring


@dataclass(frozen=True)
class TokenStore:
    """The refresh token of one mailbox: OS keyring (service `billing-automation`,
    user = the username), or `<billing>/oauth-token` with 0600 permissions."""

    username: str
    billing_dir: Path

    @property
    def file(self) -> Path:
        return self.billing_dir / TOKEN_FILE

    def load(self) -> tuple[str, str]:
        """(the stored refresh token, where it is), or ("", "") when there is none."""
        keyring = _usable_keyring()
        if keyring is not None:
            try:
                value = keyring.get_password(KEYRING_SERVICE, self.username)
            except Exception as exc:  # locked or unreachable: try the file
                log.warning("the OS keyring cannot be read (%s)", type(exc).__name__)
                value = None
            if value:
                return str(value), "the OS keyring"
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "", ""
        if not isinstance(data, dict):  # `null`, a list: no sign-in stored, as for no file
            return "", ""
        token = data.get("refresh_token")
        if data.get("username") != self.username or not isinstance(token, str) or not token:
            return "", ""
        return token, str(self.file)

    def save(self, refresh_token: str) -> str:
        """Store the token; says where ("the OS keyring" or the file's path)."""
        keyring = _usable_keyring()
        if keyring is not None:
            try:
                keyring.set_password(KEYRING_SERVICE, self.username, refresh_token)
            except Exception as exc:
                log.warning("the OS keyring cannot be written (%s)", type(exc).__name__)
            else:
                self.file.unlink(missing_ok=True)  # an older copy must not outlive this one
                return "the OS keyring"
        self._write_file(refresh_token)
        return str(self.file)

    def _write_file(self, refresh_token: str) -> None:
        self.billing_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"username": self.username, "refresh_token": refresh_token})
        partial = self.file.with_name(f"{TOKEN_FILE}.{os.getpid()}.part")
        partial.unlink(missing_ok=True)
        # Created 0600 from the first byte: never readable by others, not even briefly.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(partial, 0o600)
            os.replace(partial, self.file)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


# -- the sign-in a run uses -----------------------------------------------------------


class SignIn:
    """Hands the SMTP sender a current access token, refreshing it as needed.

    The first `current()` refreshes (the run's check before anything is
    numbered); later calls refresh only when the token is within
    REFRESH_MARGIN of its end, so a long batch re-authenticates in time.
    Connections on several threads may share one: a refresh happens once, so
    a provider that retires each refresh token as it rotates sees no reuse.
    """

    def __init__(
        self,
        cfg: EmailConfig,
        billing_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoints = endpoints_for(cfg)
        self.store = TokenStore(cfg.username, billing_dir)
        self.clock = clock
        self._tokens: Tokens | None = None
        self._lock = threading.RLock()
        #: Where the refresh token was found: "the OS keyring" or the file's path.
        self.place = ""

    @property
    def username(self) -> str:
        return self.endpoints.username

    def expiring(self) -> bool:
        """True when the next message should go out on a freshly signed-in connection."""
        tokens = self._tokens
        if tokens is None:
            return True
        # A token that lives only minutes would otherwise be renewed before every message.
        margin = min(REFRESH_MARGIN, (tokens.expires_at - tokens.issued_at) / 4)
        return tokens.expires_at - margin <= self.clock()

    def current(self) -> tuple[str, bool]:
        """(access token, whether it was obtained just now)."""
        with self._lock:
            if self.expiring():
                return self.renew(), True
            assert self._tokens is not None
            return self._tokens.access_token, False

    def renew(self, refused: str = "") -> str:
        """Refresh now, because the server refused the token `refused` (or we must).

        Another connection may have renewed it meanwhile: then that token is used.
        Keeps a rotated refresh token.
        """
        with self._lock:
            tokens = self._tokens
            if refused and tokens is not None and tokens.access_token != refused:
                return tokens.access_token
            return self._refresh()

    def _refresh(self) -> str:
        ep = self.endpoints
        refresh_token, self.place = self.store.load()
        if not refresh_token:
            looked = "the OS keyring and " if _usable_keyring() is not None else ""
            hint = (
                ""
                if looked
                else " This process cannot reach an OS keyring (a scheduled job often cannot "
                "reach the desktop's): sign in with PYTHON_KEYRING_BACKEND="
                "keyring.backends.null.Keyring set, and set it for the scheduled job too, "
                "so both use the file."
            )
            raise SignInRefused(
                f"no sign-in is stored for {ep.username} (looked in {looked}"
                f"{self.store.file}): {SIGN_IN_AGAIN}.{hint}"
            )
        tokens = refresh_tokens(ep, refresh_token, self.clock)
        if tokens.refresh_token and tokens.refresh_token != refresh_token:
            self.place = self.store.save(tokens.refresh_token)
            log.info("the sign-in service rotated the refresh token; kept in %s", self.place)
        self._tokens = tokens
        minutes = max(0, int((tokens.expires_at - self.clock()) // 60))
        log.info("signed in as %s at %s (access valid %d min)", ep.username, ep.title, minutes)
        return tokens.access_token

    def hidden(self) -> tuple[str, ...]:
        """What must never be shown: the access token, raw and as the XOAUTH2 response."""
        if self._tokens is None:
            return ()
        raw = xoauth2_string(self.username, self._tokens.access_token)
        return (self._tokens.access_token, base64.b64encode(raw.encode()).decode("ascii"))


def login(
    cfg: EmailConfig,
    billing_dir: Path,
    say: Callable[[str], None],
    open_browser: Callable[[str], object],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Sign the mailbox in interactively and store the refresh token; says where it went."""
    ep = endpoints_for(cfg)
    if ep.provider == "microsoft":
        code = request_device_code(ep)
        minutes = max(1, code.expires_in // 60)
        wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
        say(
            f"To sign {ep.username} in to {ep.title}, open {code.verification_uri} in any "
            f"browser (on this computer or your phone) and enter the code {code.user_code}. "
            f"Sign in as {ep.username} and accept. Waiting up to {wait}..."
        )
        tokens = wait_for_device_sign_in(ep, code, sleep)
    else:
        tokens = sign_in_in_browser(ep, open_browser, say)
    return TokenStore(cfg.username, billing_dir).save(tokens.refresh_token)
