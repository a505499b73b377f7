"""Storage: one database per service (SQLite by default, PostgreSQL on request),
Alembic migrations run on start, request-scoped transactions, portable snapshots."""
