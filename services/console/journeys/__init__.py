"""Journeys: the exchanges every service records (``/_sandbox/exchanges``, README
"Exchanges") put back together as calls between actors, one trace at a time.

A call between two services is recorded twice (outbound by the caller, inbound by the
callee, linked by W3C trace context: the callee's ``parent_span_id`` is the caller's
span); :mod:`.model` pairs them and nests each call under the request during which it was
made, which gives a sequence diagram its order without trusting clocks. :mod:`.layout`
places it, :mod:`.svg` and :mod:`.png` draw it, :mod:`.mermaid` and :mod:`.har` export
it, :mod:`.inspect` opens what travelled (FHIR, JWTs, MIME, XDM).
"""
