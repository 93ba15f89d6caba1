"""The only modules that talk to MongoDB: one per collection, plus index creation."""

from shared.infra.db import DatabaseUnavailable

__all__ = ["DatabaseUnavailable"]
