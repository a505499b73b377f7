"""Access traces: every read and write of a DMP recorded as a FHIR ``AuditEvent``.

R1111-43 and L1111-19: every action on the DMP is traced (date, time, actor) and the traces
are visible to the holder, the médecin traitant and the professional concerned
(fr-ecosystem.md §2.8). The shape follows IHE BALP / the MHD audit profiles (§6).
"""
