"""The patient's DMP: TD0.2 (does it exist, open or closed), creation and closure.

PDSm4DMP ``transaction_td02.md``: ``GET [base]/Patient?identifier=<INS system>|<INS>``
answers a searchset with 0 entries (no DMP) or 1 (``Patient.active``: open or closed).
The guide leaves creation, closure and the DMP-specific statuses "à définir": the sandbox's
choices are documented in the README as fictitious.
"""
