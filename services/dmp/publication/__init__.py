"""Publishing: ITI-65 Provide Document Bundle and ITI-105 Simplified Publish.

IHE MHD ITI-65 (https://profiles.ihe.net/ITI/MHD/ITI-65.html) and ITI-105, as PDSm
(``st_ajout.md``, ``st_ajout_simplifie.md``) and PDSm4DMP (TD2, TD2.1) use them for the DMP.
``metadata`` checks one resource (pure), ``bundle`` checks a whole transaction and plans it
(pure), ``service`` writes the plan in one transaction, ``routes`` are the endpoints.
"""
