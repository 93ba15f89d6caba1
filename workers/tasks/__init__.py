"""Thin Celery tasks: each names its job and calls one domain function."""
