"""Mon espace santé's authorization server: OAuth 2 (RFC 6749) with PKCE (RFC 7636), OpenID
Connect ID tokens, introspection (RFC 7662) and revocation (RFC 7009)."""
