"""A real OAuth 2.0 identity endpoint and an XOAUTH2-only SMTP server, both on 127.0.0.1.

`Identity` speaks the device-code grant (RFC 8628), the refresh grant (RFC
6749 section 6, with rotation and revocation) and the authorization-code grant
with PKCE (RFC 7636), checking every field a real provider checks. The SMTP
handler offers only `AUTH XOAUTH2` and accepts only access tokens the identity
endpoint still considers valid, so a test can make tokens expire mid-batch.

>>> identity = Identity()
>>> with running_identity(identity) as base_url:
...     pass  # oauth_device_url = base_url + "/devicecode", oauth_token_url = base_url + "/token"
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.smtp import AuthResult
from smtp_servers import Recorder

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE = "WDJB-MJHT"
VERIFICATION_URI = "https://microsoft.com/devicelogin"


def new_token(kind: str) -> str:
    return f"{kind}-{secrets.token_urlsafe(18)}"


@dataclass
class Identity:
    """A scripted identity provider.

    Attributes:
      slow_down / pending: how many device-code polls get `slow_down`, then
        `authorization_pending`, before the outcome.
      device_outcome: "ok", or the error the device grant ends with
        ("access_denied", "expired_token").
      rotate: every refresh returns a new refresh token and retires the old one.
      client_secret: required from the client when set.
    """

    client_id: str = "billing-app-id"
    client_secret: str = ""
    interval: int = 1
    slow_down: int = 0
    pending: int = 0
    device_outcome: str = "ok"
    expires_in: int = 3600
    device_expires_in: int = 900  # how long a device code may wait for the sign-in
    rotate: bool = False
    refresh_tokens: set[str] = field(default_factory=set)
    valid_access: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)  # every token and code handed out
    grants: list[str] = field(default_factory=list)
    device_codes: set[str] = field(default_factory=set)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a test does to the provider --

    def seed(self) -> str:
        """A refresh token as a past `login` would have stored it."""
        token = new_token("RT")
        with self.lock:
            self.refresh_tokens.add(token)
            self.issued.append(token)
        return token

    def revoke(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    def expire_access(self) -> None:
        with self.lock:
            self.valid_access.clear()

    def authorize(self, challenge: str, redirect_uri: str) -> str:
        """What the provider's sign-in page does: hand the browser a code bound to PKCE."""
        code = new_token("CODE")
        with self.lock:
            self.codes[code] = (challenge, redirect_uri)
            self.issued.append(code)
        return code

    # -- the endpoint --

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if form.get("client_id") != self.client_id:
                return 401, {"error": "invalid_client", "error_description": "unknown client"}
            if self.client_secret and form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client", "error_description": "bad secret"}
            if path == "/devicecode":
                return self._device_code(form)
            if path != "/token":
                return 404, {"error": "not_found"}
            grant = form.get("grant_type", "")
            self.grants.append(grant)
            if grant == DEVICE_GRANT:
                return self._poll(form)
            if grant == "refresh_token":
                return self._refresh(form)
            if grant == "authorization_code":
                return self._code(form)
            return 400, {"error": "unsupported_grant_type"}

    def _device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if "offline_access" not in form.get("scope", "").split():
            return 400, {"error": "invalid_scope", "error_description": "offline_access missing"}
        code = new_token("DC")
        self.device_codes.add(code)
        self.issued.append(code)
        return 200, {
            "device_code": code,
            "user_code": USER_CODE,
            "verification_uri": VERIFICATION_URI,
            "expires_in": self.device_expires_in,
            "interval": self.interval,
            "message": f"To sign in, open {VERIFICATION_URI} and enter {USER_CODE}.",
        }

    def _poll(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("device_code") not in self.device_codes:
            return 400, {"error": "invalid_grant", "error_description": "unknown device code"}
        if self.slow_down:
            self.slow_down -= 1
            return 400, {"error": "slow_down"}
        if self.pending:
            self.pending -= 1
            return 400, {"error": "authorization_pending", "error_description": "waiting"}
        if self.device_outcome != "ok":
            return 400, {"error": self.device_outcome, "error_description": "no sign-in"}
        self.device_codes.discard(form["device_code"])
        return 200, self._issue(with_refresh=True)

    def _refresh(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        token = form.get("refresh_token", "")
        if token not in self.refresh_tokens:
            # Real providers are not always careful: this one echoes what it got.
            return 400, {
                "error": "invalid_grant",
                "error_description": f"AADSTS70008: The refresh token {token} has expired "
                "or been revoked.\r\nTrace ID: 1234",
            }
        if self.rotate:
            self.refresh_tokens.discard(token)
        return 200, self._issue(with_refresh=self.rotate)

    def _code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        bound = self.codes.pop(form.get("code", ""), None)
        if bound is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown code"}
        challenge, redirect_uri = bound
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE check failed"}
        if form.get("redirect_uri") != redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        return 200, self._issue(with_refresh=True)

    def _issue(self, with_refresh: bool) -> dict[str, Any]:
        access = new_token("AT")
        self.valid_access.add(access)
        self.issued.append(access)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.expires_in,
        }
        if with_refresh:
            refresh = new_token("RT")
            self.refresh_tokens.add(refresh)
            self.issued.append(refresh)
            answer["refresh_token"] = refresh
        return answer


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        identity: Identity = self.server.identity  # type: ignore[attr-defined]
        status, answer = identity.answer(self.path, form)
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def running_identity(identity: Identity) -> Iterator[str]:
    """Serve `identity` on 127.0.0.1 for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.identity = identity  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class XOAuth2Recorder(Recorder):
    """An SMTP handler that offers only XOAUTH2 and takes only currently valid tokens.

    Attributes:
      stale_reply: what a MAIL on a session whose token the identity endpoint
        no longer accepts gets (530 keeps the session, 421 makes smtplib hang up).
      presented: every token offered in AUTH, in order.
    """

    identity: Identity = field(default_factory=Identity)
    username: str = "billing@ledgerwise.example"
    stale_reply: str = "530 5.7.0 Authentication required"
    presented: list[str] = field(default_factory=list)
    after_message: Any = None  # called with the message count after each DATA

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        raw = base64.b64decode(args[1]).decode() if len(args) == 2 else ""
        user, _, rest = raw.partition("\x01auth=Bearer ")
        token = rest.removesuffix("\x01\x01")
        self.presented.append(token)
        with self.identity.lock:
            ok = user == f"user={self.username}" and token in self.identity.valid_access
        if ok:
            return AuthResult(success=True, auth_data=token)
        # RFC 7628: an error challenge, the client's empty answer, then 535.
        error = json.dumps({"status": "401", "schemes": "bearer"}).encode()
        reply = await server.challenge_auth(error)
        assert reply == b"", "the client must answer an XOAUTH2 error challenge with nothing"
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")  # fmt: skip

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.identity.lock:  # also refuses a session that never signed in
            stale = session.auth_data not in self.identity.valid_access
        if stale:
            return self.stale_reply
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.after_message is not None:
            self.after_message(len(self.received))
        return reply


#: aiosmtpd options for a server that offers XOAUTH2 and nothing else.
XOAUTH2_ONLY = {
    "auth_exclude_mechanism": ["LOGIN", "PLAIN"],
    "auth_require_tls": False,
}
