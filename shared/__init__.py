"""Protocol and platform helpers that every mes-sandbox service uses.

What lives here is true because of a protocol (OAuth 2 / OIDC, FHIR, W3C Trace Context,
the French identifier rules) or because of the platform (settings, storage, the
``/_sandbox/`` test-control API), never because of one service's business rule.
``shared`` never imports ``services`` (checked by import-linter, see pyproject.toml).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mes-sandbox")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
