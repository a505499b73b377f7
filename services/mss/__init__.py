"""MSSanté secure messaging and the ordonnance numérique.

Emulates the MSSanté space of trust (../shared/reference/fr-ecosystem.md §3): mailboxes of
types PER/ORG/APP/CAB and citizen mailboxes ``<INS>@patient.mssante.fr``, messaging over
HTTP, SMTP and IMAP, IHE XDM packaging, ``X-MSS-*`` headers and RFC 8098 acknowledgements
with the integration error codes 900-906 (ansforge IG-hl7v2-volet-trans-lps-doc-cda-
courriel-mss), the Annuaire Santé FHIR directory shape (ansforge/interop-ig-fhir-api-
messagerie-securisee-sante), and the ordonnance numérique (ansforge/interop-ig-fhir-
ePrescription; its number and QR payload are fictitious, README).
"""
