"""The mes-sandbox services: each a FastAPI app of its own, talking to the others over HTTP.

``cli.py`` and ``launcher.py`` are the composition root, the only code that imports every
service (README, "Architecture").
"""
