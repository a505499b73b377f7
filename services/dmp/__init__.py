"""The DMP (Dossier Médical Partagé): document sharing over FHIR R4 with its access rules.

Emulates the DMP as the ANS guides describe it over IHE MHD: "Partage de Documents de
Santé en mobilité" (PDSm, https://interop.esante.gouv.fr/ig/fhir/pdsm) and its DMP mapping
(PDSm4DMP, https://interop.esante.gouv.fr/ig/fhir/pdsm4dmp); IHE MHD ITI-65/66/67/68/105
(https://profiles.ihe.net/ITI/MHD/). Facts: ../shared/reference/fr-ecosystem.md §2.
"""
