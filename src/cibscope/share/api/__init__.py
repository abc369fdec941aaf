"""The TAXII 2.1 HTTP API (FastAPI): one router per resource, shared dependencies in :mod:`.deps`."""
from .app import create_app

__all__ = ["create_app"]
