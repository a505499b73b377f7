"""Messages: addresses, MIME, IHE XDM packages, acknowledgements, and their delivery.

One delivery path (:mod:`services.mss.mail.delivery`) serves the HTTP API and the SMTP
listener alike; the IMAP listener reads what it stored.
"""
