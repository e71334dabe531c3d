"""tracker: a self-hosted, privacy-first event tracking server."""

__version__ = "0.1.0"
