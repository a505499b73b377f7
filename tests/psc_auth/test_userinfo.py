"""Userinfo (OIDC Core §5.3): the full PSC claim set, as JSON or as a signed JWT per client.

The real userinfo the PSC sandbox (BAS) returned for its test account must be reproducible
from the persona ``kit-doc0042788``: same keys at every level, same values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jose import jwt

from tests.psc_auth.support import CERTS, LGO, USERINFO
from tests.support import Sandbox, bearer

pytestmark = pytest.mark.db

#: The real BAS userinfo (ansforge/PSC-POC @0090ec18, dam/psc-dam-api/dam-api/logs/dam-api.log
#: line 739), copied unchanged from ../shared/reference/examples/.
EXAMPLE = Path(__file__).with_name("data") / "psc-userinfo-bas-test-account.json"


def _shape(value: Any) -> Any:
    """The keys at every level, with the type of every leaf."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def test_the_bas_example_is_reproduced_from_its_persona(sb: Sandbox) -> None:
    example = json.loads(EXAMPLE.read_text())
    token = sb.psc_token("kit-doc0042788", scope="openid scope_all")
    answer = sb.client("psc_auth").get(USERINFO, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    info = answer.json()
    assert _shape(info) == _shape(example)
    assert info == example


def test_userinfo_says_how_the_professional_logged_in(sb: Sandbox) -> None:
    token = sb.psc_token("jeanne-martin", auth_mode="MOBILE")
    info = sb.client("psc_auth").get(USERINFO, headers=bearer(token)).json()
    assert info["authMode"] == "MOBILE"
    assert info["sub"] == "f:ca8c4807-bae7-4ae6-bc9a-708a803c6acc:899700112545"
    [exercice] = info["SubjectRefPro"]["exercices"]
    assert exercice["codeSavoirFaire"] == "SM54"
    [activity] = exercice["activities"]
    assert activity["numeroSiretSite"] == "48251937800012"
    assert activity["enseigneCommercialeSite"] == "Maison médicale des Tilleuls"
    assert info["otherIds"] == [{"identifiant": "899700112545", "origine": "RPPS", "qualite": 1}]
    # POST works too (§5.3.1).
    assert sb.client("psc_auth").post(USERINFO, headers=bearer(token)).json() == info


def test_a_jwt_client_gets_a_signed_userinfo(sb: Sandbox) -> None:
    token = sb.psc_token("elise-roux", client_id=LGO[0])
    answer = sb.client("psc_auth").get(USERINFO, headers=bearer(token))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/jwt"
    keys = sb.client("psc_auth").get(CERTS).json()
    claims = jwt.decode(
        answer.text,
        keys,
        algorithms=["RS256", "ES256"],
        audience=LGO[0],
        issuer=sb.url("psc_auth") + "/auth/realms/esante-wallet",
    )
    assert claims["SubjectRole"] == ["21^1.2.250.1.213.1.1.5.5"]
    assert claims["SubjectRefPro"]["exercices"][0]["activities"][0]["codeSectionPharmacien"] == "A"


def test_userinfo_refusals(sb: Sandbox) -> None:
    psc = sb.client("psc_auth")
    missing = psc.get(USERINFO)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = psc.get(USERINFO, headers=bearer("nope"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    software = sb.psc_token(None, client_id="dpi-valmont")
    assert psc.get(USERINFO, headers=bearer(software)).status_code in (401, 403)
    no_openid = sb.psc_token("jeanne-martin", scope="scope_all")
    refused = psc.get(USERINFO, headers=bearer(no_openid))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    only_openid = sb.psc_token("jeanne-martin", scope="openid")
    assert psc.get(USERINFO, headers=bearer(only_openid)).json() == {
        "sub": "f:ca8c4807-bae7-4ae6-bc9a-708a803c6acc:899700112545"
    }
