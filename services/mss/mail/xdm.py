"""IHE XDM packages (ITI TF-1 §16, TF-3 §4.2.3.2.1...), the ``IHE_XDM.zip`` of MSSanté.

Layout (ITI TF-3 Table 4.2.3.2.1-1 "XDM file-set"): ``INDEX.HTM``, ``README.TXT`` and
``IHE_XDM/SUBSET01/`` holding ``METADATA.XML`` (an ebRS 3.0 ``SubmitObjectsRequest``:
one ``ExtrinsicObject`` per document, the submission set ``RegistryPackage`` and its
associations) and the documents named by their ``URI`` slot. Identifiers use the XDS
classification scheme UUIDs of ITI TF-3 §4.2.5. MSSanté (fr-ecosystem.md §3.2) attaches
it to the message, optionally beside a PDF.

The sandbox writes such packages (ordonnance, tests) and reads them back to integrate
them (:mod:`services.mss.mail.integration`). One simplification, documented in the
README: a replacement (RPLC association) names the replaced document by its
``uniqueId`` in ``targetObject``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
CDA = "urn:hl7-org:v3"
METADATA_PATH = "IHE_XDM/SUBSET01/METADATA.XML"

DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SANDBOX_SOURCE_OID = "1.2.250.1.999.5.1"


class XdmError(ValueError):
    """A package that cannot be read (integration error 906)."""


@dataclass
class PatientTraits:
    """The INS and the identity traits of ``sourcePatientInfo`` (PID-3/5/7/8)."""

    ins: str | None
    ins_oid: str | None
    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    gender: str | None = None


@dataclass
class XdmDocument:
    data: bytes
    mime_type: str
    title: str
    type_code: str
    type_display: str
    class_code: str
    class_display: str
    unique_id: str = field(default_factory=lambda: f"2.25.{uuid.uuid4().int}")
    format_code: str = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    #: Read side: the document's patient, author, and what it replaces.
    patient: PatientTraits | None = None
    author: str | None = None
    replaces: str | None = None


def _slot(parent: ET.Element, name: str, *values: str) -> None:
    slot = ET.SubElement(parent, f"{{{RIM}}}Slot", name=name)
    value_list = ET.SubElement(slot, f"{{{RIM}}}ValueList")
    for value in values:
        ET.SubElement(value_list, f"{{{RIM}}}Value").text = value


def _name(parent: ET.Element, text: str) -> None:
    name = ET.SubElement(parent, f"{{{RIM}}}Name")
    ET.SubElement(name, f"{{{RIM}}}LocalizedString", value=text)


def _classification(parent: ET.Element, scheme: str, obj: str, code: str, display: str, system: str) -> None:
    node = ET.SubElement(
        parent,
        f"{{{RIM}}}Classification",
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation=code,
        id=f"urn:uuid:{uuid.uuid4()}",
    )
    _slot(node, "codingScheme", system)
    _name(node, display)


def _external_id(parent: ET.Element, scheme: str, obj: str, value: str, label: str) -> None:
    node = ET.SubElement(
        parent,
        f"{{{RIM}}}ExternalIdentifier",
        identificationScheme=scheme,
        registryObject=obj,
        value=value,
        id=f"urn:uuid:{uuid.uuid4()}",
    )
    _name(node, label)


def patient_cx(ins: str, oid: str) -> str:
    """The HL7 v2 CX form of an INS: ``<INS>^^^&<OID>&ISO``."""
    return f"{ins}^^^&{oid}&ISO"


def build(
    documents: list[XdmDocument],
    *,
    patient: PatientTraits,
    author_idnat: str,
    title: str,
    replaces: str | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """An ``IHE_XDM.zip`` holding ``documents`` for ``patient``."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d%H%M%S")
    ET.register_namespace("rim", RIM)
    ET.register_namespace("lcm", LCM)
    root = ET.Element(f"{{{LCM}}}SubmitObjectsRequest")
    objects = ET.SubElement(root, f"{{{RIM}}}RegistryObjectList")
    cx = patient_cx(patient.ins or "", patient.ins_oid or "") if patient.ins else ""
    files: dict[str, bytes] = {}
    entry_ids: list[str] = []
    for index, doc in enumerate(documents, start=1):
        extension = "XML" if "xml" in doc.mime_type else doc.mime_type.rpartition("/")[2].upper()[:4]
        file_name = f"DOC{index:04d}.{extension}"
        files[file_name] = doc.data
        entry_id = f"urn:uuid:{uuid.uuid4()}"
        entry_ids.append(entry_id)
        entry = ET.SubElement(
            objects,
            f"{{{RIM}}}ExtrinsicObject",
            id=entry_id,
            mimeType=doc.mime_type,
            objectType=DOCUMENT_ENTRY,
        )
        _slot(entry, "creationTime", stamp)
        _slot(entry, "hash", hashlib.sha1(doc.data).hexdigest())  # noqa: S324 - XDS hash is SHA-1
        _slot(entry, "size", str(len(doc.data)))
        _slot(entry, "URI", file_name)
        _slot(entry, "languageCode", "fr-FR")
        if cx:
            _slot(entry, "sourcePatientId", cx)
        info = [f"PID-3|{cx}"] if cx else []
        if patient.family_name or patient.given_name:
            info.append(f"PID-5|{patient.family_name or ''}^{patient.given_name or ''}^^^^^L")
        if patient.birth_date:
            info.append(f"PID-7|{patient.birth_date}")
        if patient.gender:
            info.append(f"PID-8|{patient.gender}")
        if info:
            _slot(entry, "sourcePatientInfo", *info)
        _name(entry, doc.title)
        author = ET.SubElement(
            entry,
            f"{{{RIM}}}Classification",
            classificationScheme=AUTHOR,
            classifiedObject=entry_id,
            nodeRepresentation="",
            id=f"urn:uuid:{uuid.uuid4()}",
        )
        _slot(author, "authorPerson", f"{author_idnat}^^^^^^^^^&1.2.250.1.71.4.2.1&ISO")
        _classification(
            entry, CLASS_CODE, entry_id, doc.class_code, doc.class_display, "1.2.250.1.213.1.1.4.1"
        )
        _classification(entry, TYPE_CODE, entry_id, doc.type_code, doc.type_display, "2.16.840.1.113883.6.1")
        _classification(
            entry, FORMAT_CODE, entry_id, doc.format_code, doc.format_code, "1.3.6.1.4.1.19376.1.2.3"
        )
        if cx:
            _external_id(entry, DE_PATIENT_ID, entry_id, cx, "XDSDocumentEntry.patientId")
        _external_id(entry, DE_UNIQUE_ID, entry_id, doc.unique_id, "XDSDocumentEntry.uniqueId")
    package_id = "SubmissionSet01"
    package = ET.SubElement(objects, f"{{{RIM}}}RegistryPackage", id=package_id)
    _slot(package, "submissionTime", stamp)
    _name(package, title)
    ET.SubElement(
        package,
        f"{{{RIM}}}Classification",
        classificationNode=SUBMISSION_SET,
        classifiedObject=package_id,
        id=f"urn:uuid:{uuid.uuid4()}",
    )
    _external_id(package, SS_UNIQUE_ID, package_id, f"2.25.{uuid.uuid4().int}", "XDSSubmissionSet.uniqueId")
    _external_id(package, SS_SOURCE_ID, package_id, SANDBOX_SOURCE_OID, "XDSSubmissionSet.sourceId")
    if cx:
        _external_id(package, SS_PATIENT_ID, package_id, cx, "XDSSubmissionSet.patientId")
    for entry_id in entry_ids:
        ET.SubElement(
            objects,
            f"{{{RIM}}}Association",
            associationType=HAS_MEMBER,
            sourceObject=package_id,
            targetObject=entry_id,
            id=f"urn:uuid:{uuid.uuid4()}",
        )
    if replaces and entry_ids:
        ET.SubElement(
            objects,
            f"{{{RIM}}}Association",
            associationType=RPLC,
            sourceObject=entry_ids[0],
            targetObject=replaces,
            id=f"urn:uuid:{uuid.uuid4()}",
        )
    metadata = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", f"<html><body><p>{title}</p></body></html>")
        archive.writestr("README.TXT", "IHE XDM - mes-sandbox (bac à sable MSSanté, données fictives)\r\n")
        archive.writestr(METADATA_PATH, metadata)
        for file_name, data in files.items():
            archive.writestr(f"IHE_XDM/SUBSET01/{file_name}", data)
    return buffer.getvalue()


