"""FHIR content negotiation and (de)serialisation, JSON and XML (R4 §http.html#mime-type).

Resources travel as plain ``dict`` inside the services, read and written as JSON with
:mod:`shared.jsoncodec`; ``fhir.resources`` (R4B models) is used to read and write XML and
to validate structure.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from shared import jsoncodec
from shared.errors import BadRequestError, NotAcceptableError, UnsupportedMediaTypeError

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"

Format = Literal["json", "xml"]

_FORMAT_PARAM: dict[str, Format] = {
    "json": "json",
    "application/json": "json",
    "application/fhir+json": "json",
    "xml": "xml",
    "text/xml": "xml",
    "application/xml": "xml",
    "application/fhir+xml": "xml",
}


def _media_types(accept: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]


def negotiate_format(request: Request, *, strict: bool = False) -> Format:
    """The format of the answer: ``_format`` first, then ``Accept``, JSON by default.

    With ``strict``, an ``Accept`` naming only types FHIR cannot produce is a 406.
    """
    param = request.query_params.get("_format")
    if param:
        fmt = _FORMAT_PARAM.get(param.strip().lower().replace(" ", "+"))
        if fmt is None:
            raise NotAcceptableError(f"_format '{param}' is not supported (json or xml)")
        return fmt
    types = _media_types(request.headers.get("accept", ""))
    for media in types:
        if media in _FORMAT_PARAM:
            return _FORMAT_PARAM[media]
        if media in ("*/*", "application/*", "text/*"):
            return "json"
    if strict and types:
        raise NotAcceptableError(f"cannot produce {', '.join(types)}: use {FHIR_JSON} or {FHIR_XML}")
    return "json"


def dump(resource: dict[str, Any], fmt: Format) -> bytes:
    if fmt == "json":
        return jsoncodec.dumps(resource)
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    xml = model.model_dump_xml()
    return xml if isinstance(xml, bytes) else str(xml).encode()


def fhir_response(
    resource: dict[str, Any],
    request: Request,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A FHIR resource in the format the client asked for."""
    fmt = negotiate_format(request)
    media = FHIR_JSON if fmt == "json" else FHIR_XML
    return Response(
        dump(resource, fmt),
        status_code=status,
        media_type=f"{media}; charset=utf-8",
        headers=headers,
    )


def body_format(content_type: str | None) -> Format:
    """The format of a request body from its ``Content-Type`` (415 when neither)."""
    media = (content_type or FHIR_JSON).split(";")[0].strip().lower()
    fmt = _FORMAT_PARAM.get(media)
    if fmt is None:
        raise UnsupportedMediaTypeError(
            f"Content-Type '{media}' is not supported: send {FHIR_JSON} or {FHIR_XML}"
        )
    return fmt


def parse_resource(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A request body as a resource ``dict`` (XML is read through the R4B models)."""
    fmt = body_format(content_type)
    if not body.strip():
        raise BadRequestError("the request has no body", fhir_code="required")
    if fmt == "json":
        try:
            data = jsoncodec.loads(body)
        except json.JSONDecodeError as exc:  # orjson's, for invalid UTF-8 too
            raise BadRequestError(f"the body is not valid JSON: {exc}", fhir_code="structure") from exc
        if not isinstance(data, dict) or "resourceType" not in data:
            raise BadRequestError(
                "the body is not a FHIR resource (no resourceType)",
                fhir_code="structure",
                expression=["resourceType"],
            )
        return data
    return _parse_xml(body)


def _parse_xml(body: bytes) -> dict[str, Any]:
    from fhir.resources.R4B import get_fhir_model_class
    from lxml import etree
    from pydantic import ValidationError

    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise BadRequestError(f"the body is not well-formed XML: {exc}", fhir_code="structure") from exc
    name = etree.QName(root).localname
    try:
        model_class = get_fhir_model_class(name)
    except (KeyError, ValueError) as exc:  # fhir.resources raises ValueError for an unknown name
        raise BadRequestError(f"'{name}' is not a FHIR resource", fhir_code="structure") from exc
    try:
        model = model_class.model_validate_xml(body)
    except (ValidationError, ValueError) as exc:
        raise BadRequestError(f"the XML resource is not valid: {exc}", fhir_code="structure") from exc
    data: dict[str, Any] = json.loads(model.model_dump_json())
    return data
