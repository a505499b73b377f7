"""Mon espace santé: the patient's space, the app catalogue and consent to data exchange.

Emulates the patient side of the ecosystem (../shared/reference/fr-ecosystem.md §4, §2.8):
patient accounts with caregivers and parents, the authorization server whose tokens the
DMP and MSSanté accept, the catalogue of referenced apps, pairing with consent (OAuth 2
authorization code + PKCE) and the "mesures" API of the ANS guide
(ansforge/IG-fhir-mesures-de-sante). What the real service does not publish is invented
and documented as fictitious in the README.
"""
