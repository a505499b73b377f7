"""FHIR R4 over HTTP (https://hl7.org/fhir/R4/http.html): formats, OperationOutcome.

The DMP, the MSSanté directory and ordonnance, and the Mon espace santé "mesures" API all
speak FHIR; what is true of FHIR itself (content negotiation with ``Accept`` and
``_format``, JSON and XML bodies, the OperationOutcome of an error) lives here.
"""

from shared.fhir.formats import (
    FHIR_JSON,
    FHIR_XML,
    fhir_response,
    negotiate_format,
    parse_resource,
)
from shared.fhir.outcome import operation_outcome

__all__ = [
    "FHIR_JSON",
    "FHIR_XML",
    "fhir_response",
    "negotiate_format",
    "operation_outcome",
    "parse_resource",
]
