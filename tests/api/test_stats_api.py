"""The statistics endpoints' refusals and shapes: bad dates, a range over the maximum and
an unknown grouping are 422s naming the field; another tenant's key sees nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from shared.infra.clock import utcnow
from shared.stats.reading import MAX_TIMELINE_DAYS
from tests.conftest import DEMO_KEY, RIVAL_KEY

DEMO = {"X-API-Key": DEMO_KEY}


def timeline(api_url: str, **params: str) -> requests.Response:
    return requests.get(
        f"{api_url}/api/demo/stats/timeline", params=params, headers=DEMO, timeout=10
    )


def refused_field(response: requests.Response) -> str:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    return str(error["field"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"groupBy": "colour"}, "groupBy"),
        ({"groupBy": "tags"}, "groupBy"),
        ({"by": "week"}, "by"),
        ({"since": "2026-01-01"}, "since"),
    ],
)
def test_bad_timeline_queries_name_the_field(
    api_url: str, params: dict[str, str], field: str
) -> None:
    assert refused_field(timeline(api_url, **params)) == field


def test_the_longest_range_and_the_defaults(api_url: str) -> None:
    today = utcnow().date()
    longest = today - timedelta(days=MAX_TIMELINE_DAYS - 1)
    answer = timeline(api_url, **{"from": longest.isoformat(), "to": today.isoformat()})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = timeline(api_url).json()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert (body["by"], body["groupBy"]) == ("day", "passType")
    assert isinstance(body["buckets"], list)
    for grouping in ("medium", "tag"):
        assert timeline(api_url, groupBy=grouping).json()["groupBy"] == grouping


def test_stats_shape_and_refusals(api_url: str) -> None:
    url = f"{api_url}/api/demo/passes/stats"
    body = requests.get(url, params={"passType": "loyalty"}, headers=DEMO, timeout=10).json()
    assert set(body) == {"passType", "total", "active", "apple", "google"}
    assert body["passType"] == "loyalty"
    unknown = requests.get(url, params={"colour": "red"}, headers=DEMO, timeout=10)
    assert refused_field(unknown) == "colour"
    assert requests.get(url, timeout=10).status_code == 401
    # Another tenant's key: refused, nothing of the demo tenant's figures in the answer.
    rival = requests.get(url, headers={"X-API-Key": RIVAL_KEY}, timeout=10)
    assert rival.status_code == 403
    assert "total" not in rival.json()
    rival_timeline = requests.get(
        f"{api_url}/api/demo/stats/timeline", headers={"X-API-Key": RIVAL_KEY}, timeout=10
    )
    assert rival_timeline.status_code == 403
