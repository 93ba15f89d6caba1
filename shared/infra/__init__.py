"""Infrastructure every domain package leans on.

Database and Redis clients, rate limits, logs, clock, ids, readiness.
"""
