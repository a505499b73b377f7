"""The data views, after real journeys: a mailbox and a message, the ordonnances and their
dispensing, the consents, the patient's DMP controls, each read with the right token."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from services.cli import main
from tests.support import ADMIN_TOKEN, Sandbox, bearer

pytestmark = pytest.mark.db

DOMINIQUE = "279035121518989@patient.mssante.fr"


def console(sb: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sb.url("console"), timeout=30.0, headers=bearer(ADMIN_TOKEN))


def text(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text)))


def test_a_mailbox_its_messages_and_the_ordonnances(env: Sandbox, capsys) -> None:
    assert main(["scenario", "run", "ordonnance-pharmacie"]) == 0
    client = console(env)
    patient_box = client.get(f"/donnees/messagerie/{DOMINIQUE}")
    assert "Lue comme Dominique PAT-TROIS" in text(patient_box)
    number = re.search(r"ON-\d{6}-\d{6}-\d{2}", patient_box.text)
    assert number is not None
    message_id = re.search(r'href="\?message=([^"]+)"', patient_box.text)
    assert message_id is not None
    opened = text(client.get(f"/donnees/messagerie/{DOMINIQUE}", params={"message": message_id.group(1)}))
    assert f"Votre ordonnance numérique {number.group(0)}" in opened
    assert f"ordonnance-{number.group(0)}.pdf" in opened and "X-MSS-INS O" in opened
    sent = text(client.get("/donnees/messagerie/jeanne.martin@medecin.mssante.fr"))
    assert "Lue comme Dr JEANNE MARTIN" in sent and DOMINIQUE in sent
    page = text(client.get("/donnees/ordonnances/dominique-pat-trois"))
    assert f"{number.group(0)} délivrée" in page
    assert "substitution · 1.0 · AMOXICILLINE GÉNÉRIQUE 1 g · PHARMACIE DE LA GARE" in page


def test_consents_read_with_the_patients_token(sb: Sandbox) -> None:
    answer = sb.admin(
        "catalog",
        "POST",
        "tokens",
        json={
            "patient": "henri-leclerc",
            "actor": "app",
            "app": "ma-balance",
            "scope": "mesures.write documents.read",
        },
    )
    assert answer.status_code == 200, answer.text
    page = text(console(sb).get("/donnees/consentements/henri-leclerc"))
    assert "Ma Balance Connectée (Santé Connectée SAS) actif" in page
    assert "mesures · écriture" in page and "documents · lecture" in page
    assert "Aucun consentement" in text(console(sb).get("/donnees/consentements/claire-leclerc"))


def test_the_patients_dmp_controls(sb: Sandbox) -> None:
    page = text(console(sb).get("/donnees/dmp/gabriel-fontaine"))
    assert "Professionnels bloqués 899700446125" in page
    assert "Opposition au bris de glace non" in page
    page = text(console(sb).get("/donnees/dmp/ghjulia-santoni", params={"vu_par": "karim-benali"}))
    assert "Opposition au bris de glace oui" in page


def test_unknown_people_and_mailboxes(sb: Sandbox) -> None:
    client = console(sb)
    assert client.get("/donnees/dmp/nobody").status_code == 404
    assert client.get("/donnees/dmp/gabriel-fontaine", params={"vu_par": "nobody"}).status_code == 404
    assert client.get("/donnees/messagerie/nobody@nowhere.fr").status_code == 404
    assert client.get("/donnees/consentements/nobody").json()["error"] == "not_found"
    index = client.get("/donnees").text
    assert 'href="/donnees/messagerie/notifications@dmp.mssante.fr"' in index


def test_the_dmp_as_each_one_sees_it(sb: Sandbox) -> None:
    client = console(sb)
    as_patient = text(client.get("/donnees/dmp/dominique-pat-trois"))
    assert "Résultats d'examens biologiques" not in as_patient  # INVISIBLE_PATIENT
    as_doctor = text(client.get("/donnees/dmp/dominique-pat-trois", params={"vu_par": "jeanne-martin"}))
    assert "Résultats d'examens biologiques" in as_doctor
    assert "invisible du patient" in as_doctor
    assert "Vérification de l'existence du DMP" in as_doctor or "Find Document References" in as_doctor
    blocked = text(client.get("/donnees/dmp/gabriel-fontaine", params={"vu_par": "paul-renaud"}))
    assert "403" in blocked and "Aucun document visible" not in blocked
