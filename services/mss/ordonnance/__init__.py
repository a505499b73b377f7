"""The ordonnance numérique (fr-ecosystem.md §3.3; ansforge/interop-ig-fhir-ePrescription).

A prescription is N FHIR ``MedicationRequest`` grouped by ``groupIdentifier`` for one
patient (INS) by one prescriber. The sandbox gives it a unique number and a QR payload
(both fictitious, :mod:`.formats`), a QR code (PNG, SVG) and a printable PDF
(:mod:`.documents`), sends it to the patient's citizen mailbox and publishes it in the
DMP (LOINC 57833-6, class 42) on request, and keeps the dispensing line by line.
"""
