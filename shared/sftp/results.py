"""Writing an SFTP import's results beside its file once the import has ended:
`processed/<name>.results.csv`, the very download of `GET …/imports/{id}/results.csv`
(shared/imports/results.py), written whole and then renamed into place so a brand's job
never reads half of it. The SFTP server polls for ended imports (no worker needs the disk).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared import operations
from shared.imports.results import results_csv
from shared.infra.clock import utcnow
from shared.repositories import imports as imports_repo
from shared.repositories import operations as operations_repo
from shared.repositories import sftp_uploads as repo
from shared.sftp.folders import results_name
from shared.sftp.intake import Drop
from shared.sftp.paths import PROCESSED

log = logging.getLogger(__name__)


def write_finished_results(drop: Drop) -> int:
    """Results of every filed import that has ended; how many were written."""
    written = 0
    for upload in list(repo.unfinished(drop.db, repo.FILED, drop.configs)):
        try:
            written += _write_if_ended(drop, upload)
        except Exception:  # one upload's trouble never holds the others back
            log.exception("sftp results of %s not written yet", upload["correlationId"])
    return written


def _write_if_ended(drop: Drop, upload: Mapping[str, Any]) -> int:
    tenant_id, correlation_id = upload["tenant"], upload["correlationId"]
    operation = operations_repo.find_operation(drop.db, tenant_id, correlation_id)
    if operation is not None and operation["status"] not in operations.FINAL_STATUSES:
        return 0
    status = operation["status"] if operation is not None else operations.FAILED
    batches = imports_repo.results_of(drop.db, tenant_id, correlation_id)
    text = "".join(results_csv(batches, status))
    name = results_name(upload["processedName"])
    drop.folders(tenant_id).write_atomically(PROCESSED, name, text.encode("utf-8"))
    repo.set_status(drop.db, upload["_id"], repo.DONE, utcnow())
    log.info("sftp import %s %s: processed/%s written", correlation_id, status, name)
    return 1
