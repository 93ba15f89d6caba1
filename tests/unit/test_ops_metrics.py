"""The shipped alert rules and dashboard (ops/), and the metrics' pure parts.

promtool (Debian's `prometheus` package, installed by `make test`) checks the rules, and
evaluates the certificate rule against the days left of a real certificate that expires in 10
days, as the metrics server computes them. The dashboard and the rules only name metrics the
code exports. The counting helpers give bounded labels.
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY

from shared.infra import metrics
from workers.metrics_server import SCRAPE_TIME_METRICS, days_left, sent_at

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "passwire.json"
_METRIC_NAME = re.compile(r"\bpasswire_[a-z_]+")


def _certificate(expires_in: timedelta) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pass Type ID: pass.test")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=300))
        .not_valid_after(now + expires_in)
        .sign(key, hashes.SHA256())
    )


def test_promtool_accepts_the_shipped_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def _promtool_test(
    tmp_path: Path, series: str, value: float, alerts: list[dict[str, object]]
) -> subprocess.CompletedProcess[str]:
    test = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": f"{value}x30"}],
                "alert_rule_test": [
                    {"eval_time": "15m", "alertname": "PasswireCertificateExpiringSoon",
                     "exp_alerts": alerts},
                    {"eval_time": "15m", "alertname": "PasswireCertificateExpiringThisWeek",
                     "exp_alerts": []},
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "certificate_test.yml"
    path.write_text(json.dumps(test))  # YAML is a superset of JSON
    return subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False
    )


def test_a_certificate_expiring_in_10_days_fires_the_30_day_alert_only(tmp_path: Path) -> None:
    days = round(days_left(_certificate(timedelta(days=10)), datetime.now(UTC)), 3)
    assert 9.99 < days <= 10
    labels = {"tenant": "acme", "pass_type": "pass.test", "certificate": "pass_type"}
    series = "passwire_certificate_expiry_days{" + ",".join(
        f'{k}="{v}"' for k, v in labels.items()
    ) + "}"  # fmt: skip
    expected = [
        {
            "exp_labels": {**labels, "severity": "warning"},
            "exp_annotations": {
                "summary": f"Apple pass_type certificate of pass.test (tenant acme) expires in "
                f"{days:.1f} days"
            },
        }
    ]
    result = _promtool_test(tmp_path, series, days, expected)
    assert result.returncode == 0, result.stdout + result.stderr
    # The same test fails for a certificate with 90 days left: the alert would not fire.
    far = _promtool_test(tmp_path, series, 90.0, expected)
    assert far.returncode != 0 and "PasswireCertificateExpiringSoon" in far.stdout + far.stderr


def _exported_names() -> set[str]:
    names = {
        sample.name
        for family in REGISTRY.collect()
        if family.name.startswith("passwire_")
        for sample in family.samples
    }
    # A histogram's buckets, and counters' families, whatever has been observed so far.
    for family in REGISTRY.collect():
        if family.name.startswith("passwire_"):
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names | set(SCRAPE_TIME_METRICS)


def test_the_rules_and_the_dashboard_name_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used_by_dashboard = set(_METRIC_NAME.findall(" ".join(expressions)))
    used_by_rules = set(_METRIC_NAME.findall(ALERTS.read_text()))
    exported = _exported_names()
    assert used_by_dashboard - exported == set()
    assert used_by_rules - exported == set()
    # The main figures are on the dashboard.
    for name in (
        "passwire_campaign_passes_total",
        "passwire_campaign_passes_remaining",
        "passwire_queue_oldest_age_seconds",
        "passwire_apns_pushes_total",
        "passwire_google_requests_total",
        "passwire_certificate_expiry_days",
    ):
        assert name in used_by_dashboard, name


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_notification_counters_become_wallet_outcome_and_reason() -> None:
    tenant = "t-notifications"
    metrics.count_notifications(
        tenant,
        {
            "apple.notified": 3,
            "apple.pushed": 7,  # not a notification
            "google.notificationSuppressed": 2,
            "suppressed.quietHours": 4,
            "deferred": -1,  # a deferred alert sent: counted by its own delivery
        },
    )
    sample = "passwire_notifications_total"
    assert _value(sample, tenant=tenant, wallet="apple", outcome="sent", reason="none") == 3
    google = {"wallet": "google", "outcome": "suppressed", "reason": "silent"}
    assert _value(sample, tenant=tenant, **google) == 2
    held = {"wallet": "any", "outcome": "suppressed", "reason": "quietHours"}
    assert _value(sample, tenant=tenant, **held) == 4
    series = [
        s.labels
        for family in REGISTRY.collect()
        for s in family.samples
        if s.name == sample and s.labels.get("tenant") == tenant
    ]
    assert len(series) == 3


@pytest.mark.parametrize(
    ("status", "label"), [(200, "200"), (410, "410"), (429, "429"), (503, "5xx"), (None, "network")]
)
def test_status_labels_are_bounded(status: int | None, label: str) -> None:
    assert metrics.status_class(status) == label


def test_external_data_calls_are_counted_and_timed_by_provider() -> None:
    class Provider:
        id = "crm-metrics-test"

    class Client:
        @metrics.external_data_call
        def _get(self, provider: Provider, url: str) -> dict[str, str]:
            if "fail" in url:
                raise RuntimeError("refused")
            return {"ok": url}

    client = Client()
    assert client._get(Provider(), "https://crm/x") == {"ok": "https://crm/x"}
    with pytest.raises(RuntimeError):
        client._get(Provider(), "https://crm/fail")
    calls = "passwire_external_data_calls_total"
    assert _value(calls, provider=Provider.id, outcome="ok") == 1
    assert _value(calls, provider=Provider.id, outcome="failed") == 1
    assert _value("passwire_external_data_seconds_count", provider=Provider.id) == 2


def test_a_queued_message_says_when_it_was_sent() -> None:
    headers: dict[str, object] = {}
    metrics._stamp_sent_at(headers=headers)
    stamp = headers[metrics.SENT_AT_HEADER]
    raw = json.dumps({"body": "…", "headers": headers, "properties": {}})
    assert sent_at(raw) == stamp
    assert sent_at(json.dumps({"headers": {}})) is None  # published by an older version
    assert sent_at("not json") is None


def test_the_directory_is_only_wiped_when_no_process_writes_there(tmp_path: Path) -> None:
    old = tmp_path / "counter_host-1.db"
    old.write_bytes(b"x")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys; f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_SH); "
         "print('locked', flush=True); sys.stdin.read()",
         str(tmp_path / metrics.WRITERS_LOCK)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert metrics.wipe_if_unused(str(tmp_path)) is False
        assert old.exists()
    finally:
        holder.communicate("")
    assert metrics.wipe_if_unused(str(tmp_path)) is True
    assert not old.exists()
    assert (tmp_path / metrics.WRITERS_LOCK).exists()
    # And the lock is free again afterwards.
    with (tmp_path / metrics.WRITERS_LOCK).open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_jobs_are_counted_by_how_they_end() -> None:
    from celery.exceptions import Retry

    task = "passwire.test.metrics-job"
    with metrics.counting_job(task):
        pass
    with pytest.raises(ValueError), metrics.counting_job(task):
        raise ValueError("a bug")
    with pytest.raises(Retry), metrics.counting_job(task):
        raise Retry("later")
    for outcome in ("succeeded", "failed", "retried"):
        assert _value("passwire_jobs_total", task=task, outcome=outcome) == 1, outcome


def test_apns_results_are_counted_by_outcome_and_status_never_by_token() -> None:
    from shared.clients.apns import Outcome, PushResult

    tenant, pass_type = "t-apns", "pass.test.metrics"
    results = [
        PushResult("a" * 64, 200, None, Outcome.DELIVERED, 1),
        PushResult("b" * 64, 200, None, Outcome.DELIVERED, 1),
        PushResult("c" * 64, 410, "Unregistered", Outcome.UNREGISTER, 1),
        PushResult("d" * 64, None, "connection reset", Outcome.FAILED, 3),
    ]
    metrics.count_apns_pushes(tenant, pass_type, results)
    pushes = "passwire_apns_pushes_total"
    labels = {"tenant": tenant, "pass_type": pass_type}
    assert _value(pushes, **labels, outcome="delivered", status="200") == 2
    assert _value(pushes, **labels, outcome="unregister", status="410") == 1
    assert _value(pushes, **labels, outcome="failed", status="network") == 1
    values = {
        value
        for family in REGISTRY.collect()
        for s in family.samples
        if s.labels.get("tenant") == tenant
        for value in s.labels.values()
    }
    assert not any(len(value) == 64 for value in values)
