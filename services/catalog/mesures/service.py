"""The mesures API: who may call it, storing a feed, and the two search modes.

Authentication and identification (the guide's error table), in this order:

* 401: the access token is not valid (absent, forged, expired, revoked, or of an app no
  longer referenced);
* 400 "The ID_TOKEN value is not valid (invalid JWT)": an ID token sent in the
  ``ID-Token`` header (the sandbox's choice: README) that is not one Mon espace santé gave
  this app;
* 409 "OID conflict ...": the editor OID in that ID token is not the app's OID in the
  catalogue (it changed since the pairing);
* 403 "Consent not given, access refused.": the patient did not consent to this operation
  (reading or writing the mesures), or revoked the consent;
* 403 "idPe requested do not match authorized idPe.": the patient named in the request is
  not the one the token was given for.

Observations are the patient's: an app reads every measurement of the patient, whoever
wrote it, with the subject given as *its own* idPe.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from jose import JWTError, jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.catalog.mesures.validation import Feed
from services.catalog.models import App, Consent, Device, Measurement
from services.catalog.oauth.local import AppGrant, Caller, LocalVerifier
from services.catalog.rawsql import RawReader
from shared.db.base import utcnow
from shared.errors import BadRequestError, ConflictError, ForbiddenError, InvalidTokenError, SandboxError
from shared.oauth.keys import key_object

CONSENT_REFUSED = "Consent not given, access refused."
IDPE_MISMATCH = "idPe requested do not match authorized idPe."
ID_TOKEN_INVALID = "HTTP code 400 : Bad request -> The ID_TOKEN value is not valid (invalid JWT)"
OID_CONFLICT = (
    "HTTP code 409 :OID conflict between the one from id_token and the one in the system "
    "-> OID different between id_token and ecosystem"
)
MAX_PAGE = 100
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class AppCaller:
    """An app allowed on the mesures API for one patient."""

    caller: Caller
    app: App
    consent: Consent

    @property
    def idpe_system(self) -> str:
        return f"urn:oid:{self.app.editor_oid}"


def _id_token(verifier: LocalVerifier, session: Session, value: str, app: App, idpe: str) -> None:
    try:
        header = jwt.get_unverified_header(value)
        key = verifier.key(session, str(header.get("kid")))
        claims = jwt.decode(
            value,
            key_object(key),
            algorithms=[str(key["alg"])],
            audience=app.client_id,
            issuer=verifier.tokens.issuer,
            options={"verify_at_hash": False, "leeway": 30},
        )
    except (JWTError, InvalidTokenError, KeyError) as exc:
        raise BadRequestError(ID_TOKEN_INVALID, fhir_code="security") from exc
    if claims.get("typ") != "ID":
        raise BadRequestError(ID_TOKEN_INVALID, fhir_code="security")
    if claims.get("editor_oid") != app.editor_oid:
        raise ConflictError(OID_CONFLICT)
    if claims.get("idpe") != idpe:
        raise ForbiddenError(IDPE_MISMATCH)


def authorize(
    verifier: LocalVerifier,
    session: Session | None,
    grant: AppGrant,
    access: Literal["read", "write"],
    id_token: str | None,
) -> AppCaller:
    """The guide's order: 401, 400 ID_TOKEN, 409 OID, 403 consent (``session`` is only used
    to look up a signing key that is not cached yet)."""
    caller, consent, app = grant.caller, grant.consent, grant.app
    if caller.user.actor != "app" or caller.row.consent_id is None:
        raise ForbiddenError("the mesures API serves the catalogue's apps: use the app's token")
    if not caller.state.active and caller.state.reason == "app":
        raise InvalidTokenError("the app that holds this token is no longer referenced in the catalogue")
    if consent is None or app is None:
        raise InvalidTokenError("the access token is unknown")
    if id_token is not None:
        if session is None:
            raise RuntimeError("checking an ID token needs a session (for the signing keys)")
        _id_token(verifier, session, id_token, app, consent.idpe)
    if not caller.state.active or f"mesures.{access}" not in caller.state.scope:
        raise ForbiddenError(CONSENT_REFUSED)
    return AppCaller(caller, app, consent)


def grant_of(session: Session, caller: Caller) -> AppGrant:
    """The consent and app of a token verified through the ORM session."""
    consent = session.get(Consent, caller.row.consent_id) if caller.row.consent_id else None
    app = session.get(App, consent.app_id) if consent is not None else None
    return AppGrant(caller, consent, app)


def check_subject(who: AppCaller, system: str | None, value: str | None) -> None:
    if value != who.consent.idpe or system != who.idpe_system:
        raise ForbiddenError(IDPE_MISMATCH, expression=["Observation.subject.identifier"])


# -- feeding -----------------------------------------------------------------------------


def _stamp(resource: dict[str, Any], now: dt.datetime) -> None:
    meta = dict(resource.get("meta") or {})
    meta.update(
        {"versionId": "1", "lastUpdated": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    )
    resource["meta"] = meta


def _effective(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"effectiveDateTime '{value}' is not a date-time", expression=["Observation"]
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def store(session: Session, who: AppCaller, feed: Feed) -> list[dict[str, Any]]:
    """The transaction: the Device if it is new (conditional create), then the Observation.
    The ``transaction-response`` entries, in the order of the request."""
    now = utcnow()
    responses: dict[str, dict[str, Any]] = {}
    device_id = None
    if feed.device is not None:
        existing = session.scalars(
            select(Device).where(Device.system == feed.device_system, Device.value == feed.device_value)
        ).first()
        if existing is None:
            device = dict(feed.device)
            device_id = str(device.get("id") or uuid.uuid4())
            if session.get(Device, device_id) is not None:
                device_id = str(uuid.uuid4())
            device["id"] = device_id
            _stamp(device, now)
            session.add(
                Device(
                    id=device_id,
                    system=feed.device_system or "",
                    value=feed.device_value or "",
                    resource=device,
                    app_id=who.app.id,
                    created_at=now,
                )
            )
            responses["Device"] = {"status": "201 Created", "location": f"Device/{device_id}"}
        else:
            device_id = existing.id
            responses["Device"] = {"status": "200 OK", "location": f"Device/{device_id}"}
    observation = dict(feed.observation)
    observation.pop("subject", None)  # the patient's: each reader gets its own idPe
    observation["id"] = str(uuid.uuid4())
    meta = dict(observation.get("meta") or {})
    meta.setdefault("source", f"urn:oid:{who.app.editor_oid}")
    observation["meta"] = meta
    _stamp(observation, now)
    if device_id:
        observation["device"] = {"reference": f"Device/{device_id}"}
    session.add(
        Measurement(
            id=observation["id"],
            patient=who.consent.patient,
            code=feed.code,
            effective=_effective(str(feed.observation["effectiveDateTime"])),
            device_id=device_id,
            app_id=who.app.id,
            resource=observation,
            created_at=now,
        )
    )
    responses["Observation"] = {"status": "201 Created", "location": f"Observation/{observation['id']}"}
    session.flush()
    return [{"response": {**responses[kind], "etag": 'W/"1"'}} for kind in feed.order]


# -- searching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """§2.3.1: ``all`` (a code over a period, paged) or ``last`` (the latest of a code)."""

    code: str
    mode: Literal["all", "last"]
    start: dt.datetime | None
    end: dt.datetime | None
    offset: int
    count: int
    include_devices: bool


def _bound(value: str) -> tuple[str, dt.datetime]:
    prefix = value[:2] if value[:2] in ("ge", "gt", "le", "lt", "eq") else "eq"
    text = value[2:] if value[:2] == prefix else value
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"Request not valid: date '{value}' is not a date", expression=["date"]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if len(text) == 10 and prefix in ("le", "gt"):
        moment += dt.timedelta(days=1)  # "le2022-09-23" takes the whole day
    return prefix, moment


def _invalid(diagnostics: str, where: str) -> SandboxError:
    return BadRequestError(diagnostics, expression=[where])


def search_request(params: dict[str, list[str]]) -> Search:
    """The search parameters checked, with the guide's "400 Request not valid" answers."""

    def first(name: str) -> str | None:
        values = params.get(name)
        return values[0] if values else None

    code = first("code") or ""
    dates = params.get("date", [])
    sort = first("_sort")
    count_text = first("_count")
    offset_text = first("_offset") or "0"
    try:
        count = int(count_text) if count_text is not None else None
        offset = int(offset_text)
    except ValueError:
        raise _invalid("_count and _offset must be integers", "_count") from None
    if count is not None and count > MAX_PAGE:
        raise _invalid(f"Maximum page size allowed is {MAX_PAGE}. Actual : {count}", "_count")
    if (count is not None and count < 1) or offset < 0:
        raise _invalid("_count must be positive and _offset not negative", "_count")
    includes = params.get("_include", [])
    include = any(v in ("Observation:device", "Observation.device") for v in includes)
    if dates and sort is not None:
        raise _invalid("Paged search and search last cannot be requested concurrently", "_sort")
    if sort is not None:
        if sort != "-date" or count != 1:
            raise _invalid(
                "Sort parameter must be equals to -date (date DESC) with _count equals to 1 to retrieve last "
                "observation",
                "_sort",
            )
        if not code:
            raise _invalid("No search mode detected", "code")
        return Search(code, "last", None, None, 0, 1, include)
    if not dates or not code:
        raise _invalid("No search mode detected", "date")
    start = end = None
    for value in dates:
        prefix, moment = _bound(value)
        if prefix in ("ge", "gt", "eq"):
            start = moment
        if prefix in ("le", "lt", "eq"):
            end = moment if prefix != "eq" else moment + dt.timedelta(days=1)
    if start is None or end is None:
        raise _invalid("Both bounds of the period are required (date=ge...&date=le...)", "date")
    return Search(code, "all", start, end, offset, count or DEFAULT_PAGE, include)


