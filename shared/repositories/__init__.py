"""The only modules that talk to MongoDB: one per collection, plus index creation."""

from pymongo.errors import ConnectionFailure

# What callers outside the repository layer catch when MongoDB cannot be reached
# (server selection timeouts and dropped connections are both ConnectionFailure).
DatabaseUnavailable = ConnectionFailure

__all__ = ["DatabaseUnavailable"]
