"""Views of the data: a patient's DMP (documents with their visibility and versions, the
patient's controls, the access traces), a mailbox, a patient's consents, the ordonnances
and their dispensing.

Read through the services' public APIs with sandbox tokens of the person who may see
them (the patient, the holder of a mailbox, a professional), exactly as a client would:
these reads are recorded like any other call (caller ``console``), and the DMP traces them.
"""
