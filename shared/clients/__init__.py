"""Clients for the external services passwire talks to."""
