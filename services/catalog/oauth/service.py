"""Mon espace santé's tokens: issuing, checking, introspecting, revoking (flushes, never commits).

Access tokens are JWTs (RFC 9068 §2.2) with the claims of ``shared/oauth/principals.py``;
refresh tokens are opaque handles (stored as their sha256) rotated at every use. Every token
is a row of ``issued_tokens``: a token is active while its row is not revoked and, for an
app, while the consent it was issued under is in force and the app is still referenced;
for a caregiver, while the delegation lasts; for a parent, while the child is a minor.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.catalog.accounts.service import active_delegation
from services.catalog.catalogue import service as catalogue
from services.catalog.models import App, Consent, IssuedToken
from services.catalog.service import find_patient, is_minor, parse_scope
from services.catalog.settings import CatalogSettings
from shared.db.base import utcnow
from shared.errors import InvalidClientError
from shared.oauth.client_auth import PresentedClient
from shared.oauth.keys import sign
from shared.oauth.keystore import KeyStore
from shared.oauth.refresh import token_hash
from shared.oauth.revocation import check_owner
from shared.oauth.server import decode_own, introspection_response, opaque_token, registered_claims
from shared.observability.exchanges import annotate
from shared.personas import Patient, Personas


@dataclass(frozen=True)
class Grant:
    """Who a token is for: whose data, as whom, through which client, for what."""

    patient: Patient
    actor: str
    client_id: str
    scope: list[str]
    acting_account: str | None = None
    consent: Consent | None = None
    app: App | None = None


#: Why a token is no longer active, as the flow console shows it.
REASONS = {
    "revoked": "revoked or used up",
    "expired": "expired",
    "consent": "the patient's consent was revoked",
    "app": "the app is no longer referenced in the catalogue",
    "delegation": "the caregiver's delegation has ended",
    "minor": "the child is of age, or the parent is not a legal representative",
}


@dataclass(frozen=True)
class TokenState:
    active: bool
    #: Why it is not: ``revoked``, ``expired``, ``consent``, ``app``, ``delegation``, ``minor``.
    reason: str = ""
    scope: tuple[str, ...] = ()


def row_state(row: IssuedToken | None) -> TokenState:
    """The token's own life: issued here, not revoked, not used up (rotated), not expired."""
    if row is None or row.revoked_at is not None or row.rotated_at is not None:
        return TokenState(False, "revoked")
    if row.expires_at <= utcnow():
        return TokenState(False, "expired")
    return TokenState(True, "", tuple(parse_scope(row.scope)))


def app_state(row: IssuedToken, consent: Consent | None, app: App | None) -> TokenState:
    """An app's token: in force while the consent it was issued under is (not revoked since)
    and the app may exchange data; its scope narrows to what the consent still grants."""
    if consent is None or consent.status != "active" or (row.consent_version or 0) < consent.active_since:
        return TokenState(False, "consent")
    if app is None or catalogue.exchange_refusal(app) is not None:
        return TokenState(False, "app")
    return TokenState(
        True, "", tuple(s for s in parse_scope(row.scope) if s in consent.grants or s == "openid")
    )


