"""Finding, reading and changing documents: ITI-67, ITI-66, ITI-68 and PATCH (TD3.x).

IHE MHD ITI-66/67/68 (https://profiles.ihe.net/ITI/MHD/), PDSm ``st_recherche_*.md``,
``st_consultation.md``, ``st_maj.md``; PDSm4DMP TD3.1a/b, TD3.2, TD3.3a–d.
"""
