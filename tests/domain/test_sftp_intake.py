"""Taking SFTP uploads against the real MongoDB, with a recording broker and no server: what
is stored and queued, in which order, and what a stop or a lost message leaves to the next
start. (tests/e2e/test_sftp_drop.py drives the same through the server and the worker.)"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from shared import operations
from shared.imports import PLAN_TASK
from shared.jobs import EnqueueError
from shared.sftp.config import SftpConfig
from shared.sftp.folders import TenantFolders
from shared.sftp.intake import Drop, requeue_lost, resume_received, take_upload
from shared.sftp.results import write_finished_results

KEY = "ssh-ed25519 AAAA"


class Broker:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def enqueue(self, task_name: str, **kwargs: Any) -> None:
        if self.down:
            raise EnqueueError(f"could not enqueue {task_name}: ConnectionError")
        self.sent.append((task_name, kwargs))


@pytest.fixture
def tenant() -> str:
    # A tenant id of its own per test: the daily count and the duplicate keys are per tenant.
    return f"t-{secrets.token_hex(4)}"


def make_drop(db: Any, tmp_path: Path, tenant: str, broker: Broker, **limits: int) -> Drop:
    drop = Drop(
        db=db,
        enqueue=broker.enqueue,
        data_dir=tmp_path,
        configs={tenant: SftpConfig(authorized_keys=(KEY,), **limits)},
    )
    drop.folders(tenant).ensure()
    return drop


def drop_file(folders: TenantFolders, name: str, text: str) -> None:
    folders.path("incoming", name).write_text(text)


def test_an_accepted_file_is_recorded_stored_queued_then_filed(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker)
    folders = drop.folders(tenant)
    drop_file(folders, "a.csv", "id.crm;metadata.tier\r\nC-1;gold\r\nC-2;silver\r\n")

    assert take_upload(drop, tenant, "a.csv") == "imported"
    [upload] = db.sftp_uploads.find({"tenant": tenant})
    assert (upload["status"], upload["rows"], upload["name"]) == ("filed", 2, "a.csv")
    operation = db.operations.find_one({"_id": upload["correlationId"]})
    assert (operation["kind"], operation["tenant"], operation["counters"]["total"]) == (
        "import",
        tenant,
        2,
    )
    assert broker.sent == [
        (PLAN_TASK, {"tenant_id": tenant, "correlation_id": upload["correlationId"]})
    ]
    assert folders.path("processed", "a.csv").exists()
    assert not folders.path("incoming", "a.csv").exists()


def test_a_failed_enqueue_leaves_the_file_to_resume_and_it_imports_once(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker)
    folders = drop.folders(tenant)
    drop_file(folders, "b.csv", "id.crm;metadata.tier\r\nC-1;gold\r\n")
    broker.down = True
    with pytest.raises(EnqueueError):
        take_upload(drop, tenant, "b.csv")
    [upload] = db.sftp_uploads.find({"tenant": tenant})
    assert upload["status"] == "received" and folders.path("incoming", "b.csv").exists()

    broker.down = False
    assert resume_received(drop) == 1
    # The sweep finds the file gone from incoming/: taken once, one operation.
    assert take_upload(drop, tenant, "b.csv") == "gone"
    assert db.sftp_uploads.find_one({"_id": upload["_id"]})["status"] == "filed"
    assert db.operations.count_documents({"tenant": tenant}) == 1
    assert [kwargs["correlation_id"] for _, kwargs in broker.sent] == [upload["correlationId"]]


def test_a_stop_after_the_claim_resumes_with_the_same_import(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker)
    folders = drop.folders(tenant)
    drop_file(folders, "c.csv", "id.crm;metadata.tier\r\nC-1;gold\r\n")
    broker.down = True
    with pytest.raises(EnqueueError):
        take_upload(drop, tenant, "c.csv")
    broker.down = False
    # At the next start the file is still in incoming/: taken again, it is the same upload.
    assert take_upload(drop, tenant, "c.csv") == "imported"
    assert db.sftp_uploads.count_documents({"tenant": tenant}) == 1
    assert db.operations.count_documents({"tenant": tenant}) == 1


def test_a_filed_import_still_queued_is_queued_again_at_start(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker)
    drop_file(drop.folders(tenant), "d.csv", "id.crm;metadata.tier\r\nC-1;gold\r\n")
    take_upload(drop, tenant, "d.csv")
    [upload] = db.sftp_uploads.find({"tenant": tenant})
    broker.sent.clear()  # the message was lost with Redis: the operation never began

    assert requeue_lost(drop) >= 1
    assert (PLAN_TASK, {"tenant_id": tenant, "correlation_id": upload["correlationId"]}) in (
        broker.sent
    )
    operations.start(db, upload["correlationId"])
    broker.sent.clear()
    requeue_lost(drop)
    assert upload["correlationId"] not in [kwargs["correlation_id"] for _, kwargs in broker.sent]


def test_results_are_written_beside_the_file_once_the_import_ended(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker)
    folders = drop.folders(tenant)
    drop_file(folders, "e.csv", "id.crm;metadata.tier\r\nC-1;gold\r\n")
    take_upload(drop, tenant, "e.csv")
    [upload] = db.sftp_uploads.find({"tenant": tenant})
    write_finished_results(drop)
    assert not folders.path("processed", "e.csv.results.csv").exists()  # still queued

    operations.fail(db, upload["correlationId"], "for the test")
    write_finished_results(drop)
    text = folders.path("processed", "e.csv.results.csv").read_text()
    assert text.splitlines()[0] == "row,passId,status,error"
    assert text.splitlines()[1].startswith("2,,failed,")
    assert db.sftp_uploads.find_one({"_id": upload["_id"]})["status"] == "done"


def test_past_the_daily_count_a_file_is_rejected_and_nothing_stored(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker, max_files_per_day=1)
    folders = drop.folders(tenant)
    drop_file(folders, "one.csv", "id.crm;metadata.tier\r\nC-1;gold\r\n")
    drop_file(folders, "two.csv", "id.crm;metadata.tier\r\nC-2;gold\r\n")
    assert take_upload(drop, tenant, "one.csv") == "imported"
    assert take_upload(drop, tenant, "two.csv") == "rejected"
    errors = folders.path("rejected", "two.csv.errors.txt").read_text()
    assert "at most 1 files in 24 hours" in errors
    assert folders.path("rejected", "two.csv").exists()
    assert db.operations.count_documents({"tenant": tenant}) == 1


def test_too_many_rows_for_the_tenant_is_rejected_naming_the_limit(
    db: Any, tmp_path: Path, tenant: str
) -> None:
    broker = Broker()
    drop = make_drop(db, tmp_path, tenant, broker, max_rows=1)
    folders = drop.folders(tenant)
    drop_file(folders, "f.csv", "id.crm;metadata.tier\r\nC-1;gold\r\nC-2;gold\r\n")
    assert take_upload(drop, tenant, "f.csv") == "rejected"
    assert "has more than 1 rows" in folders.path("rejected", "f.csv.errors.txt").read_text()
    assert db.sftp_uploads.count_documents({"tenant": tenant}) == 0
    assert broker.sent == []
