"""OAuth 2 / OpenID Connect building blocks shared by the two authorization servers
(Pro Santé Connect and Mon espace santé) and the resource servers that trust them.

Laid out by specification: signing keys and JWKS (RFC 7517, 7518, 7638), PKCE (RFC 7636),
client authentication (RFC 6749 §2.3, RFC 7523), bearer tokens (RFC 6750) and their
verification by a resource server (RFC 7519 + RFC 7662 introspection).
"""
