"""Dependency aliases of Mon espace santé's endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.catalog.oauth.local import Caller, LocalVerifier
from services.catalog.oauth.service import TokenService
from shared.oauth.bearer import bearer_token
from shared.web.deps import SessionDep


def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


TokensDep = Annotated[TokenService, Depends(get_tokens)]


def get_verifier(request: Request) -> LocalVerifier:
    verifier: LocalVerifier = request.app.state.verifier
    return verifier


def get_caller(request: Request, session: SessionDep) -> Caller:
    """The bearer of a Mon espace santé token (401 when absent, forged, expired, revoked)."""
    return get_verifier(request).verify(session, bearer_token(request))


CallerDep = Annotated[Caller, Depends(get_caller)]
