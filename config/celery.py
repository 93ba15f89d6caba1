"""Celery configuration: the one place that names queues and routes tasks to them.

Both sides read it: the API's producer (which enqueues by task name and never imports worker
code) and the worker app. Procfile and docker-compose.yml start one worker command per queue
group; tests/unit/test_deployment.py checks that every queue declared here is consumed.
"""

from __future__ import annotations

from typing import Any

from kombu.entity import Queue

from config.redis_urls import kombu_broker_url, parse_sentinel_url
from config.settings import Settings

# The beat task that moves passes past their expirationDate to `expired` (shared/lifecycle).
EXPIRE_DUE = "passwire.lifecycle.expire_due"
# The beat task that resends what a wallet is still owed (shared/passes/resending.py).
RESEND_OWED = "passwire.lifecycle.resend_owed"
# The beat task that finishes campaigns whose messages were lost (shared/campaigns/recovery.py);
# on the interactive queue (passwire.operations.*): never behind the campaigns it watches.
CAMPAIGN_WATCHDOG = "passwire.operations.campaign_watchdog"
# The beat task that starts scheduled campaigns when due (shared/campaigns/scheduling.py); on
# the interactive queue (passwire.operations.*): never behind a campaign's batches.
START_SCHEDULED = "passwire.operations.start_scheduled"
# Its period: a scheduled campaign starts within about this long of its scheduledAt.
START_SCHEDULED_EVERY_S = 2.0

# The beat task that sends the alerts quiet hours held back (shared/notifications/deferred.py).
SEND_DEFERRED_ALERTS = "passwire.delivery.deferred_alerts"
# How often it runs: a deferred alert goes out at most this long after its window ends.
DEFERRED_ALERTS_INTERVAL_S = 30.0

# The statistics reconcile sweep (shared/stats/reconcile.py): counts over the passes, so on
# the bulk queue (passwire.lifecycle.*), never ahead of a caller's single-pass job.
RECONCILE_STATS = "passwire.lifecycle.reconcile_stats"

# The beat task that warns of Apple certificates near their end (shared/apple/expiry_alerts.py),
# on the interactive queue (passwire.operations.*): a few certificates, never behind a campaign.
CHECK_CERTIFICATES = "passwire.operations.check_certificates"
# Hourly: thresholds are days apart; a missed run (workers down) is made up by the next.
CHECK_CERTIFICATES_EVERY_S = 3600.0

# Single-pass work a caller is waiting for (create, update): must never sit behind a campaign.
INTERACTIVE_QUEUE = "interactive"
# Campaign planning and batches of hundreds of passes.
BULK_QUEUE = "bulk"
# Rate-limited delivery to APNs and Google Wallet.
DELIVERY_QUEUE = "delivery"

QUEUES: tuple[str, ...] = (INTERACTIVE_QUEUE, BULK_QUEUE, DELIVERY_QUEUE)

TASK_ROUTES: dict[str, dict[str, str]] = {
    "passwire.passes.*": {"queue": INTERACTIVE_QUEUE},
    "passwire.operations.*": {"queue": INTERACTIVE_QUEUE},
    "passwire.campaigns.*": {"queue": BULK_QUEUE},
    # Flat-file imports: planning and batches of rows, like campaigns (shared/imports).
    "passwire.imports.*": {"queue": BULK_QUEUE},
    # The expiry and resend sweeps (shared/lifecycle/expiry.py, shared/passes/resending.py).
    "passwire.lifecycle.*": {"queue": BULK_QUEUE},
    "passwire.delivery.*": {"queue": DELIVERY_QUEUE},
}


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        **broker_connection(settings),
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Operation state lives in MongoDB; Celery results would only duplicate it.
        "task_ignore_result": True,
        "result_backend": None,
        # Acknowledge after the task ran, and give the task back if its worker process dies,
        # so a crash or a restart never loses a job; tasks are idempotent for that reason.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # A hung job is killed well before the broker would hand it to another worker.
        "task_soft_time_limit": settings.task_time_limit - 30,
        "task_time_limit": settings.task_time_limit,
        # Lost the broker: stop long jobs, their messages are delivered again anyway.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": INTERACTIVE_QUEUE,
        "task_routes": TASK_ROUTES,
        "task_create_missing_queues": False,
        # Events feed Flower (monitoring only; it is not the source of truth for statistics).
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
        # `celery beat` (one process per deployment) sends the periodic jobs.
        "beat_schedule": beat_schedule(settings),
    }


