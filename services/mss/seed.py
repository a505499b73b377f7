"""MSSanté's seed: the personas' mailboxes, who may use them, and the TLS certificate."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.mss import tls
from services.mss.models import Mailbox, MailboxMember, TlsMaterial
from shared.personas import Personas


def seed(session: Session, personas: Personas) -> None:
    members_of: dict[str, set[str]] = {}
    for pro in personas.professionals:
        for activity in pro.activities:
            members_of.setdefault(activity.organisation, set()).add(pro.idnat)
        home = pro.activities[0].organisation if pro.activities else ""
        for box in pro.mailboxes:
            session.add(
                Mailbox(
                    address=box.address,
                    type=box.type,
                    holder=pro.idnat,
                    display_name=pro.display_name,
                    organisation=home,
                )
            )
            session.add(MailboxMember(address=box.address, idnat=pro.idnat))
    for org in personas.organisations:
        for box in org.mailboxes:
            session.add(
                Mailbox(
                    address=box.address,
                    type=box.type,
                    holder=org.technical_id,
                    display_name=box.description or org.name,
                    organisation=org.id,
                    client_id=box.client_id,
                )
            )
            if box.type != "APP":  # application mailboxes are used by software only
                for idnat in sorted(members_of.get(org.id, ())):
                    session.add(MailboxMember(address=box.address, idnat=idnat))
    for patient in personas.patients:
        if patient.ins_key_exempt:
            continue  # the guides' illustrative INS has no citizen mailbox
        session.add(
            Mailbox(
                address=patient.mailbox, type="PAT", holder=patient.ins, display_name=patient.display_name
            )
        )
    cert_pem, key_pem = tls.generate()
    session.add(TlsMaterial(name="listeners", certificate_pem=cert_pem, key_pem=key_pem))
