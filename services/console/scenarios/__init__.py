"""Scenarios: the ecosystem's journeys written as files and played against a running
sandbox, step by step from the console or whole from ``mes-sandbox scenario run NAME``.

A scenario file (YAML, README "Writing a scenario") is validated by :mod:`.format`,
found by :mod:`.library` (the built-in ones and ``MES_CONSOLE_SCENARIOS_DIR``), and
played by :mod:`.engine` over plain HTTP: each step is one W3C trace, so that the
console draws each step as one journey.
"""
