"""JWTs found in an exchange, decoded (RFC 7519) and matched to the key that signed them.

A token is looked for where the protocols put one: the ``Authorization: Bearer`` header
(RFC 6750 §2.1), OAuth form fields (``token`` of introspection RFC 7662 §2.1,
``client_assertion`` RFC 7523, ``id_token_hint``...), token responses (RFC 6749 §5.1,
OIDC Core §3.1.3.3) and ``application/jwt`` userinfo answers. Its ``kid`` is looked up in
the JWKS of both authorization servers of the sandbox and the signature verified with
that key (RFC 7515 §5.2), accepting only the asymmetric algorithms the sandbox uses.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from jose import JWSError, jws

from shared.oauth.keys import ASYMMETRIC_ALGORITHMS, key_object

_FORM_FIELDS = ("token", "assertion", "client_assertion", "id_token_hint", "subject_token", "actor_token")
_JSON_FIELDS = ("access_token", "id_token", "refresh_token", "token")
_TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")

#: Issuer label → JWKS, fetched by the caller (Pro Santé Connect, Mon espace santé).
KeySets = dict[str, dict[str, Any]]


@dataclass
class DecodedToken:
    where: str
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    times: list[tuple[str, str]] = field(default_factory=list)
    signer: str = ""
    verdict: str = "unknown"  # valid, invalid, unknown, unsigned


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def decode(raw: str, where: str) -> DecodedToken | None:
    parts = raw.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = _b64json(parts[0]), _b64json(parts[1])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    token = DecodedToken(where=where, raw=raw.strip(), header=header, claims=claims)
    token.times = [(name, _when(claims[name])) for name in _TIME_CLAIMS if isinstance(claims.get(name), int)]
    return token


def _when(stamp: int) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    delta = int((moment - datetime.now(UTC)).total_seconds())
    relative = f"dans {_duration(delta)}" if delta >= 0 else f"il y a {_duration(-delta)}"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({relative})"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} j"


def check_signature(token: DecodedToken, keysets: KeySets) -> None:
    """Fill ``signer`` and ``verdict``: which issuer's key (by kid) and whether it verifies."""
    alg, kid = token.header.get("alg"), token.header.get("kid")
    if alg == "none":
        token.signer, token.verdict = "non signé (alg none) : refusé par tout le bac à sable", "unsigned"
        return
    for issuer, jwks in keysets.items():
        key = next((k for k in jwks.get("keys") or [] if k.get("kid") == kid), None)
        if key is None:
            continue
        where = f"clé {kid} de {issuer} ({key.get('alg', alg)})"
        if alg not in ASYMMETRIC_ALGORITHMS or key.get("alg", alg) != alg:
            token.signer, token.verdict = f"{where}, mais l'algorithme {alg} ne correspond pas", "invalid"
            return
        try:
            jws.verify(token.raw, key_object({**key, "alg": alg}), algorithms=[alg])
        except (JWSError, ValueError):
            token.signer, token.verdict = f"{where} : signature invalide (jeton altéré)", "invalid"
            return
        token.signer, token.verdict = f"{where} : signature valide", "valid"
        return
    token.signer = f"kid {kid!r} inconnu des émetteurs du bac à sable (clé retirée ou jeton étranger)"
    token.verdict = "unknown"


def _form(text: str | None) -> dict[str, str]:
    return dict(parse_qsl(text or "", keep_blank_values=True))


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def find_tokens(record: dict[str, Any], keysets: KeySets) -> list[DecodedToken]:
    """Every JWT of an exchange record, decoded and checked, in the order found."""
    found: list[tuple[str, str]] = []
    request, response = record["request"], record["response"]
    lower = {k.lower(): v for k, v in request["headers"].items()}
    scheme, _, value = lower.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        found.append(("requête · Authorization: Bearer", value))
    query = _form(record.get("query"))
    found += [(f"requête · paramètre {k}", query[k]) for k in ("id_token_hint", "request") if k in query]
    if "x-www-form-urlencoded" in lower.get("content-type", ""):
        form = _form(request.get("body"))
        found += [(f"requête · champ {k}", form[k]) for k in _FORM_FIELDS if k in form]
    answer_type = next((v for k, v in response["headers"].items() if k.lower() == "content-type"), "")
    if "application/jwt" in answer_type:
        found.append(("réponse · corps application/jwt", response.get("body") or ""))
    data = _json(response.get("body")) if "json" in answer_type else None
    if isinstance(data, dict):
        found += [(f"réponse · {k}", data[k]) for k in _JSON_FIELDS if isinstance(data.get(k), str)]
    tokens = []
    for where, raw in found:
        token = decode(raw, where)
        if token is not None:
            check_signature(token, keysets)
            tokens.append(token)
    return tokens
