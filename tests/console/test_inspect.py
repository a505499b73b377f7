"""What the exchange page opens: JWTs (decoded, matched to the key that signed them),
FHIR and error bodies, forms, MIME messages and the IHE XDM packages they carry."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from email.message import EmailMessage

from services.console.journeys.inspect import problems_of, view_body
from services.console.journeys.tokens import check_signature, decode, find_tokens
from shared.oauth.keys import generate_jwk, public_jwk, sign

PSC_KEY = generate_jwk("RS256")
MES_KEY = generate_jwk("ES256")
KEYSETS = {
    "Pro Santé Connect": {"keys": [public_jwk(PSC_KEY)]},
    "Mon espace santé": {"keys": [public_jwk(MES_KEY)]},
}


def _record(**parts: object) -> dict[str, object]:
    request = {"headers": {}, "body": None}
    response = {"headers": {}, "body": None}
    request.update(parts.get("request", {}))  # type: ignore[arg-type]
    response.update(parts.get("response", {}))  # type: ignore[arg-type]
    return {"request": request, "response": response, "query": parts.get("query", "")}


def _claims() -> dict[str, object]:
    now = int(time.time())
    return {"iss": "https://psc.test", "sub": "f:x:899700112545", "iat": now, "exp": now + 300}


def test_a_bearer_token_is_decoded_and_its_signer_found_by_kid() -> None:
    token = sign(_claims(), PSC_KEY)
    [found] = find_tokens(_record(request={"headers": {"Authorization": f"Bearer {token}"}}), KEYSETS)
    assert found.where == "requête · Authorization: Bearer"
    assert found.header == {"alg": "RS256", "kid": PSC_KEY["kid"], "typ": "JWT"}
    assert found.claims["sub"] == "f:x:899700112545"
    assert found.verdict == "valid"
    assert "Pro Santé Connect" in found.signer and PSC_KEY["kid"] in found.signer
    assert [name for name, _ in found.times] == ["exp", "iat"]
    assert "dans" in dict(found.times)["exp"]


def test_an_altered_token_is_named_invalid_and_an_unknown_key_unknown() -> None:
    token = sign(_claims(), MES_KEY)
    head, _, signature = token.split(".")
    forged_claims = {**_claims(), "sub": "someone-else"}
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    forged = decode(f"{head}.{forged_body}.{signature}", "x")
    assert forged is not None
    check_signature(forged, KEYSETS)
    assert forged.verdict == "invalid"
    assert "Mon espace santé" in forged.signer

    stranger = decode(sign(_claims(), generate_jwk("ES256")), "x")
    assert stranger is not None
    check_signature(stranger, KEYSETS)
    assert stranger.verdict == "unknown"
    assert "inconnu" in stranger.signer


def test_an_unsigned_token_is_called_so() -> None:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{part({'alg': 'none'})}.{part(_claims())}.e30"
    found = find_tokens(_record(request={"headers": {"authorization": f"bearer {unsigned}"}}), KEYSETS)
    assert [t.verdict for t in found] == ["unsigned"]
    assert decode("not.a.jwt", "x") is None
    assert decode("only-one-part", "x") is None


def test_tokens_in_forms_and_in_token_responses() -> None:
    access, id_token = sign(_claims(), PSC_KEY), sign({**_claims(), "nonce": "n"}, PSC_KEY)
    record = _record(
        request={
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "body": f"token={access}&token_type_hint=access_token",
        },
        response={
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"access_token": access, "id_token": id_token, "refresh_token": "opaque"}),
        },
    )
    found = find_tokens(record, KEYSETS)
    assert [t.where for t in found] == [
        "requête · champ token",
        "réponse · access_token",
        "réponse · id_token",
    ]
    assert found[2].claims["nonce"] == "n"
    userinfo = _record(response={"headers": {"Content-Type": "application/jwt"}, "body": id_token})
    assert [t.where for t in find_tokens(userinfo, KEYSETS)] == ["réponse · corps application/jwt"]


def test_fhir_bundles_and_error_bodies_say_what_they_carry() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "DocumentReference/1/_history/1"}},
            {"resource": {"resourceType": "Binary"}, "request": {"method": "POST", "url": "Binary"}},
        ],
    }
    view = view_body(
        {"headers": {"Content-Type": "application/fhir+json"}, "body": json.dumps(bundle), "size": 10}
    )
    assert view.kind == "fhir"
    assert view.entries == ["→ 201 Created DocumentReference/1/_history/1", "POST Binary (Binary)"]
    assert '"resourceType": "Bundle"' in view.pretty
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "forbidden", "diagnostics": "bloqué", "expression": ["Patient"]}
        ],
    }
    assert problems_of(outcome) == ["error forbidden: bloqué [Patient]"]
    assert problems_of({"error": "invalid_grant", "error_description": "code reused"}) == [
        "invalid_grant: code reused"
    ]
    assert problems_of({"error": "forbidden", "detail": "no"}) == ["forbidden: no"]
    assert problems_of({"resourceType": "Patient"}) == []


def test_forms_xml_and_binary_bodies() -> None:
    form = view_body(
        {"headers": {"content-type": "application/x-www-form-urlencoded"}, "body": "a=1&b=%C3%A9"}
    )
    assert form.kind == "form" and form.form == [("a", "1"), ("b", "é")]
    xml = view_body(
        {"headers": {"content-type": "application/fhir+xml"}, "body": "<Patient><id value='1'/></Patient>"}
    )
    assert xml.kind == "xml" and xml.pretty.splitlines()[1].startswith("  <id")
    entity = view_body(
        {
            "headers": {"content-type": "application/xml"},
            "body": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        }
    )
    assert "root:" not in entity.pretty  # external entities are never resolved
    binary = view_body(
        {
            "headers": {"content-type": "application/pdf"},
            "body": base64.b64encode(b"%PDF-1.4").decode(),
            "body_encoding": "base64",
        }
    )
    assert binary.kind == "binary" and "%PDF-1.4" in binary.pretty
    assert view_body({"headers": {}, "body": None}).kind == "empty"


def _xdm() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "IHE_XDM/SUBSET01/METADATA.XML",
            '<SubmitObjectsRequest><ExtrinsicObject id="Document01"/></SubmitObjectsRequest>',
        )
        archive.writestr("IHE_XDM/SUBSET01/DOC0001.XML", "<ClinicalDocument/>")
        archive.writestr("INDEX.HTM", "<html/>")
    return out.getvalue()


def test_a_mime_message_with_an_xdm_package_is_opened() -> None:
    message = EmailMessage()
    message["From"] = "jeanne.martin@medecin.mssante.fr"
    message["To"] = "279035121518989@patient.mssante.fr"
    message["Subject"] = "XDM/1.0/DDM+Compte rendu"
    message["X-MSS-INS"] = "O"
    message.set_content("Bonjour, voici le compte rendu.")
    message.add_attachment(_xdm(), maintype="application", subtype="zip", filename="IHE_XDM.zip")
    view = view_body({"headers": {"content-type": "message/rfc822"}, "body": message.as_string()})
    assert view.kind == "mime" and view.mime is not None
    headers = dict(view.mime.headers)
    assert headers["Subject"] == "XDM/1.0/DDM+Compte rendu"
    assert headers["X-MSS-INS"] == "O"
    text, attachment = view.mime.parts
    assert text.text is not None and "compte rendu" in text.text
    assert attachment.filename == "IHE_XDM.zip" and attachment.xdm is not None
    assert [n for n, _ in attachment.xdm.files] == [
        "IHE_XDM/SUBSET01/METADATA.XML",
        "IHE_XDM/SUBSET01/DOC0001.XML",
        "INDEX.HTM",
    ]
    assert attachment.xdm.documents == ["Document01"]
    assert "<ExtrinsicObject" in attachment.xdm.metadata


def test_mime_is_recognised_without_its_content_type_and_a_cut_zip_is_reported() -> None:
    message = EmailMessage()
    message["From"] = "a@b.fr"
    message["Subject"] = "s"
    message.add_attachment(_xdm()[:60], maintype="application", subtype="zip", filename="IHE_XDM.zip")
    view = view_body({"headers": {}, "body": message.as_string()})
    assert view.kind == "mime" and view.mime is not None
    [part] = [p for p in view.mime.parts if p.xdm]
    assert part.xdm is not None and part.xdm.error and "tronquée" in part.xdm.error


def test_the_json_message_of_mssante_is_opened_with_its_attachments() -> None:
    body = {
        "from": "jeanne.martin@medecin.mssante.fr",
        "to": ["officine@pharmacie-gare.mssante.fr"],
        "subject": "Ordonnance",
        "attachments": [
            {
                "filename": "IHE_XDM.zip",
                "content_type": "application/zip",
                "content_base64": base64.b64encode(_xdm()).decode(),
            }
        ],
    }
    view = view_body({"headers": {"content-type": "application/json"}, "body": json.dumps(body)})
    assert view.kind == "json" and view.mime is not None
    assert ("to", "officine@pharmacie-gare.mssante.fr") in view.mime.headers
    assert view.mime.parts[0].xdm is not None and view.mime.parts[0].xdm.documents == ["Document01"]


def test_bodies_recorded_in_base64_are_opened_too() -> None:
    message = EmailMessage()
    message["From"] = "a@b.fr"
    message["Subject"] = "XDM/1.0/DDM+CR"
    message.add_attachment(_xdm(), maintype="application", subtype="zip", filename="IHE_XDM.zip")
    encoded = base64.b64encode(message.as_bytes()).decode()
    view = view_body(
        {"headers": {"content-type": "message/rfc822"}, "body": encoded, "body_encoding": "base64"}
    )
    assert view.kind == "mime" and view.mime is not None
    assert ("Subject", "XDM/1.0/DDM+CR") in view.mime.headers
    zipped = view_body(
        {
            "headers": {"content-type": "application/zip"},
            "body": base64.b64encode(_xdm()).decode(),
            "body_encoding": "base64",
        }
    )
    assert zipped.mime is not None and zipped.mime.parts[0].xdm is not None
    assert zipped.mime.parts[0].xdm.documents == ["Document01"]
