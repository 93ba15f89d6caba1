"""Campaigns: one change (a JSON Merge Patch, a message) applied to a segment of a tenant's
passes, planned into batches of explicit pass ids and counted exactly once per batch.

`planning` walks the segment and enqueues batches, `batches` applies the change to one batch,
`segments` turns a filter into the MongoDB query, `statistics` derives throughput and ETA,
`recovery` is the watchdog that finishes campaigns whose messages were lost.
Nothing here imports Celery: the worker tasks (workers/tasks/campaigns.py) are thin.
"""

from __future__ import annotations

PUSH_UPDATE = "pushUpdate"  # the operation kind
PLAN_TASK = "passwire.campaigns.plan"
BATCH_TASK = "passwire.campaigns.batch"
# The operation kind of a large campaign's dry run: planned and batched as a campaign is.
PREVIEW = "preview"
