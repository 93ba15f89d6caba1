"""Google calls of a campaign when only some passes are saved in Google Wallet (issue #15).

    .venv/bin/python bench/google_holders_bench.py [--passes 2000] [--saved 600] [--keep]
        [--mongodb-uri URI]

A stack as bench/campaign_bench.py starts it (real redis-server, the dev MongoDB wire server or
--mongodb-uri, fake APNs, the fake Google Wallet API with its quota lifted, fake CRM, the API
under gunicorn, the Celery workers). N passes of the `bench-google` type (Apple and Google) are
inserted as passwire now leaves them: `--saved` S of them saved in Google Wallet (a save
callback recorded, the object at Google), the other N - S never saved (nobody holds them;
--clicked of those had their Save link clicked once, so Google has their object without a
holder; default a tenth of them, at most 5,000: the fake keeps every object in memory). A
warm-up campaign over other passes lets every worker process insert or PATCH its class first,
as a long-running worker has. Then one pushUpdate campaign over the N passes changes every
pass's rendering.

Printed: the Google requests the fake Google counted for the campaign (its per-issuer request
count, which its request log also lists), against the target S + number of classes (1), and
what those calls take at Google's 20 requests/s per project, and what the N calls of
insert-at-create (every object PATCHed) would have taken.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_bench as cb  # the stack, the seeding helpers

from shared.infra.clock import utcnow
from shared.infra.db import get_database
from shared.infra.ids import new_pass_id
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import HOLDER_FIELD, SAVED, new_google_version
from shared.tenancy.tenants import load_registry

GOOGLE_QUOTA_RPS = 20  # Google Wallet API, per project
PASS_TYPE = "bench-google"


def _seed(stack: cb.Stack, groups: dict[str, tuple[int, int, int]]) -> float:
    """Per group name, (passes, of which saved, of which clicked but not saved). Saved and
    clicked passes' objects go to the fake Google; a saved pass records its holder as the
    save callback does."""
    started = time.perf_counter()
    db = get_database(stack.settings())
    registry = load_registry(stack.tenants_dir, include_local_only=True)
    tenant = registry.get(cb.TENANT)
    assert tenant is not None
    pass_type = tenant.pass_types[PASS_TYPE]
    apple = cb.sample_apple_version(registry, stack.settings())
    now, customer = utcnow(), 0
    at_google: list[dict[str, Any]] = []
    for group, (count, saved, clicked_only) in groups.items():
        chunk: list[dict[str, Any]] = []
        for index in range(count):
            customer += 1
            pass_id = new_pass_id()
            document = new_pass_document(
                pass_id=pass_id,
                tenant_id=cb.TENANT,
                pass_type=PASS_TYPE,
                identifiers={"crm": f"C-{customer}"},
                metadata={"campaign": group, "store": cb.STORES[customer % 5], "tier": "Bean"},
                additional_data={"points": customer % 500},
                correlation_id="bench-seed",
                now=now,
            )
            document["apple"] = {**apple, "barcodeMessages": [pass_id]}
            external = {"points": customer, "firstName": f"Customer {customer}"}
            version = new_google_version(pass_type, document, now=now, external=external)
            assert version is not None
            is_saved = index < saved
            clicked = index < saved + clicked_only
            if clicked:
                version["syncedHash"] = version["contentHash"]
                at_google.append(version["object"])
            document["google"] = version
            document["googlePending"] = not clicked
            document[HOLDER_FIELD] = SAVED if is_saved else None
            document["providers"] = {
                "apple": {"installedAt": now},
                "google": {"installedAt": now} if is_saved else None,
            }
            chunk.append(document)
            if len(chunk) == 5000:
                db.passes.insert_many(chunk, ordered=False)
                chunk.clear()
        if chunk:
            db.passes.insert_many(chunk, ordered=False)
    assert stack.certs is not None and pass_type.google is not None
    cb.upload_google(stack, stack.certs.google_service_account, pass_type.google, at_google)
    return time.perf_counter() - started


def _google_requests(stack: cb.Stack) -> int:
    state = requests.get(f"{stack.urls.google}/_control/state?log=0", timeout=60).json()
    return int(state["issuers"].get(cb.ISSUER_ID, {}).get("requests", 0))


def _campaign(stack: cb.Stack, group: str, tier: str) -> dict[str, Any]:
    api = cb.Api(stack.urls.api)
    body = {"filter": {"metadata": {"campaign": [group]}}, "data": {"metadata": {"tier": tier}}}
    answer = api.session.post(f"{api.base}/push-updates", json=body, timeout=60)
    assert answer.status_code == 202, answer.text
    correlation_id = answer.json()["correlationId"]
    last = time.monotonic()
    while True:
        operation = api.operation(correlation_id)
        if operation["status"] in cb.FINAL:
            return operation
        if time.monotonic() - last >= 15:
            last = time.monotonic()
            counters = operation["counters"]
            print(f"    … {counters['processed']:,}/{counters['total']:,}", flush=True)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--passes", type=int, default=2000, help="N, passes in the campaign")
    parser.add_argument("--saved", type=int, default=600, help="S, of which saved at Google")
    parser.add_argument("--clicked", type=int, help="unsaved passes whose object Google has")
    parser.add_argument("--mongodb-uri", help="a real MongoDB (a fresh database, dropped after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    if not 0 <= args.saved <= args.passes:
        parser.error("--saved must be between 0 and --passes")
    unsaved = args.passes - args.saved
    clicked = min(unsaved // 10, 5000) if args.clicked is None else min(args.clicked, unsaved)
    # What campaign_bench.Stack reads from its arguments.
    args.profile_passes, args.interval, args.runs = 0, 0.2, 1
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(cb.machine_line())
    workdir = Path(tempfile.mkdtemp(prefix="passwire-google-holders-bench-"))
    warmup = cb.WARMUP_PASSES
    stack = cb.Stack(workdir, args, args.passes + warmup)
    try:
        stack.start()
        groups = {"warmup": (warmup, warmup, 0), "bulk": (args.passes, args.saved, clicked)}
        seconds = _seed(stack, groups)
        print(
            f"seeded {args.passes:,} passes ({args.saved:,} saved, {clicked:,} clicked but not "
            f"saved, at Google) in {seconds:.1f} s",
            flush=True,
        )
        _campaign(stack, "warmup", f"W-{secrets.token_hex(2)}")  # classes ensured per process
        before = _google_requests(stack)
        started = time.perf_counter()
        operation = _campaign(stack, "bulk", f"T-{secrets.token_hex(2)}")
        wall = time.perf_counter() - started
        calls = _google_requests(stack) - before
    except Exception:
        for child in stack.children:
            print(f"--- {child.role} log tail:\n{stack.tail(child.role, 15)}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    counters = operation["counters"]
    google = counters.get("google", {})
    target = args.saved + 1  # one class
    print(
        f"campaign over N={args.passes:,} passes, S={args.saved:,} saved: {operation['status']}, "
        f"{counters['succeeded']:,} succeeded, {counters['failed']:,} failed, in {wall:.1f} s"
    )
    print(
        f"  Google requests counted by the fake Google: {calls:,} (target <= S + classes = "
        f"{target:,}: {'met' if calls <= target else 'NOT met'}); the operation counted "
        f"{google.get('requests', 0):,}, {google.get('patched', 0):,} PATCHed, "
        f"{google.get('inserted', 0):,} inserted"
    )
    print(
        f"  at Google's {GOOGLE_QUOTA_RPS} requests/s: {calls / GOOGLE_QUOTA_RPS:,.0f} s "
        f"({calls / GOOGLE_QUOTA_RPS / 60:.1f} min); every object PATCHed (N calls) would take "
        f"{args.passes / GOOGLE_QUOTA_RPS:,.0f} s ({args.passes / GOOGLE_QUOTA_RPS / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
