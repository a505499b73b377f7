"""Helpers of Mon espace santé's tests: tokens, introspection as the DMP does it, claims."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from tests.support import Sandbox

DMP_CREDENTIALS = ("mes-sandbox-dmp", "dmp-service-secret")
MSS_CREDENTIALS = ("mes-sandbox-mss", "mss-service-secret")


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the tests check what the services verify)."""
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def tokens(sb: Sandbox, **body: Any) -> httpx.Response:
    return sb.admin("catalog", "POST", "tokens", json=body)


def app_tokens(
    sb: Sandbox, patient: str = "dominique-pat-trois", app: str = "ma-balance", **body: Any
) -> dict[str, Any]:
    answer = tokens(sb, patient=patient, actor="app", app=app, **body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def introspect(sb: Sandbox, token: str, credentials: tuple[str, str] = DMP_CREDENTIALS) -> dict[str, Any]:
    answer = sb.client("catalog").post("/oauth/introspect", data={"token": token}, auth=credentials)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def revoke_consent(
    sb: Sandbox, patient: str = "dominique-pat-trois", app: str = "ma-balance"
) -> dict[str, Any]:
    answer = sb.admin("catalog", "POST", "consents/revoke", json={"patient": patient, "app": app})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


PASSWORDS = {
    "dominique-pat-trois": ("279035121518989", "MonEspace-Dominique1"),
    "lucas-pat-trois": ("115055145402386", "MonEspace-Lucas1"),
    "gabriel-fontaine": ("188016912314544", "MonEspace-Gabriel1"),
    "henri-leclerc": ("141037505608915", "MonEspace-Henri1"),
    "claire-leclerc": ("270067505611224", "MonEspace-Claire1"),
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def latest_code(sb: Sandbox, patient: str) -> str:
    answer = sb.admin("catalog", "GET", "one-time-codes", params={"patient": patient})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["codes"][0]["code"])


class Browser:
    """A person's browser on Mon espace santé's pages (cookies kept, redirects by hand)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.http = httpx.Client(base_url=sb.url("catalog"), timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def sign_in(self, person: str, next_url: str = "/espace/", channel: str = "sms") -> httpx.Response:
        """Password, then the one-time code read through /_sandbox: the answer to the code."""
        ins, password = PASSWORDS[person]
        first = self.http.post(
            "/espace/connexion",
            data={"identifiant": ins, "mot_de_passe": password, "canal": channel, "next": next_url},
        )
        assert first.status_code == 303, first.text
        return self.http.post(
            "/espace/connexion/code", data={"code": latest_code(self.sb, person), "next": next_url}
        )

    def csrf(self, page: httpx.Response) -> str:
        found = CSRF.search(page.text)
        assert found, page.text
        return found.group(1)

    def follow(self, response: httpx.Response, limit: int = 10) -> httpx.Response:
        """Follows redirects that stay on Mon espace santé."""
        for _ in range(limit):
            location = response.headers.get("location")
            if response.status_code not in (302, 303) or location is None:
                return response
            if location.startswith("http") and not location.startswith(self.sb.url("catalog")):
                return response
            response = self.http.get(location)
        return response

    def choose_space(self, actor: str, patient: str, next_url: str = "/espace/") -> httpx.Response:
        page = self.http.get("/espace/choisir", params={"next": next_url})
        answer = self.http.post(
            "/espace/choisir",
            data={"espace": f"{actor}:{patient}", "csrf": self.csrf(page), "next": next_url},
        )
        assert answer.status_code == 303, answer.text
        return answer

    def consent(
        self, authorization_url: str, person: str, decision: str, data: list[str] | None = None
    ) -> str:
        """From the app's authorization URL to the redirect back to the app: its Location."""
        answer = self.http.get(authorization_url)
        assert answer.status_code == 302, answer.text
        page_path = answer.headers["location"]
        page = self.follow(answer)
        if "/espace/connexion" in str(page.url):
            self.sign_in(person, next_url=page_path.split("?")[0])
            page = self.http.get(page_path)
        assert page.status_code == 200, page.text
        form = {"decision": decision, "csrf": self.csrf(page), "donnees": data or []}
        back = self.http.post(page_path.split("?")[0], data=form)
        assert back.status_code == 303, back.text
        return back.headers["location"]


def authority(sb: Sandbox, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The referencing authority's calls (guarded by the admin token, like /_sandbox)."""
    return sb.client("catalog").request(method, path, headers=sb.admin_headers, **kwargs)
