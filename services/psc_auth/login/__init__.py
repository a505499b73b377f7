"""The login journey of the real ``wallet.*`` host: identification (idNatPS, RPPS or a test
professional), choice of the second factor, CPS card PIN, e-CPS push and TOTP, French
server-rendered pages (RFC 6749 §4.1, OpenID Connect Core 1.0 §3.1.2.3 "Authorization
Server Authenticates End-User")."""
