"""Names of the operations a trainer recognises (ITI-65, TD0.2, introspection...).

Matched on the service and the path only: a label helps reading a diagram, it never
decides anything. Unknown paths are shown as they are.
"""

from __future__ import annotations

import re

# (service, method or "*", path regex, label), first match wins.
_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("psc_auth", "*", r"/token/introspect$", "Introspection"),
    ("psc_auth", "*", r"/token/revoke$|/revoke$", "Révocation"),
    ("psc_auth", "*", r"/token$", "Jeton"),
    ("psc_auth", "*", r"/certs$", "Clés (JWKS)"),
    ("psc_auth", "*", r"/userinfo$", "UserInfo"),
    ("psc_auth", "*", r"/logout$", "Déconnexion"),
    ("psc_auth", "*", r"/ext/ciba/auth$", "CIBA"),
    ("psc_auth", "*", r"openid-configuration$", "Découverte"),
    ("psc_auth", "*", r"^/ecps", "App e-CPS"),
    ("psc_auth", "*", r"/auth($|/)", "Connexion"),
    ("dmp", "GET", r"^/fhir/Patient$", "TD0.2 DMP existant ?"),
    ("dmp", "POST", r"^/fhir/?$", "ITI-65 publication"),
    ("dmp", "POST", r"^/fhir/DocumentReference$", "ITI-105 publication"),
    ("dmp", "*", r"^/fhir/DocumentReference(/_search)?$", "ITI-67 recherche"),
    ("dmp", "PATCH", r"^/fhir/DocumentReference", "TD3.3 mise à jour"),
    ("dmp", "GET", r"^/fhir/DocumentReference/", "Lecture fiche"),
    ("dmp", "*", r"^/fhir/List", "ITI-66 lots"),
    ("dmp", "*", r"^/fhir/Binary/", "ITI-68 document"),
    ("dmp", "*", r"^/fhir/AuditEvent", "Traces d'accès"),
    ("dmp", "*", r"^/fhir/metadata$", "CapabilityStatement"),
    ("dmp", "*", r"^/api/patient/controls", "Contrôles du patient"),
    ("dmp", "*", r"^/(fhir/)?documents?/", "ITI-68 document"),
    ("mss", "POST", r"^/api/messages$", "Envoi de message"),
    ("mss", "*", r"^/api/messages", "Messagerie"),
    ("mss", "*", r"^/api/mailboxes", "Boîtes aux lettres"),
    ("mss", "*", r"dispens", "Dispensation"),
    ("mss", "*", r"ordonnance|prescription", "Ordonnance numérique"),
    ("mss", "*", r"^/fhir/(Practitioner|PractitionerRole|Organization)", "Annuaire"),
    ("catalog", "*", r"/oauth/introspect$", "Introspection"),
    ("catalog", "*", r"/oauth/token$", "Jeton"),
    ("catalog", "*", r"/oauth/jwks$", "Clés (JWKS)"),
    ("catalog", "*", r"/oauth/revoke$", "Révocation"),
    ("catalog", "*", r"/oauth/authorize", "Appariement"),
    ("catalog", "*", r"Consent", "Consentements"),
    ("catalog", "*", r"mesures|Observation", "Mesures"),
    ("catalog", "*", r"^/espace", "Espace patient"),
    ("catalog", "*", r"catalogue|/apps", "Catalogue"),
)
_COMPILED = tuple((s, m, re.compile(p), label) for s, m, p, label in _RULES)


def operation(service: str, method: str, path: str, protocol: str = "http") -> str | None:
    """The name of the operation, when the path is a known one."""
    if protocol != "http":
        return protocol.upper()
    for rule_service, rule_method, pattern, label in _COMPILED:
        if rule_service == service and rule_method in ("*", method) and pattern.search(path):
            return label
    return None


def short_path(path: str, limit: int = 40) -> str:
    """A path cut in the middle when too long for an arrow (``/auth/realms/…/token``)."""
    if len(path) <= limit:
        return path
    head = limit // 3
    return f"{path[:head]}…{path[-(limit - head - 1) :]}"


STATUS_TEXT: dict[int, str] = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    423: "Locked",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