@dataclass
class TokenService:
    settings: CatalogSettings
    keys: KeyStore
    personas: Personas

    @property
    def issuer(self) -> str:
        return self.settings.catalog_issuer_url

    # -- issuing -----------------------------------------------------------------------

    def _row(self, grant: Grant, jti: str, kind: str, issued: dt.datetime, lifetime: int) -> IssuedToken:
        return IssuedToken(
            jti=jti,
            kind=kind,
            client_id=grant.client_id,
            subject=grant.patient.id,
            scope=" ".join(grant.scope),
            actor=grant.actor,
            acting_account=grant.acting_account,
            consent_id=grant.consent.id if grant.consent else None,
            consent_version=grant.consent.version if grant.consent else None,
            issued_at=issued,
            expires_at=issued + dt.timedelta(seconds=lifetime),
        )

    def access_token(self, session: Session, grant: Grant, *, family: str | None = None) -> str:
        claims = registered_claims(
            issuer=self.issuer,
            subject=grant.patient.id,
            audience=list(self.settings.audiences),
            lifetime=self.settings.access_token_lifetime,
            client_id=grant.client_id,
            scope=" ".join(grant.scope),
        )
        claims.update(
            {
                "typ": "Bearer",
                "mes_actor": grant.actor,
                "patient_ins": grant.patient.ins,
                "patient_ins_oid": grant.patient.ins_oid,
            }
        )
        if grant.acting_account:
            claims["act"] = {"sub": grant.acting_account}
        if grant.consent is not None:
            claims["idpe"] = grant.consent.idpe
        row = self._row(
            grant,
            claims["jti"],
            "access",
            dt.datetime.fromtimestamp(claims["iat"], dt.UTC),
            self.settings.access_token_lifetime,
        )
        row.family = family
        session.add(row)
        return sign(claims, self.keys.signer(session))

    def refresh_token(self, session: Session, grant: Grant, family: str, nonce: str | None = None) -> str:
        handle = opaque_token()
        row = self._row(grant, token_hash(handle), "refresh", utcnow(), self.settings.refresh_token_lifetime)
        row.family, row.nonce = family, nonce
        session.add(row)
        return handle

    def id_token(self, session: Session, grant: Grant, *, nonce: str | None, auth_time: dt.datetime) -> str:
        """OIDC Core §2: ``sub`` is the idPe, a pairwise subject (§8.1) per app."""
        assert grant.consent is not None
        assert grant.app is not None
        claims = registered_claims(
            issuer=self.issuer,
            subject=grant.consent.idpe,
            audience=grant.client_id,
            lifetime=self.settings.access_token_lifetime,
            client_id=grant.client_id,
            scope="",
        )
        for key in ("scope", "client_id", "nbf"):
            claims.pop(key)
        claims.update(
            {
                "typ": "ID",
                "auth_time": int(auth_time.timestamp()),
                "idpe": grant.consent.idpe,
                "editor_oid": grant.app.editor_oid,
            }
        )
        if nonce:
            claims["nonce"] = nonce
        return sign(claims, self.keys.signer(session))

    def response(
        self,
        session: Session,
        grant: Grant,
        *,
        family: str | None = None,
        refresh: bool = False,
        nonce: str | None = None,
        auth_time: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The token response (RFC 6749 §5.1) with the app's idPe when it is an app."""
        family = family or opaque_token(16)
        body: dict[str, Any] = {
            "access_token": self.access_token(session, grant, family=family),
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_lifetime,
            "scope": " ".join(grant.scope),
        }
        if refresh:
            body["refresh_token"] = self.refresh_token(session, grant, family, nonce)
        if grant.consent is not None and grant.app is not None:
            body["idpe"] = grant.consent.idpe
            body["idpe_system"] = f"urn:oid:{grant.app.editor_oid}"
            if "openid" in grant.scope:
                body["id_token"] = self.id_token(session, grant, nonce=nonce, auth_time=auth_time or utcnow())
        return body

    # -- checking ----------------------------------------------------------------------

    def state(self, session: Session, row: IssuedToken | None) -> TokenState:
        """Whether a token (its row) is in force now, and the scope it still carries."""
        lived = row_state(row)
        if row is None or not lived.active:
            return lived
        scope = parse_scope(row.scope)
        if row.actor == "app":
            consent = session.get(Consent, row.consent_id) if row.consent_id else None
            app = session.get(App, consent.app_id) if consent is not None else None
            return app_state(row, consent, app)
        if row.actor == "aidant":
            delegation = active_delegation(session, row.subject, row.acting_account or "")
            if delegation is None:
                return TokenState(False, "delegation")
            scope = [s for s in scope if s in delegation.rights or s == "openid"]
        elif row.actor == "representant_legal":
            patient = find_patient(self.personas, row.subject)
            if row.acting_account not in patient.legal_representatives or not is_minor(patient):
                return TokenState(False, "minor")
        return TokenState(True, "", tuple(scope))

    def decode(self, session: Session, token: str) -> dict[str, Any] | None:
        return decode_own(token, self.keys.verifying_keys(session), self.issuer)

    def introspect(self, session: Session, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2, for access and refresh tokens alike."""
        claims = self.decode(session, token)
        if claims is not None:
            row = session.get(IssuedToken, claims.get("jti", ""))
            if row is None or row.kind != "access":
                return introspection_response(None)
            status = self.state(session, row)
            if not status.active:
                annotate(f"Mon espace santé: token inactive ({REASONS.get(status.reason, status.reason)})")
                return introspection_response(None)
            return introspection_response({**claims, "scope": " ".join(status.scope)})
        row = session.get(IssuedToken, token_hash(token))
        if row is None or row.kind != "refresh":
            return introspection_response(None)
        status = self.state(session, row)
        if not status.active:
            return introspection_response(None)
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": row.client_id,
            "sub": row.subject,
            "scope": " ".join(status.scope),
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "iss": self.issuer,
        }

    # -- revoking ----------------------------------------------------------------------

    def revoke(self, session: Session, token: str, client_id: str) -> None:
        """RFC 7009 §2.1: a refresh token takes its whole family (and its access tokens)
        with it; a token of another client is refused; an unknown one changes nothing."""
        row: IssuedToken | None = None
        claims = self.decode(session, token)
        if claims is not None:
            row = session.get(IssuedToken, claims.get("jti", ""))
        if row is None:
            row = session.get(IssuedToken, token_hash(token))
        if row is None:
            return
        check_owner(row.client_id, client_id)
        if row.revoked_at is not None:
            return
        if row.kind == "refresh" and row.family:
            self.revoke_family(session, row.family)
        else:
            row.revoked_at = utcnow()
        session.flush()

    def revoke_family(self, session: Session, family: str) -> None:
        session.execute(
            update(IssuedToken)
            .where(IssuedToken.family == family, IssuedToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def family_rows(self, session: Session, family: str) -> list[IssuedToken]:
        return list(session.scalars(select(IssuedToken).where(IssuedToken.family == family)))

    # -- clients -----------------------------------------------------------------------

    def authenticate_caller(self, session: Session, presented: PresentedClient) -> str:
        """Introspection and revocation callers: the sandbox's services, and the apps
        (with their secret) for their own tokens."""
        services = {c.client_id: c.client_secret for c in self.personas.data.services.values()}
        if presented.client_id in services:
            expected = services[presented.client_id]
            if presented.secret is not None and hmac.compare_digest(presented.secret, expected):
                return presented.client_id
            raise InvalidClientError("unknown client or wrong secret")
        app = catalogue.by_client(session, presented.client_id)
        if app is not None and catalogue.check_secret(app, presented.secret):
            return presented.client_id
        raise InvalidClientError("unknown client or wrong secret")