# Seconds kombu waits for a sentinel's answer (its default is forever: a sentinel host that
# vanished would hang the worker).
SENTINEL_TIMEOUT_S = 5.0


def broker_connection(settings: Settings) -> dict[str, Any]:
    """The broker URLs and `broker_transport_options`: for a `sentinel://` CELERY_BROKER_URL,
    kombu's Sentinel transport (one `sentinel://` URL per sentinel, the master set in
    `master_name`), which asks the sentinels for the master on every reconnection.

    The read and write URLs are set too: Celery itself reads CELERY_BROKER_URL from the
    environment, over `broker_url`, and would hand kombu our form of a Sentinel URL; it reads
    the read/write URLs from the configuration first."""
    # Unacknowledged tasks come back after this long (at-least-once delivery).
    options: dict[str, Any] = {"visibility_timeout": settings.broker_visibility_timeout}
    target = parse_sentinel_url(settings.broker_url, "CELERY_BROKER_URL")
    if target is None:
        return _broker(settings.broker_url, options)
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
    }
    if settings.redis_sentinel_password:
        sentinel_kwargs["password"] = settings.redis_sentinel_password
    options.update(master_name=target.master, sentinel_kwargs=sentinel_kwargs)
    return _broker(kombu_broker_url(target), options)


def _broker(url: str, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "broker_url": url,
        "broker_read_url": url,
        "broker_write_url": url,
        "broker_transport_options": options,
    }


# Sweeps queued longer than this (workers down, a long campaign ahead of them on the bulk
# queue) are dropped: any later one does the same work. Not the interval itself, or a backlog
# longer than one interval would drop every sweep until it clears.
SWEEP_EXPIRES_S = 3600.0


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Expires after one period: the next poll does the same work.
        "start-scheduled-campaigns": {
            "task": START_SCHEDULED,
            "schedule": START_SCHEDULED_EVERY_S,
            "options": {"expires": START_SCHEDULED_EVERY_S},
        },
        "expire-due-passes": {
            "task": EXPIRE_DUE,
            "schedule": float(settings.expiry_interval_s),
            "options": {"expires": SWEEP_EXPIRES_S},
        },
        # Finishes campaigns whose messages were lost (docs/delivery-guarantees.md). Expires
        # after one interval: the next run does the same work.
        "campaign-watchdog": {
            "task": CAMPAIGN_WATCHDOG,
            "schedule": float(settings.campaign_watchdog_interval_s),
            "kwargs": {"stall_s": settings.campaign_stall_s},
            "options": {"expires": float(settings.campaign_watchdog_interval_s)},
        },
        "resend-owed-deliveries": {
            "task": RESEND_OWED,
            "schedule": float(settings.resend_interval_s),
            "kwargs": {"owed_for_s": settings.resend_after_s},
            "options": {"expires": SWEEP_EXPIRES_S},
        },
        "reconcile-statistics": {
            "task": RECONCILE_STATS,
            "schedule": float(settings.stats_reconcile_interval_s),
            "options": {"expires": float(settings.stats_reconcile_interval_s)},
        },
        "check-certificates": {
            "task": CHECK_CERTIFICATES,
            "schedule": CHECK_CERTIFICATES_EVERY_S,
            "options": {"expires": CHECK_CERTIFICATES_EVERY_S},
        },
        "send-deferred-alerts": {
            "task": SEND_DEFERRED_ALERTS,
            "schedule": DEFERRED_ALERTS_INTERVAL_S,
            # A later run sends the same alerts: one stuck in the queue is not worth keeping.
            "options": {"expires": DEFERRED_ALERTS_INTERVAL_S * 4},
        },
    }
