"""``POST /_sandbox/tokens`` (contract 2): tokens without the pages, for tests.

* ``patient``: the patient's own token (everything in their space);
* ``aidant``: a caregiver's token, limited to the rights the patient delegated, while the
  delegation lasts;
* ``representant_legal``: a parent's token for a minor child;
* ``app``: the shortcut of the consent page: the patient's consent to exactly the scopes
  asked is recorded (a withdrawn or expired app, or a scope outside what the app is
  referenced for, is refused), then the app's tokens are issued with its idPe.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.catalog.accounts.service import active_delegation
from services.catalog.catalogue import service as catalogue
from services.catalog.consent import service as consents
from services.catalog.models import App
from services.catalog.oauth.service import Grant, TokenService
from services.catalog.schemas import SandboxTokenRequest
from services.catalog.service import PATIENT_SCOPES, SPACE_CLIENT, find_patient, is_minor, parse_scope
from shared.errors import BadRequestError, ForbiddenError, NotFoundError, OAuthError
from shared.personas import Patient


def find_app(session: Session, reference: str) -> App:
    app = session.get(App, reference) or catalogue.by_client(session, reference)
    if app is None:
        raise NotFoundError(f"no app '{reference}' in the catalogue (app id or client id)")
    return app


def _scope(
    requested: str | None, allowed: list[str], who: str, default: list[str] | None = None
) -> list[str]:
    if requested is None:
        return allowed if default is None else default
    scope = parse_scope(requested)
    outside = [s for s in scope if s not in allowed]
    if outside:
        raise OAuthError("invalid_scope", f"{who} may not have: {' '.join(outside)}")
    return scope


def _representative(patient: Patient, person: Patient) -> None:
    if person.id not in patient.legal_representatives:
        raise BadRequestError(f"{person.id} is not a legal representative of {patient.id}")
    if not is_minor(patient):
        raise ForbiddenError(f"{patient.id} is of age: their parents no longer reach their space")


def app_tokens(
    tokens: TokenService, session: Session, patient: Patient, body: SandboxTokenRequest
) -> dict[str, Any]:
    if body.app is None:
        raise BadRequestError("actor 'app' needs 'app': the app's id or client id")
    app = find_app(session, body.app)
    refusal = catalogue.exchange_refusal(app)
    if refusal is not None:
        raise ForbiddenError(refusal, error="access_denied")
    referenced = catalogue.scopes(app)
    scope = _scope(body.scope, ["openid", *referenced], f"the app '{app.id}'", referenced)
    grants = [s for s in scope if s != "openid"]
    if not grants:
        raise OAuthError("invalid_scope", "the consent must cover at least one data category")
    by_account, by_actor = patient.id, "patient"
    if body.person is not None:
        person = find_patient(tokens.personas, body.person)
        _representative(patient, person)
        by_account, by_actor = person.id, "representant_legal"
    consent = consents.grant(session, patient.id, app, grants, by_account=by_account, by_actor=by_actor)
    grant = Grant(patient, "app", app.client_id, scope, consent=consent, app=app)
    return tokens.response(session, grant, refresh=True)


def sandbox_tokens(tokens: TokenService, session: Session, body: SandboxTokenRequest) -> dict[str, Any]:
    patient = find_patient(tokens.personas, body.patient)
    if body.actor == "app":
        return app_tokens(tokens, session, patient, body)
    everything = parse_scope(PATIENT_SCOPES)
    if body.actor == "patient":
        grant = Grant(patient, "patient", SPACE_CLIENT, _scope(body.scope, everything, "the patient"))
        return tokens.response(session, grant)
    if body.person is None:
        raise BadRequestError(f"actor '{body.actor}' needs 'person': who acts for the patient")
    person = find_patient(tokens.personas, body.person)
    if body.actor == "aidant":
        delegation = active_delegation(session, patient.id, person.id)
        if delegation is None:
            raise BadRequestError(f"{person.id} is not (or no longer) a caregiver of {patient.id}")
        allowed, default = ["openid", *delegation.rights], list(delegation.rights)
    else:
        _representative(patient, person)
        allowed = default = everything
    scope = _scope(body.scope, allowed, f"{person.id} ({body.actor})", default)
    grant = Grant(patient, body.actor, SPACE_CLIENT, scope, acting_account=person.id)
    return tokens.response(session, grant)
