"""Mon espace santé's errors: the platform's hierarchy, rendered as OAuth bodies under
``/oauth``, FHIR OperationOutcome under ``/fhir``, ``{"error", "detail"}`` for the JSON APIs,
and French pages for the pages (``web.py``). The DMP's refusals are ``clients.DmpRefusal``;
replayed authorization codes are ``oauth.grants.RefusedAfterRevoking``."""

from shared.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidClientError,
    InvalidTokenError,
    NotFoundError,
    OAuthError,
    UnauthorizedError,
    UnprocessableError,
)

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "InvalidClientError",
    "InvalidTokenError",
    "NotFoundError",
    "OAuthError",
    "UnauthorizedError",
    "UnprocessableError",
]
