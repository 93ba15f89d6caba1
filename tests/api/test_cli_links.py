"""`passwire links sign`: a signed, expiring link that opens a pass's download page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from shared.cli import main as cli
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id


@pytest.mark.usefixtures("cli_env")
def test_a_signed_link_opens_the_page_and_a_tampered_one_does_not(
    app: Any, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pass_id, now = new_pass_id(), utcnow()
    db.passes.insert_one(
        {"_id": pass_id, "tenant": "demo", "passType": "loyalty", "authenticationToken": "t" * 32,
         "identifiers": {}, "metadata": {}, "additionalData": {}, "version": 1,
         "createdAt": now, "updatedAt": now}
    )  # fmt: skip
    assert cli(["links", "sign", "--tenant", "demo", "--pass", pass_id, "--medium", "email"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    assert url.path == f"/api/demo/passes/{pass_id}/view"
    client = app.test_client()
    assert client.get(f"{url.path}?{url.query}").status_code == 200
    tampered = url.query.replace("t=", "t=9", 1)
    assert client.get(f"{url.path}?{tampered}").status_code in {401, 403}
    assert cli(["links", "sign", "--tenant", "demo", "--pass", "no-such-pass"]) == 1
