"""The infrastructure errors a retry can fix: Redis or MongoDB unreachable for a while (a
restart, a fail-over, a network cut). Anything else is a bug or bad data, and retrying it
only delays the reason."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnavailable
from pymongo.errors import AutoReconnect, ConnectionFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# pymongo's ServerSelectionTimeoutError and NetworkTimeout are AutoReconnects; kombu raises
# OperationalError when publishing to a broker it cannot reach.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect,
    ConnectionFailure,
    RedisConnectionError,
    RedisTimeoutError,
    BrokerUnavailable,
)
