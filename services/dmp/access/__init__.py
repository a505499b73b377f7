"""Who may do what in a DMP (fr-ecosystem.md §2.8), and the holder's controls.

``caller`` turns a verified token and the access-mode headers into a :class:`Caller`;
``policy`` decides (pure functions: the rules of §2.8, one place); ``service`` loads what
the rules need from the database and applies the holder's controls (contract 3).
"""
