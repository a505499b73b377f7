"""The PSC claims of a professional, built from the persona (fr-ecosystem.md §1.4).

:func:`userinfo_claims` reproduces, key for key, the userinfo the real PSC sandbox (BAS)
returned for its test account (``../shared/reference/examples/psc-userinfo-bas-test-account
.json``, from ansforge/PSC-POC); :func:`access_token_claims` is the subset resource servers
read from the access token (``shared/oauth/principals.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from shared.personas import Organisation, Personas, Professional
from shared.personas.models import Activity

AuthMode = Literal["CARD", "MOBILE"]

OID_SUBJECT_ROLE = "1.2.250.1.213.1.1.5.5"
OID_SECTOR = "1.2.250.1.71.4.2.4"
#: TRE_R231 PalierAuthentification: "APPPRIP3", private-sector natural person, level 3.
PALIER_AUTHENTIFICATION = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
PSI_LOCALE = "1.2.250.1.213.1.3.1.1"
UIT_VERSION = "1.0"


def _activity(activity: Activity, org: Organisation) -> dict[str, str]:
    """One ``SubjectRefPro.exercices[].activities[]`` entry, in PSC's key order."""
    address = org.address
    return {
        "codeModeExercice": activity.mode,
        "codeSecteurDactivite": activity.sector,
        "codeSectionPharmacien": activity.pharmacist_section,
        "codeRole": activity.role,
        "codeGenreActivite": activity.activity_kind,
        "numeroSiretSite": org.siret,
        "numeroSirenSite": org.siren,
        "numeroFinessSite": org.finess,
        "numeroFinessetablissementJuridique": org.finess_ej,
        "identifiantTechniqueDeLaStructure": org.technical_id,
        "raisonSocialeSite": org.name,
        "enseigneCommercialeSite": org.sign,
        "complementDestinataire": address.recipient_complement,
        "complementPointGeographique": address.geographic_complement,
        "numeroVoie": address.number,
        "indiceRepetitionVoie": address.repetition,
        "codeTypeDeVoie": address.street_type,
        "libelleVoie": address.street,
        "mentionDistribution": address.distribution_mention,
        "bureauCedex": address.cedex_office,
        "codePostal": address.postal_code,
        "codeCommune": address.commune_code,
        "codePays": address.country_code,
        "telephone": org.phone,
        "telephone2": "",
        "telecopie": "",
        "adresseEMail": org.email,
        "codeDepartement": address.department_code,
        "ancienIdentifiantDeLaStructure": org.former_id,
        "autoriteDenregistrement": activity.registration_authority,
    }


def subject_ref_pro(personas: Personas, pro: Professional) -> dict[str, Any]:
    return {
        "codeCivilite": pro.civility,
        "exercices": [
            {
                "codeProfession": pro.profession,
                "codeCategorieProfessionnelle": pro.category,
                "codeCiviliteDexercice": pro.practice_civility,
                "nomDexercice": pro.family_name,
                "prenomDexercice": pro.given_name,
                "codeTypeSavoirFaire": pro.skill_type,
                "codeSavoirFaire": pro.skill,
                "activities": [_activity(a, personas.organisation(a.organisation)) for a in pro.activities],
            }
        ],
    }


def access_token_claims(personas: Personas, pro: Professional) -> dict[str, Any]:
    """What resource servers need to apply their rules without calling userinfo: the
    current structure is the first activity's (PSC's ``SubjectOrganization``)."""
    activity = pro.activities[0]
    organisation = personas.organisation(activity.organisation)
    return {
        "preferred_username": pro.idnat,
        "SubjectNameID": pro.idnat,
        "given_name": pro.given_name,
        "family_name": pro.family_name,
        "SubjectRole": [f"{pro.profession}^{OID_SUBJECT_ROLE}"],
        "SubjectOrganization": organisation.name,
        "SubjectOrganizationID": organisation.technical_id,
        "Secteur_Activite": f"{activity.sector}^{OID_SECTOR}",
        "Acces_Regulation_Medicale": "VRAI" if pro.regulation else "FAUX",
    }


def userinfo_claims(personas: Personas, pro: Professional, auth_mode: AuthMode) -> dict[str, Any]:
    """The full PSC userinfo (scope ``scope_all``)."""
    claims = access_token_claims(personas, pro)
    claims.update(
        {
            "sub": pro.sub,
            "Mode_Acces_Raison": "",
            "UITVersion": UIT_VERSION,
            "authMode": auth_mode,
            "Palier_Authentification": PALIER_AUTHENTIFICATION,
            "SubjectRefPro": subject_ref_pro(personas, pro),
            "PSI_Locale": PSI_LOCALE,
            "otherIds": [{"identifiant": pro.idnat, "origine": "RPPS", "qualite": 1}],
        }
    )
    return claims
