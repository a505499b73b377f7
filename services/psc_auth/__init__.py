"""Pro Santé Connect: the OpenID Connect provider of French health professionals.

Emulates PSC as its public material describes it (../shared/reference/fr-ecosystem.md §1
and §6): the Keycloak realm ``esante-wallet`` with ``wallet-openid-configuration``
discovery, ``acr=eidas1``, the PSC claims (``SubjectNameID``, ``SubjectRefPro``...), and the
CPS card / e-CPS second factor. Sources: ansforge/keycloak-prosanteconnect,
ansforge/PSC-POC, OpenID Connect Core 1.0, RFC 6749, 7636, 7662, 7009.
"""
