"""Consents to data exchange, readable as FHIR R4 ``Consent`` resources with their history."""
