"""What the Pro Santé Connect tests share: paths, a browser-like httpx client whose
relying-party callbacks are captured, PKCE, and the sandbox drivers of the second factor."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from jose import jwt

from tests.support import Sandbox

REALM = "/auth/realms/esante-wallet"
OIDC = f"{REALM}/protocol/openid-connect"
TOKEN = f"{OIDC}/token"
INTROSPECT = f"{OIDC}/token/introspect"
REVOKE = f"{OIDC}/revoke"
USERINFO = f"{OIDC}/userinfo"
LOGOUT = f"{OIDC}/logout"
CERTS = f"{OIDC}/certs"
CIBA = f"{OIDC}/ext/ciba/auth"
AUTHORIZE = "/wallet/auth"

DPI = ("dpi-valmont", "dpi-valmont-secret")
DPI_CALLBACK = "http://localhost:3000/callback"
LGO = ("lgo-officine", "lgo-officine-secret")
LGO_CALLBACK = "http://localhost:3001/callback"
MOBILE = "lgc-mobile"
MOBILE_CALLBACK = "http://127.0.0.1:8765/callback"
DMP_SERVICE = ("mes-sandbox-dmp", "dmp-service-secret")
#: Where the relying parties of the personas listen: captured, never contacted.
RP_ORIGINS = ("http://localhost:3000", "http://localhost:3001", "http://127.0.0.1:8765")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


def query_of(url: str | httpx.URL) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(url)).query).items()}


@dataclass
class Browser:
    """A person's browser: follows redirects through the real pages, keeps cookies, and
    stops at the relying party's callback (recorded in :attr:`callbacks`)."""

    sb: Sandbox
    callbacks: list[httpx.URL] = field(default_factory=list)

    def __post_init__(self) -> None:
        def relying_party(request: httpx.Request) -> httpx.Response:
            self.callbacks.append(request.url)
            return httpx.Response(200, text="callback received")

        rp = httpx.MockTransport(relying_party)
        self.http = httpx.Client(
            base_url=self.sb.url("psc_auth"),
            follow_redirects=True,
            timeout=30.0,
            mounts={origin: rp for origin in RP_ORIGINS},
        )

    def close(self) -> None:
        self.http.close()

    @property
    def last_callback(self) -> dict[str, str]:
        assert self.callbacks, "the relying party was never called back"
        return query_of(self.callbacks[-1])

    def authorize(self, **params: str) -> httpx.Response:
        query = {
            "response_type": "code",
            "client_id": DPI[0],
            "redirect_uri": DPI_CALLBACK,
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_hex(16),
            **params,
        }
        return self.http.get(AUTHORIZE, params={k: v for k, v in query.items() if v is not None})

    @staticmethod
    def login_base(page: httpx.Response) -> str:
        match = re.search(r"(/wallet/login/[0-9a-f-]{36})", str(page.url))
        assert match, f"not a login page: {page.url}"
        return match.group(1)

    def identify(self, page: httpx.Response, identifier: str) -> httpx.Response:
        return self.http.post(f"{self.login_base(page)}/identifiant", data={"identifiant": identifier})

    def pin(self, page: httpx.Response, pin: str) -> httpx.Response:
        return self.http.post(f"{self.login_base(page)}/carte", data={"pin": pin})

    def card_login(
        self, identifier: str = "899700112545", pin: str = "1234", **params: str
    ) -> dict[str, str]:
        """The whole journey with the CPS card; the query the relying party received."""
        page = self.authorize(**params)
        assert page.status_code == 200, page.text
        self.identify(page, identifier)
        done = self.pin(page, pin)
        assert done.status_code == 200 and done.text == "callback received", done.text
        return self.last_callback


def exchange(
    sb: Sandbox, code: str, *, client: tuple[str, str] = DPI, redirect_uri: str = DPI_CALLBACK, **extra: str
) -> httpx.Response:
    return sb.client("psc_auth").post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra},
        auth=client,
    )


def introspect(sb: Sandbox, token: str, creds: tuple[str, str] = DMP_SERVICE) -> dict[str, Any]:
    answer = sb.client("psc_auth").post(INTROSPECT, data={"token": token}, auth=creds)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def pending_pushes(sb: Sandbox, professional: str | None = None) -> list[dict[str, Any]]:
    params = {"professional": professional} if professional else {}
    answer = sb.admin("psc_auth", "GET", "ecps/pending", params=params)
    assert answer.status_code == 200, answer.text
    pushes: list[dict[str, Any]] = answer.json()
    return pushes


def totp(sb: Sandbox, professional: str) -> str:
    answer = sb.admin("psc_auth", "GET", f"professionals/{professional}/totp")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["code"])


def advance_clock(sb: Sandbox, seconds: float) -> None:
    assert sb.admin("psc_auth", "POST", "clock", json={"advance": seconds}).status_code == 200
