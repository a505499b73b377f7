"""Client authentication at the token, introspection and revocation endpoints.

RFC 6749 §2.3.1 (``client_secret_basic``: id and secret form-urlencoded, then Basic;
``client_secret_post``), RFC 7523 §2.2 (``client_secret_jwt`` / ``private_key_jwt``
assertions), and ``none`` for public clients. This module only reads what the client
presented; the authorization server decides whether it is right.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from shared.errors import InvalidClientError, OAuthError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

Method = Literal["client_secret_basic", "client_secret_post", "client_assertion", "none"]


@dataclass(frozen=True)
class PresentedClient:
    method: Method
    client_id: str
    secret: str | None = None
    assertion: str | None = None


def _basic(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClientError("the Basic credentials are not valid base64") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClientError("the Basic credentials must be client_id:client_secret")
    return unquote_plus(client_id), unquote_plus(secret)


def presented_client(authorization: str | None, form: Mapping[str, str]) -> PresentedClient:
    """What the client presented; ``invalid_request`` when it used two methods at once
    (§2.3: "MUST NOT use more than one authentication method in each request")."""
    methods: list[PresentedClient] = []
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            client_id, secret = _basic(value.strip())
            methods.append(PresentedClient("client_secret_basic", client_id, secret=secret))
    if form.get("client_secret") is not None:
        if not form.get("client_id"):
            raise InvalidClientError("client_secret without client_id", scheme="Basic")
        methods.append(PresentedClient("client_secret_post", form["client_id"], secret=form["client_secret"]))
    if form.get("client_assertion") is not None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        methods.append(
            PresentedClient("client_assertion", form.get("client_id", ""), assertion=form["client_assertion"])
        )
    if len(methods) > 1:
        raise OAuthError("invalid_request", "the client used more than one authentication method")
    if methods:
        presented = methods[0]
        if form.get("client_id") and presented.client_id and form["client_id"] != presented.client_id:
            raise InvalidClientError("client_id in the body differs from the authenticated client")
        return presented
    if form.get("client_id"):
        return PresentedClient("none", form["client_id"])
    raise InvalidClientError("no client authentication and no client_id")
