"""Pro Santé Connect's seed: its signing keys (generated once, kept in the seed), and the
personas' professionals and clients, which ``/_sandbox/`` may then add to."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.psc_auth.models import ClientRecord, ProfessionalRecord, SigningKey
from services.psc_auth.registry import client_data, service_clients
from shared.oauth.keystore import KeyStore
from shared.personas import Personas


def seed(session: Session, personas: Personas) -> None:
    # Both algorithms get a key, so switching MES_PSC_SIGNING_ALG needs no reset.
    KeyStore(SigningKey, "RS256", 0).create(session, "RS256")
    KeyStore(SigningKey, "ES256", 0).create(session, "ES256")
    for pro in personas.professionals:
        session.add(ProfessionalRecord(id=pro.id, idnat=pro.idnat, data=pro.model_dump(mode="json")))
    for client in (*personas.psc_clients, *service_clients(personas)):
        session.add(ClientRecord(client_id=client.client_id, data=client_data(client)))
