"""The DMP's errors: the platform's hierarchy, rendered as FHIR OperationOutcome.

IHE MHD asks a Document Recipient to use the error codes of ITI TF-3 Table 4.2.4.1-2 where
they apply (ITI-65 §2:3.65.4.1.3). They travel in ``issue.details.coding.code``; IHE gives
them no FHIR code system, so ``details.coding.system`` is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.errors import (
    BadRequestError,
    ForbiddenError,
    Issue,
    NotFoundError,
    SandboxError,
    UnprocessableError,
)

__all__ = [
    "BadRequestError",
    "ForbiddenError",
    "InjectedFault",
    "NotFoundError",
    "Problems",
    "SandboxError",
    "UnprocessableError",
]

# ITI TF-3 Table 4.2.4.1-2 (XDS error codes) used by the DMP.
REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
MISSING_DOCUMENT = "XDSMissingDocument"
UNKNOWN_PATIENT = "XDSUnknownPatientId"
PATIENT_MISMATCH = "XDSPatientIdDoesNotMatch"
DUPLICATE_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
DUPLICATE_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
DEPRECATED_DOCUMENT = "XDSRegistryDeprecatedDocumentError"
UNRESOLVED_REFERENCE = "UnresolvedReferenceException"
FHIR_DOCUMENT_NOT_SUPPORTED = "FHIRDocumentNotSupported"


@dataclass
class Problems:
    """Every problem found in a request, reported together in one OperationOutcome.

    A structural problem (not a transaction, a broken reference...) makes the answer a
    400; problems with the content only (metadata, codes, hash) a 422.
    """

    issues: list[Issue] = field(default_factory=list)
    structural: bool = False

    def error(
        self,
        message: str,
        expression: str,
        *,
        code: str = "invalid",
        xds: str | None = None,
        structural: bool = False,
    ) -> None:
        self.issues.append(Issue(message, code=code, expression=(expression,), details_code=xds))
        self.structural = self.structural or structural

    def required(self, what: str, expression: str, *, xds: str = REGISTRY_METADATA_ERROR) -> None:
        self.error(f"{what} is required", expression, code="required", xds=xds)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def raise_if_any(self) -> None:
        if not self.issues:
            return
        first = self.issues[0].diagnostics
        more = len(self.issues) - 1
        detail = first if not more else f"{first} (and {more} more problem{'s' if more > 1 else ''})"
        error = BadRequestError if self.structural else UnprocessableError
        raise error(detail, issues=tuple(self.issues))


class InjectedFault(SandboxError):
    """A fault the sandbox injects *inside* a transaction (``/_sandbox/faults`` with the
    method ``DMP:STORE``): the write fails half-way, to show that nothing is left behind."""

    error = "injected_fault"
    fhir_code = "exception"
