"""Garbage collection for long-running worker processes: what lives as long as the process
is left out of the collector's full passes.

A prefork child holds some 100,000 tracked objects for its whole life (modules, Celery, the
tenants, clients). CPython's full (generation 2) collection walks every one of them: ~50 ms
each here, about one per 3,000 campaign passes, ~20 µs CPU per pass for nothing (run_batch
on bench/campaign_bench.py's stack, timed with gc.callbacks). `gc.freeze()` moves the
objects alive at that moment into a permanent generation that no collection walks; garbage
made later is collected as before.

Frozen twice: right after the fork (what the child inherits), then once after the child's
first job, after a full collection (so only live objects are frozen: the tenants and the
connections that job loaded, which every later job reuses). Only in prefork children: a
process that did not fork for Celery (a test run, `celery call`) is left alone.
"""

from __future__ import annotations

import gc
import os


class _Process:
    child: int | None = None  # the pid of a prefork child, set right after its fork
    settled: int | None = None  # the pid whose first job's heap was frozen


def after_fork() -> None:
    _Process.child = os.getpid()
    gc.freeze()


def after_job() -> None:
    """Freeze what the child's first job left alive; later jobs leave the heap as it is."""
    pid = os.getpid()
    if _Process.child != pid or _Process.settled == pid:
        return
    _Process.settled = pid
    gc.collect()
    gc.freeze()
