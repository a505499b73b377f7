"""The OpenID Connect provider: discovery, authorization, token, userinfo, introspection,
revocation, logout and CIBA endpoints, laid out as Keycloak lays them out for PSC.

Specifications: OpenID Connect Core 1.0, Discovery 1.0, RP-Initiated Logout 1.0, CIBA Core
1.0; RFC 6749 (OAuth 2.0), 7636 (PKCE), 7662 (introspection), 7009 (revocation), 7523 (JWT
client authentication), 9207 (``iss`` in the authorization response), 9700 (security BCP).
"""
