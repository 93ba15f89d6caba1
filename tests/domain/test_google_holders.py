"""Who holds a pass's Google object, for passes written before passwire tracked it: the
migration (`passwire google adopt-holders`) and the deliveries apply the same rule, and a
tenant that trusts its callbacks can drop the assumed holders."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from shared.cli import main as passwire
from shared.infra.clock import utcnow
from shared.passes.google_versions import ASSUMED, SAVED, google_holder
from shared.repositories import owed_deliveries
from shared.repositories import passes as passes_repo


def _legacy(db: Any, tenant: str, *, synced: bool, saved: bool, deleted: bool) -> str:
    """A pass as the code before holders left it: no `googleHolder` field."""
    pass_id = f"legacy-{secrets.token_hex(6)}"
    now = utcnow()
    db.passes.insert_one(
        {
            "_id": pass_id,
            "tenant": tenant,
            "updatedAt": now - timedelta(hours=3),
            "google": {"contentHash": "new", "syncedHash": "old" if synced else None},
            "googlePending": True,
            "providers": {
                "apple": None,
                "google": {"installedAt": now} if saved else None,
                **({"googleUninstalledAt": now} if deleted else {}),
            },
        }
    )
    return pass_id


def test_the_migration_keeps_every_pass_that_may_be_saved_receiving_updates(db: Any) -> None:
    tenant = f"t-{secrets.token_hex(4)}"
    saved = _legacy(db, tenant, synced=True, saved=True, deleted=False)
    # At Google (inserted at create by the old code), no callback ever seen: perhaps the
    # tenant had no callbacks then, so perhaps saved.
    unknown = _legacy(db, tenant, synced=True, saved=False, deleted=False)
    deleted = _legacy(db, tenant, synced=True, saved=False, deleted=True)  # a del came
    never_sent = _legacy(db, tenant, synced=False, saved=False, deleted=False)
    expected = {saved: SAVED, unknown: ASSUMED, deleted: None, never_sent: None}
    # Before the migration the deliveries already judge each pass by that rule...
    before = {d["_id"]: google_holder(d) for d in db.passes.find({"tenant": tenant})}
    assert before == expected
    # ...but the resend sweep's index needs the field: the migration writes it.
    counts = passes_repo.adopt_google_holders(db, [tenant])
    assert counts == {SAVED: 1, ASSUMED: 1, "none": 2}
    stored = {d["_id"]: d["googleHolder"] for d in db.passes.find({"tenant": tenant})}
    assert stored == expected
    assert passes_repo.adopt_google_holders(db, [tenant]) == {SAVED: 0, ASSUMED: 0, "none": 0}
    owed = owed_deliveries.owed_before(
        db, [tenant], before=utcnow() - timedelta(hours=1), now=utcnow(), limit=10
    )
    assert {d["_id"] for d in owed} == {saved, unknown}

    # A tenant that always had callbacks: no save callback means nobody holds it.
    assert passes_repo.trust_google_callbacks(db, tenant) == 1
    assert db.passes.find_one({"_id": unknown})["googleHolder"] is None
    assert db.passes.find_one({"_id": saved})["googleHolder"] == SAVED


def test_the_command_line_runs_the_migration(
    db: Any, settings: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI", settings.mongodb_uri)  # the CLI reads the environment
    tenant = f"t-{secrets.token_hex(4)}"
    unknown = _legacy(db, tenant, synced=True, saved=False, deleted=False)
    assert passwire(["google", "adopt-holders", "--tenant", tenant]) == 0
    assert "0 saved, 1 assumed" in capsys.readouterr().out
    assert db.passes.find_one({"_id": unknown})["googleHolder"] == ASSUMED
    assert passwire(["google", "trust-callbacks", "--tenant", tenant]) == 0
    assert db.passes.find_one({"_id": unknown})["googleHolder"] is None
