"""The web UI's pages, one module per page or group of routes; each has ``setup(app)``."""
