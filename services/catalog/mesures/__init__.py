"""The "mesures" API of Mon espace santé (ANS, ansforge/IG-fhir-mesures-de-sante:
"Spécifications de l'API Mesures de santé de Mon Espace Santé" v1.5.2): feeding with a FHIR
transaction Bundle (IHE POU PCH-01), searching with the "all" and "last" modes."""
