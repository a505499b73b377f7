"""The catalogue of referenced services (fr-ecosystem.md §4): listing, referencing API."""
