"""The caller of a DMP request: a verified token plus the access mode it claims.

The real DMP reads the access mode from the VIHF attribute
``urn:oasis:names:tc:xspa:1.0:subject:purposeofuse`` (TRE_R248-ModeAcces: ``normal``,
``bris_de_glace``, ``centre_15``; fr-ecosystem.md §6). Over FHIR with an OAuth token there
is no VIHF, so the sandbox reads it from two headers (README, "DMP"):
``X-DMP-Access-Mode`` and ``X-DMP-Access-Reason`` (the justification a break-the-glass
access requires; PSC's ``Mode_Acces_Raison`` claim is used when the header is absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from shared.errors import BadRequestError, ForbiddenError
from shared.oauth.principals import MesUser, Principal, Professional, Software

MODE_HEADER = "X-DMP-Access-Mode"
REASON_HEADER = "X-DMP-Access-Reason"

AccessMode = Literal["normal", "bris_de_glace", "centre_15"]
CallerKind = Literal["professional", "patient", "aidant", "representant_legal", "app", "software"]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    mode: AccessMode
    reason: str | None

    @property
    def kind(self) -> CallerKind:
        if isinstance(self.principal, Professional):
            return "professional"
        if isinstance(self.principal, Software):
            return "software"
        return self.principal.actor

    @property
    def professional(self) -> Professional | None:
        return self.principal if isinstance(self.principal, Professional) else None

    @property
    def mes(self) -> MesUser | None:
        return self.principal if isinstance(self.principal, MesUser) else None

    @property
    def agent_id(self) -> str:
        """idNatPS, the Mon espace santé account, or the software's client id."""
        principal = self.principal
        if isinstance(principal, Professional):
            return principal.idnat
        if isinstance(principal, MesUser):
            return principal.acting_account or principal.account
        return principal.client_id

    @property
    def agent_name(self) -> str:
        principal = self.principal
        if isinstance(principal, Professional):
            return f"{principal.given_name} {principal.family_name}".strip() or principal.idnat
        if isinstance(principal, MesUser):
            if principal.actor == "app":
                return f"application {principal.client_id}"
            return principal.acting_account or principal.account
        return f"logiciel {principal.client_id}"

    @property
    def organisation(self) -> str | None:
        pro = self.professional
        return pro.organisation_id if pro else None

    @property
    def client_id(self) -> str:
        return self.principal.client_id


def caller_from_request(request: Request, principal: Principal) -> Caller:
    """The access mode headers checked against who the caller is."""
    raw = (request.headers.get(MODE_HEADER) or "normal").strip()
    if raw not in ("normal", "bris_de_glace", "centre_15"):
        raise BadRequestError(
            f"{MODE_HEADER} must be normal, bris_de_glace or centre_15 (TRE_R248-ModeAcces), got '{raw}'",
            expression=[f"http.header('{MODE_HEADER}')"],
        )
    mode: AccessMode = raw  # type: ignore[assignment]
    reason = (request.headers.get(REASON_HEADER) or "").strip() or None
    if isinstance(principal, Professional) and reason is None:
        claimed = principal.claims.get("Mode_Acces_Raison")
        reason = claimed.strip() if isinstance(claimed, str) and claimed.strip() else None
    if mode != "normal":
        if not isinstance(principal, Professional):
            raise ForbiddenError(
                f"the {mode} access mode is for health professionals (Pro Santé Connect tokens)",
                expression=[f"http.header('{MODE_HEADER}')"],
            )
        if mode == "bris_de_glace" and reason is None:
            raise BadRequestError(
                f"a break-the-glass access needs its justification in {REASON_HEADER}",
                fhir_code="required",
                expression=[f"http.header('{REASON_HEADER}')"],
            )
        if mode == "centre_15" and not principal.regulation:
            raise ForbiddenError(
                "the centre_15 mode is for SAMU regulating doctors (Acces_Regulation_Medicale = VRAI)",
                expression=[f"http.header('{MODE_HEADER}')"],
            )
    return Caller(principal=principal, mode=mode, reason=reason)
