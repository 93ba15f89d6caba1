"""A CSV import's `consent.marketing` column: each row records its pass's marketing consent at
once, audited (via `import`, who: the import), once however often its batch runs; a cell that
is not true or false fails its row alone; an empty one leaves the consent as it is."""

from __future__ import annotations

from typing import Any

import pytest

from shared.imports.batches import run_import_batch
from shared.imports.columns import read_header
from shared.imports.problems import ImportRejected
from shared.passes.jobs import JobContext
from shared.repositories import consent_changes
from tests.domain.test_import_job import insert_passes, plan, queued_import, results


def test_a_consent_column_records_consent_with_its_trail(db: Any, job_context: JobContext) -> None:
    granted, refused, untouched, bad = insert_passes(db, 4)
    text = (
        "id,consent.marketing,metadata.tier\r\n"
        f"{granted},true,\r\n"
        f"{refused},false,silver\r\n"
        f"{untouched},,gold\r\n"
        f"{bad},yes,\r\n"
    )
    correlation_id = queued_import(db, text)
    plan(job_context, correlation_id)
    run_import_batch(job_context, correlation_id, 0)
    run_import_batch(job_context, correlation_id, 0)  # delivered twice

    def marketing(pass_id: str) -> Any:
        return (db.passes.find_one({"_id": pass_id}).get("consent") or {}).get("marketing")

    assert marketing(granted)["granted"] is True
    assert marketing(granted)["source"] == "import"
    assert marketing(refused)["granted"] is False
    assert db.passes.find_one({"_id": refused})["metadata"]["tier"] == "silver"
    assert marketing(untouched) is None
    assert marketing(bad) is None
    assert results(db, correlation_id)[5] == (
        None,
        "failed",
        "consent.marketing: must be true or false",
    )
    [change] = consent_changes.for_pass(db, "demo", granted)
    assert (change["via"], change["who"]) == ("import", f"import:{correlation_id}")


@pytest.mark.parametrize("name", ["consent", "consent.sms", "consent.marketing.granted"])
def test_only_consent_marketing_is_a_consent_column(name: str) -> None:
    with pytest.raises(ImportRejected) as refused:
        read_header(["id", name])
    assert refused.value.problems[0].reason.startswith("unknown column")
    assert read_header(["id", "consent.marketing"]).data[0].root == "consent"
