"""Flat-file imports: a CSV whose rows each update one pass, named by its id or by external
identifiers, with `metadata.*` and `additionalData.*` cells as a JSON Merge Patch.

The API reads the whole file up front (`csv_file`: encoding, delimiter, strict RFC 4180, the
header checked by `columns`) and refuses a malformed one before anything is written. Accepted
rows are packed into batches (`packing`) stored with the operation (`storing`), so the job
never needs the upload again. The job (`planning`, `batches`, on the `bulk` queue like
campaigns) turns each row's cells into a lookup and a patch (`cells`), applies it as an
update does (`rows`), and stores one result per row, which `results` writes back as CSV.
Nothing here imports Celery: the worker tasks (workers/tasks/imports.py) are thin.
"""

from __future__ import annotations

IMPORT = "import"  # the operation kind
PLAN_TASK = "passwire.imports.plan"
BATCH_TASK = "passwire.imports.batch"