# -- reading -----------------------------------------------------------------------------


def _safe_xml(data: bytes) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XdmError(f"not well-formed XML: {exc}") from exc


def _slots(node: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for slot in node.findall(f"{{{RIM}}}Slot"):
        found[slot.get("name", "")] = [v.text or "" for v in slot.iter(f"{{{RIM}}}Value")]
    return found


def parse_cx(value: str) -> tuple[str | None, str | None]:
    """``<id>^^^&<oid>&ISO`` → (id, oid)."""
    ident, _, rest = value.partition("^^^")
    parts = rest.split("&")
    oid = parts[1] if len(parts) > 1 and parts[1] else None
    return (ident or None), oid


def _traits(slots: dict[str, list[str]], entry: Any) -> PatientTraits:
    cx = next(
        (
            e.get("value", "")
            for e in entry.findall(f"{{{RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == DE_PATIENT_ID
        ),
        (slots.get("sourcePatientId") or [""])[0],
    )
    ins, oid = parse_cx(cx) if cx else (None, None)
    traits = PatientTraits(ins=ins, ins_oid=oid)
    for item in slots.get("sourcePatientInfo", []):
        field_name, _, value = item.partition("|")
        if field_name == "PID-5":
            family, _, rest = value.partition("^")
            traits.family_name = family or None
            traits.given_name = rest.split("^", 1)[0] or None
        elif field_name == "PID-7":
            traits.birth_date = value or None
        elif field_name == "PID-8":
            traits.gender = value or None
    return traits


def read(data: bytes) -> list[XdmDocument]:
    """The documents of an ``IHE_XDM.zip``, with their metadata; :class:`XdmError` if unreadable."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = {name.upper(): name for name in archive.namelist()}
        if METADATA_PATH not in names:
            raise XdmError(f"{METADATA_PATH} is missing from the package")
        root = _safe_xml(archive.read(names[METADATA_PATH]))
        replaced = {
            a.get("sourceObject"): a.get("targetObject")
            for a in root.iter(f"{{{RIM}}}Association")
            if a.get("associationType") == RPLC
        }
        documents: list[XdmDocument] = []
        for entry in root.iter(f"{{{RIM}}}ExtrinsicObject"):
            documents.append(_document(archive, names, entry, replaced))
    except zipfile.BadZipFile as exc:
        raise XdmError(f"IHE_XDM.zip is not a zip archive: {exc}") from exc
    if not documents:
        raise XdmError("METADATA.XML describes no document")
    return documents


def _document(
    archive: zipfile.ZipFile, names: dict[str, str], entry: Any, replaced: dict[Any, Any]
) -> XdmDocument:
    slots = _slots(entry)
    uri = (slots.get("URI") or [""])[0]
    path = f"IHE_XDM/SUBSET01/{uri}".upper()
    if not uri or path not in names:
        raise XdmError(f"document '{uri or '?'}' named in METADATA.XML is missing from the package")
    content = archive.read(names[path])
    size = (slots.get("size") or [""])[0]
    if size and size != str(len(content)):
        raise XdmError(f"document '{uri}': size {len(content)} differs from the metadata ({size})")
    codes = {
        c.get("classificationScheme"): c.get("nodeRepresentation", "")
        for c in entry.findall(f"{{{RIM}}}Classification")
    }
    author = next(
        (
            (_slots(c).get("authorPerson") or [""])[0].split("^", 1)[0]
            for c in entry.findall(f"{{{RIM}}}Classification")
            if c.get("classificationScheme") == AUTHOR
        ),
        None,
    )
    unique_id = next(
        (
            e.get("value", "")
            for e in entry.findall(f"{{{RIM}}}ExternalIdentifier")
            if e.get("identificationScheme") == DE_UNIQUE_ID
        ),
        "",
    )
    name = entry.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString")
    return XdmDocument(
        data=content,
        mime_type=entry.get("mimeType", "application/octet-stream"),
        title=name.get("value", "") if name is not None else "",
        type_code=codes.get(TYPE_CODE, ""),
        type_display="",
        class_code=codes.get(CLASS_CODE, ""),
        class_display="",
        unique_id=unique_id,
        format_code=codes.get(FORMAT_CODE, ""),
        patient=_traits(slots, entry),
        author=author or None,
        replaces=replaced.get(entry.get("id")),
    )


# -- CDA ---------------------------------------------------------------------------------


@dataclass
class CdaFacts:
    code: str | None
    patient: PatientTraits


def read_cda(data: bytes) -> CdaFacts | None:
    """The document code and patient of a CDA R2 document, or None if it is not CDA."""
    if b"ClinicalDocument" not in data[:4096]:
        return None
    root = _safe_xml(data)
    if root.tag != f"{{{CDA}}}ClinicalDocument":
        return None
    ns = {"h": CDA}
    code = root.find("h:code", ns)
    patient_role = root.find("h:recordTarget/h:patientRole", ns)
    traits = PatientTraits(ins=None, ins_oid=None)
    if patient_role is not None:
        for ident in patient_role.findall("h:id", ns):
            if (ident.get("root") or "").startswith("1.2.250.1.213.1.4."):
                traits.ins, traits.ins_oid = ident.get("extension"), ident.get("root")
        person = patient_role.find("h:patient", ns)
        if person is not None:
            traits.family_name = _text(person.find("h:name/h:family", ns))
            traits.given_name = _text(person.find("h:name/h:given", ns))
            gender = person.find("h:administrativeGenderCode", ns)
            traits.gender = gender.get("code") if gender is not None else None
            birth = person.find("h:birthTime", ns)
            traits.birth_date = birth.get("value") if birth is not None else None
    return CdaFacts(code=code.get("code") if code is not None else None, patient=traits)


def _text(node: Any) -> str | None:
    return (node.text or "").strip() or None if node is not None else None


def minimal_cda(*, code: str, display: str, title: str, patient: PatientTraits, author_idnat: str) -> bytes:
    """A small CDA R2 document (header only, narrative body) for tests and examples."""
    ids = ""
    if patient.ins:
        ids = f'<id root="{patient.ins_oid}" extension="{patient.ins}"/>'
    name = ""
    if patient.family_name or patient.given_name:
        given, family = patient.given_name or "", patient.family_name or ""
        name = f"<name><given>{given}</given><family>{family}</family></name>"
    gender = f'<administrativeGenderCode code="{patient.gender}"/>' if patient.gender else ""
    birth = f'<birthTime value="{patient.birth_date}"/>' if patient.birth_date else ""
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ClinicalDocument xmlns="{CDA}"><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        f'<id root="2.25.{uuid.uuid4().int}"/><code code="{code}" codeSystem="2.16.840.1.113883.6.1" '
        f'displayName="{display}"/><title>{title}</title>'
        f"<recordTarget><patientRole>{ids}<patient>{name}{gender}{birth}</patient></patientRole></recordTarget>"
        f'<author><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="{author_idnat}"/>'
        "</assignedAuthor></author>"
        "<component><nonXMLBody><text>Document fictif du bac à sable.</text></nonXMLBody></component>"
        "</ClinicalDocument>"
    )
    return text.encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
