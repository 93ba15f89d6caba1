"""The demo tenant's external data provider in the tests: the fake CRM in this process, and a
`member` pass type (a copy of the demo loyalty card) whose header shows `external.points`."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dev.fake_crm import FakeCrm

CRM_URL_ENV = "DEMO_CRM_URL"
CRM_TOKEN_ENV = "DEMO_CRM_TOKEN"
CRM_TOKEN = "crm-tests-only-" + secrets.token_hex(8)

DEMO_PROVIDERS = f"""
[[providers]]
id = "crm"
url = "${CRM_URL_ENV}/customers/{{identifiers.crm}}"
auth_header = "Authorization"
auth_env = "{CRM_TOKEN_ENV}"
timeout_s = 2.0
fields = {{ firstName = "first_name", points = "loyalty.points" }}
pass_types = ["loyalty", "member"]
"""

MEMBER_PASSTYPE = """kind = "loyalty"
description = "Demo Coffee member card (points from the CRM)"

[data]
identifiers = ["crm"]
metadata = ["store", "tier"]
additionalData = ["points"]
external = ["points", "firstName"]

[data.sample.external]
points = 7

[apple]
pass_type_identifier = "pass.com.example.demo"
"""


@dataclass(frozen=True)
class RunningCrm:
    crm: FakeCrm
    env: dict[str, str]  # for the worker: where the CRM is and its token


@contextmanager
def running_crm() -> Iterator[RunningCrm]:
    """The fake CRM, and its URL and token in this process's environment (the API app in
    this process loads the demo tenant and calls the CRM with them)."""
    with FakeCrm(token=CRM_TOKEN) as crm, pytest.MonkeyPatch.context() as patch:
        env = {CRM_URL_ENV: crm.url, CRM_TOKEN_ENV: f"Bearer {CRM_TOKEN}"}
        for name, value in env.items():
            patch.setenv(name, value)
        yield RunningCrm(crm, env)


def add_member_pass_type(demo_dir: Path) -> None:
    """passtypes/member: the loyalty card whose header reads `external.points`."""
    member = demo_dir / "passtypes" / "member"
    # Apple only: MEMBER_PASSTYPE has no [google] table, so the google/ templates stay behind.
    shutil.copytree(
        demo_dir / "passtypes" / "loyalty", member, ignore=shutil.ignore_patterns("google")
    )
    (member / "passtype.toml").write_text(MEMBER_PASSTYPE)
    template = member / "apple" / "pass.json"
    text = template.read_text()
    old = "{{ pass.additionalData.points | default: 0 | json }}"
    assert old in text, "the demo loyalty template changed: update tests/support/crm.py"
    template.write_text(text.replace(old, "{{ external.points | default: 0 | json }}"))
