"""The codes the DMP knows (fr-ecosystem.md §2.7; NOS terminologies; PDSm profiles).

``REQUIRED`` bindings refuse an unknown code (an error); every other binding we know is
treated as *extensible*: an unknown code or code system is accepted with a warning in
``entry.response.outcome`` (MHD ITI-65), because the DMP lists (JDV_J57/J60/J61/J62/J66)
are longer than what the public sources give and the guides' own examples use SNOMED CT or
IHE systems (fr-ecosystem.md §7.3).
"""

from __future__ import annotations

from dataclasses import dataclass

NOS = "https://mos.esante.gouv.fr/NOS"


def nos(name: str) -> str:
    """``TRE_A03-ClasseDocument`` → its FHIR canonical URL in the NOS."""
    return f"{NOS}/{name}/FHIR/{name.replace('_', '-')}"


TRE_A03 = nos("TRE_A03-ClasseDocument")
TRE_A05 = nos("TRE_A05-TypeDocComplementaire")
TRE_A07 = nos("TRE_A07-StatutVisibiliteDocument")
#: The misspelling of the PDSm examples (fr-ecosystem.md §7.2): accepted, never emitted.
TRE_A07_MISSPELLED = nos("TRE_A07-StatusVisibiliteDocument")
TRE_A11 = nos("TRE_A11-IheFormatCode")
TRE_A06 = nos("TRE_A06-FormatCodeComplementaire")
TRE_R02 = nos("TRE_R02-SecteurActivite")
TRE_A00 = nos("TRE_A00-ProducteurDocNonPS")
TRE_A01 = nos("TRE_A01-CadreExercice")
TRE_R209 = nos("TRE_R209-TypeActivite")
TRE_R248 = nos("TRE_R248-ModeAcces")
LOINC = "http://loinc.org"
IHE_FORMAT = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
MHD_LIST_TYPES_HTTP = "http://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"

#: TRE_A07-StatutVisibiliteDocument (JDV_J110, required on securityLabel[visibilityStatus]).
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_RL = "INVISIBLE_REPRESENTANTS_LEGAUX"
VISIBILITY = {
    INVISIBLE_PATIENT: "Non visible par le patient",
    INVISIBLE_RL: "Non visible par représentants légaux du patient",
    MASQUE_PS: "Masqué aux professionnels de santé",
    "MASQUE_PSOCIAL": "Masqué aux professionnels du dom social",
    "MASQUE_PT": "Masqué aux personnes tierces",
}
#: v3-ConfidentialityClassification (required on securityLabel[confidentiality]).
CONFIDENTIALITY_CODES = {
    "U": "unrestricted",
    "L": "low",
    "M": "moderate",
    "N": "normal",
    "R": "restricted",
    "V": "very restricted",
}

#: FHIR document-relationship-type (required on relatesTo.code).
RELATIONSHIPS = ("replaces", "transforms", "signs", "appends")

#: TRE_R248-ModeAcces: how a professional reaches a DMP (VIHF purposeofuse).
ACCESS_MODES = {"normal": "Accès normal", "bris_de_glace": "Bris de glace", "centre_15": "Centre 15"}

#: Extension URLs of PDSm (archived, deleted) and MHD (SubmissionSet).
EXT_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
EXT_DELETED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-deleted"
EXT_SOURCE_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
EXT_DESIGNATION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"


@dataclass(frozen=True)
class Binding:
    """What we know of one element's value set: systems and their codes."""

    element: str
    codes: dict[str, frozenset[str]]

    def check(self, system: str | None, code: str | None) -> str | None:
        """None when known; else the reason it is not (the text of a warning)."""
        if not system or system not in self.codes:
            return f"{self.element}: code system '{system}' is not one the DMP lists for this element"
        known = self.codes[system]
        if known and code not in known:
            return f"{self.element}: code '{code}' is not in {system} as the DMP knows it"
        return None


def _codes(*values: str) -> frozenset[str]:
    return frozenset(values)


_LOINC_TYPES = _codes(
    "11488-4",  # Compte rendu de consultation
    "34133-9",  # Synthèse d'épisode de soins
    "11490-0",  # Lettre de sortie
    "57833-6",  # Prescription de médicaments (ordonnance)
    "11502-2",  # Compte rendu d'examens biologiques
    "18748-4",  # Compte rendu d'imagerie médicale
    "11506-3",  # Note d'évolution
    "11526-1",  # Compte rendu d'anatomopathologie
    "60591-5",  # Synthèse médicale (patient summary)
    "34794-8",  # Compte rendu de réunion de concertation pluridisciplinaire
    "57828-6",  # Prescription
    "60593-1",  # Dispensation médicamenteuse
    "11369-6",  # Historique de vaccination
    "87273-9",  # Note de vaccination
    "34112-3",  # Note d'hospitalisation
    "15508-5",  # Compte rendu d'accouchement
    "11505-5",  # Compte rendu de procédure
    "47420-5",  # Évaluation fonctionnelle
    "51851-4",  # Note administrative
)

BINDINGS: dict[str, Binding] = {
    "type": Binding("type (typeCode, JDV_J66)", {LOINC: _LOINC_TYPES, TRE_A05: frozenset()}),
    "category": Binding(
        "category (classCode, JDV_J57)",
        {
            TRE_A03: _codes("10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", "99"),
            "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1": _codes("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"),
        },
    ),
    "format": Binding(
        "content.format (formatCode, JDV_J60)",
        {
            system: _codes(
                "urn:ihe:iti:xds-sd:pdf:2008",
                "urn:ihe:iti:xds-sd:text:2008",
                "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                "urn:ihe:lab:xd-lab:2008",
                "urn:ihe:pcc:xphr:2007",
                "urn:ihe:pcc:xds-ms:2007",
                "urn:ihe:rad:PDF",
                "urn:ihe:rad:TEXT",
                "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",
            )
            for system in (TRE_A11, IHE_FORMAT)
        }
        | {TRE_A06: frozenset()},
    ),
    "facility": Binding(
        "context.facilityType (healthcareFacilityTypeCode, JDV_J61)",
        {
            TRE_R02: _codes(
                *(f"SA{n:02d}" for n in range(1, 57)),
            ),
            TRE_A00: _codes("EXP_PATIENT", "SNR", "DISPOSITIF", "ALIM_AM"),
        },
    ),
    "setting": Binding(
        "context.practiceSetting (practiceSettingCode, JDV_J62)",
        {
            TRE_A01: _codes(
                "AMBULATOIRE",
                "ETABLISSEMENT",
                "ESSMS",
                "HAD",
                "MAD",
                "SAD",
                "SAMU_SMUR",
                "DEPISTAGE",
                "PALLIATIF",
                "AMO",
                "SERVICE_SANTE_TRAVAIL",
                "SERVICE_SANTE_SCOLAIRE",
                "PROTECTION_MATERNELLE_INFANTILE",
            ),
            TRE_A00: _codes("EXP_PATIENT", "SNR"),
        },
    ),
    "designation": Binding(
        "SubmissionSet designationType (contentTypeCode, JDV_J59)",
        {
            TRE_R209: frozenset(),
            TRE_R02: _codes(*(f"SA{n:02d}" for n in range(1, 57))),
            TRE_A00: _codes("EXP_PATIENT", "SNR"),
        },
    ),
}


def visibility_system(system: str | None) -> bool:
    return system in (TRE_A07, TRE_A07_MISSPELLED)


def token(system: str | None, code: str | None) -> str:
    """The ``system|code`` key stored for searching."""
    return f"{system or ''}|{code or ''}"
