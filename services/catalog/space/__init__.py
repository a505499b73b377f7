"""The patient's space: home, connected apps, measurements, caregivers, and the patient's
controls over the DMP (fr-ecosystem.md §2.8), which call the DMP (contract 3)."""
