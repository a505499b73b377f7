"""The web platform every service is built on: app factory, middleware, ``/_sandbox/``."""
