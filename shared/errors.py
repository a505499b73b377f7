"""One error hierarchy for every service; rendered per protocol by ``shared.web.errors``.

Services raise a :class:`SandboxError` subclass and never build error JSON by hand. The
same exception becomes, depending on the endpoint it was raised under:

* a FHIR ``OperationOutcome`` (``application/fhir+json`` or ``+xml``), with
  ``issue.code`` from :attr:`SandboxError.fhir_code` and ``issue.expression``;
* an OAuth 2 error body ``{"error", "error_description"}`` (RFC 6749 §5.2);
* ``{"error", "detail"}`` everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue`` (FHIR R4 §OperationOutcome).

    ``code`` is from the IssueType value set (``invalid``, ``required``, ``value``,
    ``not-found``, ``forbidden``...). ``details_code`` carries a more precise coded reason,
    for instance an IHE MHD error code from ITI TF-3 Table 4.2.4.1-2; ``details_text`` a
    message of its own in ``details.text`` (default: the diagnostics).
    """

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: Sequence[str] = ()
    details_code: str | None = None
    details_system: str | None = None
    details_text: str | None = None


@dataclass
class ErrorBody:
    """Everything a renderer needs, whatever the protocol."""

    status: int
    error: str
    detail: str
    fhir_code: str
    issues: Sequence[Issue] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


class SandboxError(Exception):
    """Base of every expected error. The status and codes are class attributes."""

    status: ClassVar[int] = 500
    #: Short machine code: the ``error`` member of the JSON and OAuth bodies.
    error: ClassVar[str] = "server_error"
    #: FHIR IssueType code used when the error is rendered as an OperationOutcome.
    fhir_code: ClassVar[str] = "exception"

    def __init__(
        self,
        detail: str,
        *,
        error: str | None = None,
        expression: Sequence[str] = (),
        issues: Sequence[Issue] = (),
        headers: Mapping[str, str] | None = None,
        details_code: str | None = None,
        details_system: str | None = None,
        fhir_code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status or type(self).status
        self.error_code = error or type(self).error
        self.issue_code = fhir_code or type(self).fhir_code
        self.expression = tuple(expression)
        self.extra_issues = tuple(issues)
        self.headers = dict(headers or {})
        self.details_code = details_code
        self.details_system = details_system

    def body(self) -> ErrorBody:
        issues = self.extra_issues or (
            Issue(
                diagnostics=self.detail,
                code=self.issue_code,
                expression=self.expression,
                details_code=self.details_code,
                details_system=self.details_system,
            ),
        )
        return ErrorBody(
            status=self.status_code,
            error=self.error_code,
            detail=self.detail,
            fhir_code=self.issue_code,
            issues=issues,
            headers=self.headers,
        )


class BadRequestError(SandboxError):
    status = 400
    error = "invalid_request"
    fhir_code = "invalid"


class UnauthorizedError(SandboxError):
    """401. Bearer-protected endpoints add ``WWW-Authenticate`` (RFC 6750 §3)."""

    status = 401
    error = "invalid_token"
    fhir_code = "login"


class ForbiddenError(SandboxError):
    status = 403
    error = "forbidden"
    fhir_code = "forbidden"


class NotFoundError(SandboxError):
    status = 404
    error = "not_found"
    fhir_code = "not-found"


class MethodNotAllowedError(SandboxError):
    status = 405
    error = "method_not_allowed"
    fhir_code = "not-supported"


class NotAcceptableError(SandboxError):
    status = 406
    error = "not_acceptable"
    fhir_code = "not-supported"


class ConflictError(SandboxError):
    status = 409
    error = "conflict"
    fhir_code = "conflict"


class GoneError(SandboxError):
    status = 410
    error = "gone"
    fhir_code = "deleted"


class PreconditionFailedError(SandboxError):
    status = 412
    error = "precondition_failed"
    fhir_code = "conflict"


class PayloadTooLargeError(SandboxError):
    status = 413
    error = "payload_too_large"
    fhir_code = "too-costly"


class UnsupportedMediaTypeError(SandboxError):
    status = 415
    error = "unsupported_media_type"
    fhir_code = "not-supported"


class UnprocessableError(SandboxError):
    status = 422
    error = "unprocessable"
    fhir_code = "processing"


class LockedError(SandboxError):
    """423: a resource is locked (a CPS card blocked after three wrong PINs)."""

    status = 423
    error = "locked"
    fhir_code = "lock-error"


class PeerUnavailableError(SandboxError):
    """502: a peer service answered badly or not at all."""

    status = 502
    error = "bad_gateway"
    fhir_code = "transient"


class ServiceUnavailableError(SandboxError):
    status = 503
    error = "unavailable"
    fhir_code = "transient"


class OAuthError(SandboxError):
    """An OAuth 2 / OIDC protocol error (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6).

    ``error`` must be one of the registered codes (``invalid_request``, ``invalid_client``,
    ``invalid_grant``, ``unauthorized_client``, ``unsupported_grant_type``,
    ``invalid_scope``, ``access_denied``, ``login_required``...).
    """

    status = 400
    error = "invalid_request"
    fhir_code = "security"

    def __init__(
        self,
        error: str,
        detail: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail, error=error, status=status, headers=headers)


class InvalidClientError(OAuthError):
    """401 ``invalid_client`` (RFC 6749 §5.2), with the challenge of the scheme tried."""

    def __init__(self, detail: str, *, scheme: str = "Basic") -> None:
        super().__init__(
            "invalid_client",
            detail,
            status=401,
            headers={"WWW-Authenticate": f'{scheme} realm="mes-sandbox"'},
        )


def bearer_challenge(error: str, description: str) -> dict[str, str]:
    """The ``WWW-Authenticate`` header of RFC 6750 §3 for a refused bearer token."""
    safe = description.replace('"', "'")
    return {"WWW-Authenticate": f'Bearer error="{error}", error_description="{safe}"'}


class InvalidTokenError(UnauthorizedError):
    """A bearer token that is missing, expired, forged, revoked or for someone else."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers=bearer_challenge("invalid_token", detail))


class InsufficientScopeError(ForbiddenError):
    """403 ``insufficient_scope`` (RFC 6750 §3.1)."""

    error = "insufficient_scope"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers=bearer_challenge("insufficient_scope", detail))
