"""The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) and its answers.

Errors come in two kinds (RFC 6749 §4.1.2.1): while the client and its redirect URI are not
established, the error is shown to the person (:class:`PageError`), never redirected;
afterwards it goes back to the client as ``error``, ``error_description``, ``state`` and
``iss`` (RFC 9207) on the redirect URI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from services.psc_auth.errors import PageError
from services.psc_auth.registry import Client, Registry
from shared.oauth.pkce import METHODS as PKCE_METHODS

SCOPES = ("openid", "scope_all")
ACR_VALUES = ("eidas1",)
PROMPTS = ("none", "login")
_CODE_CHALLENGE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class AuthRequest:
    client: Client
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None


class RedirectError(Exception):
    """An error the client receives on its redirect URI."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.error = error
        self.description = description
        self.state = state


Fail = Callable[[str, str], RedirectError]


def redirect_to(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """``redirect_uri`` with ``params`` added to its query (§4.1.2: keep its own query)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"


def _single(params: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    repeated: list[str] = []
    for key, value in params:
        if key in values:
            repeated.append(key)
        if value != "":
            values[key] = value
    return values, repeated


def parse(params: Sequence[tuple[str, str]], registry: Registry) -> AuthRequest:
    """The validated request, or :class:`PageError` / :class:`RedirectError`."""
    values, repeated = _single(params)
    client_id = values.get("client_id")
    client = registry.client(client_id) if client_id else None
    if client is None or "client_id" in repeated:
        raise PageError(
            "Logiciel inconnu",
            f"Le logiciel « {client_id or '(aucun)'} » n'est pas enregistré auprès de Pro Santé Connect.",
        )
    redirect_uri = values.get("redirect_uri")
    if not redirect_uri or "redirect_uri" in repeated:
        raise PageError(
            "Adresse de retour manquante", "La demande ne précise pas d'adresse de retour (redirect_uri)."
        )
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            "Adresse de retour non enregistrée",
            f"L'adresse de retour « {redirect_uri} » n'est pas enregistrée pour le logiciel {client.name}.",
        )
    state = values.get("state")

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, error, description, state)

    if repeated:
        raise fail("invalid_request", f"parameters sent more than once: {', '.join(sorted(set(repeated)))}")
    if "request" in values:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in values:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    response_type = values.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "code":
        raise fail(
            "unsupported_response_type", "only the authorization code flow (response_type=code) is supported"
        )
    if values.get("response_mode", "query") != "query":
        raise fail("invalid_request", "only response_mode=query is supported")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "this client may not use the authorization code flow")
    scope = _scope(values.get("scope", ""), fail)
    _acr(values.get("acr_values"), fail)
    code_challenge = _pkce(client, values, fail)
    prompt = frozenset(values.get("prompt", "").split())
    if not prompt <= set(PROMPTS):
        raise fail("invalid_request", f"prompt must be among {', '.join(PROMPTS)}")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with another value")
    max_age = values.get("max_age")
    if max_age is not None and not max_age.isdigit():
        raise fail("invalid_request", "max_age must be a number of seconds")
    return AuthRequest(
        client=client,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=values.get("nonce"),
        code_challenge=code_challenge,
        prompt=prompt,
        max_age=int(max_age) if max_age is not None else None,
        login_hint=values.get("login_hint"),
    )


def _scope(scope: str, fail: Fail) -> str:
    requested = scope.split()
    if "openid" not in requested:
        raise fail("invalid_scope", "scope must include openid (Pro Santé Connect is an OpenID provider)")
    unknown = [s for s in requested if s not in SCOPES]
    if unknown:
        raise fail("invalid_scope", f"unknown scope(s): {' '.join(unknown)} (use openid scope_all)")
    return " ".join(dict.fromkeys(requested))


def _acr(acr_values: str | None, fail: Fail) -> None:
    """PSC authenticates at ``eidas1`` only (the ProSanteConnect Keycloak connector always
    asks for it). Anything else cannot be met: OpenID Connect's registered error for that
    is ``unmet_authentication_requirements`` (OpenID Connect Core Unmet Authentication
    Requirements 1.0)."""
    if acr_values is None:
        return
    requested = acr_values.split()
    if not requested or any(value not in ACR_VALUES for value in requested):
        raise fail(
            "unmet_authentication_requirements",
            f"acr_values '{acr_values}' cannot be met: Pro Santé Connect authenticates at eidas1 only",
        )


def _pkce(client: Client, values: Mapping[str, str], fail: Fail) -> str | None:
    """RFC 7636 §4.3, S256 only; required of public clients (RFC 9700 §2.1.1)."""
    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        if client.public:
            raise fail("invalid_request", "PKCE is required for public clients: send code_challenge (S256)")
        return None
    if (method or "plain") not in PKCE_METHODS:
        raise fail("invalid_request", "code_challenge_method must be S256")
    if len(challenge) != 43 or not set(challenge) <= _CODE_CHALLENGE:
        raise fail("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)")
    return challenge