def _reader_view(resource: dict[str, Any], who: AppCaller) -> dict[str, Any]:
    view = dict(resource)
    view["subject"] = {"identifier": {"system": who.idpe_system, "value": who.consent.idpe}}
    return view


class Searches:
    """The two search modes as plain SQL for the backend in use (``rawsql``: the hot path).
    Table and column names are ours; every value is a bound parameter (hence the S608 noqa)."""

    def __init__(self, raw: RawReader) -> None:
        self.raw = raw
        m = raw.mark
        table = Measurement.__tablename__
        where = f"patient = {m('patient')} AND code = {m('code')}"
        period = f"effective >= {m('start')} AND effective < {m('end')}"
        order = "ORDER BY effective DESC, created_at DESC"
        self.last = f"SELECT resource, device_id FROM {table} WHERE {where} {order} LIMIT 1"  # noqa: S608
        self.page = (
            f"SELECT resource, device_id FROM {table} WHERE {where} AND {period} {order} "  # noqa: S608
            f"LIMIT {m('count')} OFFSET {m('offset')}"
        )
        self.count = f"SELECT count(*) FROM {table} WHERE {where} AND {period}"  # noqa: S608

    def devices(self, ids: list[str]) -> tuple[str, dict[str, str]]:
        params = {f"d{i}": value for i, value in enumerate(ids)}
        marks = ", ".join(self.raw.mark(name) for name in params)
        return f"SELECT id, resource FROM {Device.__tablename__} WHERE id IN ({marks})", params  # noqa: S608

    def run(
        self, cursor: Any, who: AppCaller, query: Search
    ) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        """(total, observations, devices) of the patient for the query."""
        raw = self.raw
        values: dict[str, Any] = {"patient": who.consent.patient, "code": query.code}
        if query.mode == "last":
            cursor.execute(self.last, values)
            rows = cursor.fetchall()
            total = len(rows)
        else:
            assert query.start is not None
            assert query.end is not None
            values.update(start=raw.instant_param(query.start), end=raw.instant_param(query.end))
            cursor.execute(self.count, values)
            total = int(cursor.fetchone()[0])
            cursor.execute(self.page, {**values, "count": query.count, "offset": query.offset})
            rows = cursor.fetchall()
        devices: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(r[1] for r in rows if r[1])) if query.include_devices else []
        if ids:
            sql, params = self.devices(ids)
            cursor.execute(sql, params)
            by_id = {row[0]: raw.document(row[1]) for row in cursor.fetchall()}
            devices = [by_id[i] for i in ids if i in by_id]
        subject = {"identifier": {"system": who.idpe_system, "value": who.consent.idpe}}
        observations = [raw.document(r[0]) for r in rows]
        for observation in observations:  # freshly decoded: no copy needed
            observation["subject"] = subject
        return total, observations, devices


def read(session: Session, who: AppCaller, observation_id: str) -> dict[str, Any] | None:
    row = session.get(Measurement, observation_id)
    if row is None or row.patient != who.consent.patient:
        return None
    return _reader_view(row.resource, who)


def of_patient(session: Session, patient: str, limit: int = 200) -> list[Measurement]:
    """The space's own view: every measurement of the patient, newest first."""
    return list(
        session.scalars(
            select(Measurement)
            .where(Measurement.patient == patient)
            .order_by(Measurement.effective.desc())
            .limit(limit)
        )
    )
