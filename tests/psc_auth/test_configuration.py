"""The issuer and the wallet host are overridable (real PSC hostnames changed over time):
the realm's routes, the discovery document and the login pages follow the settings."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from services.psc_auth.app import create_app
from services.psc_auth.settings import PscSettings


def test_overridden_issuer_and_wallet(tmp_path: Path) -> None:
    settings = PscSettings(
        data_dir=tmp_path,
        psc_issuer="https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
        psc_wallet_url="https://wallet.bas.psc.esante.gouv.fr",
        signing_alg="ES256",
    )
    with TestClient(create_app(settings)) as client:
        doc = client.get("/auth/realms/esante-wallet/.well-known/wallet-openid-configuration").json()
        assert doc["issuer"] == "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"
        assert doc["authorization_endpoint"] == "https://wallet.bas.psc.esante.gouv.fr/auth"
        assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
        # The login pages now live at the root, as on the real wallet host.
        page = client.get(
            "/auth",
            params={
                "response_type": "code",
                "client_id": "dpi-valmont",
                "redirect_uri": "http://localhost:3000/callback",
                "scope": "openid scope_all",
            },
            follow_redirects=False,
        )
        assert page.status_code == 302
        assert page.headers["location"].startswith("https://wallet.bas.psc.esante.gouv.fr/login/")
        token = client.post(
            "/auth/realms/esante-wallet/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=("dpi-valmont", "dpi-valmont-secret"),
        ).json()["access_token"]
        from jose import jwt

        assert jwt.get_unverified_claims(token)["iss"] == doc["issuer"]
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
