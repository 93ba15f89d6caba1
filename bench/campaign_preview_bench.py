"""Campaign previews against real campaigns, and a paced campaign's rate (issue #12).

    .venv/bin/python bench/campaign_preview_bench.py [--size 100000] [--cap 100]
        [--cap-seconds 60] [--runs 1] [--provider batch|per-pass|none] [--mongodb-uri URI]
        [--profile-passes 0] [--keep]

One stack as bench/campaign_bench.py starts it (its Stack, seeding and warm-up: real Redis, the
dev MongoDB wire server, fake APNs, fake Google, the fake CRM at 1 ms per answer, the API under
gunicorn, one Celery worker per queue). --size passes with one registered device each. The
CRM is the external data provider by its batch form (one request per batch), per pass, or not
at all (--provider; --no-external is --provider none).

1. Preview: `POST /push-updates {"dryRun": true}` over the --size passes (a `preview` job:
   walked, read, fetched from the CRM and rendered like the campaign, nothing signed, written or
   pushed), then the same body as a real campaign. Printed: passes/s of each, by the
   operations' own clocks (startedAt to finishedAt) and end to end (request to finishedAt), the
   ratio (target >= 5x), whether the preview's figures equal the campaign's counters, and the
   CPU seconds each process of the stack spent during the preview (the dev MongoDB wire
   server is one process: its share bounds the preview's rate).
   --runs repeats the pair (each pair sets another tier, so every pass changes again) and
   prints the median ratio.
2. Pacing: a campaign of --cap x --cap-seconds passes (more when --profile-passes seeded more)
   with `"throughput": --cap`. Printed: its rate by the operation's clock (startedAt to
   finishedAt) against the cap (target within 10 %), and the passes processed in each 10 s of
   the run (as the operation's counters showed them, which move a batch at a time).
   --cap-seconds 0 skips it.
3. Stage profile (--profile-passes N, before the pacing run, over the same passes): a preview
   of N passes run in this process as the workers run it (planned, then each batch advances
   the walk and runs), one batch at a time: each stage's wall and CPU time per batch, and the
   MongoDB commands a batch sends with the time spent waiting on them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_bench as cb  # the stack, seeding and warm-up of the campaign benchmark
from pymongo import MongoClient, monitoring

from shared import operations
from shared.apple import issuing
from shared.campaigns import PREVIEW, batches, planning
from shared.campaigns import preview as previews
from shared.campaigns.segments import Segment, segment_query, to_intent
from shared.infra.ids import new_correlation_id
from shared.passes.jobs import JobContext
from shared.passes.search import PassFilter
from shared.providers.fetching import ExternalDataClient
from shared.repositories import campaign_waits
from shared.repositories import campaigns as campaigns_repo
from shared.repositories import operations as operations_repo
from shared.repositories import registrations as registrations_repo
from shared.tenancy.tenants import load_registry


def _follow(api: cb.Api, correlation_id: str, every: float = 0.5) -> list[tuple[float, int]]:
    """Poll until the operation ends; (monotonic time, processed) at each poll."""
    seen: list[tuple[float, int]] = []
    while True:
        operation = api.operation(correlation_id)
        seen.append((time.monotonic(), int(operation["counters"]["processed"])))
        if operation["status"] in cb.FINAL:
            return seen
        time.sleep(every)


def _post(api: cb.Api, body: dict[str, Any]) -> tuple[float, str]:
    sent = time.time()
    answer = api.session.post(f"{api.base}/push-updates", json=body, timeout=120)
    assert answer.status_code == 202, answer.text
    return sent, str(answer.json()["correlationId"])


def _rates(operation: dict[str, Any], sent: float, count: int) -> tuple[float, float]:
    started, finished = (cb._parse_time(operation[k]) for k in ("startedAt", "finishedAt"))
    return count / (finished - started), count / (finished - sent)


def _matches(report: dict[str, Any], counters: dict[str, Any]) -> bool:
    return (
        report["matched"] == counters["total"]
        and report["wouldChange"] == counters["succeeded"]
        and report["unchanged"] == counters["unchanged"]
        and report["failed"] == counters["failed"]
        and report["apple"]["devicesToPush"] == counters["apple"]["pushed"]
    )


def preview_against_campaign(stack: cb.Stack, size: int, tier: str = "Gold") -> float:
    """One preview, then the same campaign; returns the ratio by the operations' clocks."""
    api = cb.Api(stack.urls.api)
    body = {"filter": {"metadata": {"campaign": ["bulk"]}}, "data": {"metadata": {"tier": tier}}}
    cpu_before = stack.watcher.cpu_by_role()
    sent, correlation_id = _post(api, {**body, "dryRun": True})
    _follow(api, correlation_id)
    cpu_after = stack.watcher.cpu_by_role()
    preview = api.operation(correlation_id)
    assert preview["status"] == "completed", preview
    preview_rate, preview_e2e = _rates(preview, sent, size)
    report = preview["preview"]
    print(
        f"  preview: {size:,} passes in {size / preview_rate:.1f} s, {preview_rate:,.0f} passes/s "
        f"({preview_e2e:,.0f}/s request to end); would change {report['wouldChange']:,}, "
        f"devices to push {report['apple']['devicesToPush']:,}",
        flush=True,
    )
    cpu = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in cpu_after}
    print(
        "    CPU seconds by process (whole preview): "
        + ", ".join(f"{role} {seconds:.1f}" for role, seconds in sorted(cpu.items()) if seconds)
    )
    sent, correlation_id = _post(api, body)
    _follow(api, correlation_id, every=2.0)
    real = api.operation(correlation_id)
    real_rate, real_e2e = _rates(real, sent, size)
    print(
        f"  campaign: {size:,} passes in {size / real_rate:.1f} s, {real_rate:,.0f} passes/s "
        f"({real_e2e:,.0f}/s request to end); {cb._counters_line(real['counters'])}",
        flush=True,
    )
    print(
        f"  preview / campaign: {preview_rate / real_rate:.1f}x by the operations' clocks, "
        f"{preview_e2e / real_e2e:.1f}x end to end (target >= 5x); the preview's figures "
        f"{'equal' if _matches(report, real['counters']) else 'DIFFER FROM'} the counters"
    )
    return preview_rate / real_rate


class CommandCounter(monitoring.CommandListener):
    """MongoDB commands sent by this process: how many of each, and their round-trip time."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.micros: dict[str, int] = defaultdict(int)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.calls[event.command_name] += 1
        self.micros[event.command_name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)  # type: ignore[arg-type]  # same fields used


# (owner, attribute, label, nested inside another stage)
PREVIEW_STAGES: list[tuple[Any, str, str, bool]] = [
    (planning, "advance", "walk: enqueue the next batch (advance)", False),
    (campaigns_repo, "load_campaign", "  mongo: load the operation", True),
    (campaigns_repo, "lease_batch", "mongo: batch lease", False),
    (campaigns_repo, "release_batch", "mongo: batch release", False),
    (campaigns_repo, "load_passes", "mongo: read the batch ($in)", False),
    (JobContext, "external_data_for_batch", "CRM: external data (client)", False),
    (previews, "patched_pass", "patch + message", False),
    (issuing, "render", "render Apple pass.json", False),
    (previews, "new_google_version", "render Google object", False),
    (previews, "_signed", "  of which mongo: samples' signed parts", True),
    (registrations_repo, "push_tokens_for_passes", "mongo: device tokens", False),
    (campaign_waits, "keep_samples", "mongo: keep samples", False),
    (operations, "record_results", "mongo: record results", False),
]


def profile_preview(stack: cb.Stack, tag: str, count: int, tier: str) -> None:
    """A preview operation over the `tag` segment (`count` passes) run in this process as the
    workers run it (planned, then each batch advances the walk and runs), one batch at a time,
    each stage timed and MongoDB's commands counted: where a preview batch's time goes."""
    settings = stack.settings()
    counter = CommandCounter()
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings.mongodb_uri, event_listeners=[counter]
    )
    db = client[settings.mongodb_database]
    context = JobContext(
        db=db,
        tenants=load_registry(stack.tenants_dir, include_local_only=True),
        settings=settings,
        events_queue=None,
        external=ExternalDataClient(),
    )
    segment = Segment(PassFilter(metadata={"campaign": (tag,)}))
    correlation_id = new_correlation_id()
    matched = campaigns_repo.count_segment(db, segment_query(cb.TENANT, segment))
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id=cb.TENANT,
            kind=PREVIEW,
            total=matched,
            intent={"segment": to_intent(segment), "patch": {"metadata": {"tier": tier}}},
        ),
    )
    queued: list[tuple[str, list[str]]] = []

    def enqueue(batch_id: str, pass_ids: list[str]) -> None:
        queued.append((batch_id, pass_ids))

    counter.calls.clear()
    counter.micros.clear()
    server_before = stack.watcher.cpu_by_role().get("mongo", 0.0)
    timer = cb.StageTimer()
    for owner, name, label, _ in PREVIEW_STAGES:
        timer.wrap(owner, name, label)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        started = time.perf_counter()
        planning.run_plan(context, correlation_id, enqueue)
        plan_wall = time.perf_counter() - started
        for batch_id, pass_ids in queued:  # grows as each batch enqueues the next
            planning.advance(context, correlation_id, enqueue)
            batches.run_batch(context, correlation_id, batch_id, pass_ids, enqueue)
    finally:
        timer.restore()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = stack.watcher.cpu_by_role().get("mongo", 0.0) - server_before
    final = operations_repo.load_operation(db, correlation_id) or {}
    client.close()
    count, runs = matched, len(queued)
    print(
        f"  stage profile: a preview of {count:,} passes in this process, {runs} batches one "
        f"at a time: {wall:.2f} s wall = {count / wall:,.0f} passes/s on one process "
        f"(planning {plan_wall * 1000:.0f} ms of it), {cpu / count * 1e6:.0f} µs CPU/pass; "
        f"{final.get('status')}, {final.get('counters', {}).get('succeeded')} would change"
    )
    print(f"    {'stage':40} {'calls':>6} {'wall ms/batch':>14} {'share':>6} {'CPU ms/batch':>13}")
    top = 0.0
    for _, _, label, nested in PREVIEW_STAGES:
        if not timer.calls.get(label):
            continue
        if not nested:
            top += timer.wall[label]
        print(
            f"    {label:40} {timer.calls[label]:6d} {timer.wall[label] / runs * 1e3:14.1f} "
            f"{timer.wall[label] / wall:6.1%} {timer.cpu[label] / runs * 1e3:13.1f}"
        )
    other = wall - top
    print(f"    {'other (counting, glue, planning)':40} {'':6} {other / runs * 1e3:14.1f}")
    commands = sum(counter.calls.values())
    print(
        f"    MongoDB: the wire server's CPU {server / runs * 1e3:.1f} ms per batch; "
        f"{commands / runs:.1f} commands per batch, "
        f"{sum(counter.micros.values()) / runs / 1e3:.1f} ms per batch waiting on them: "
        + ", ".join(
            f"{name} {counter.calls[name] / runs:.1f} ({counter.micros[name] / runs / 1e3:.1f} ms)"
            for name in sorted(counter.calls, key=lambda n: -counter.micros[n])
        )
    )


def paced_campaign(stack: cb.Stack, cap: int, seconds: int) -> None:
    api = cb.Api(stack.urls.api)
    count = cap * seconds
    body = {
        "filter": {"metadata": {"campaign": ["profile"]}},
        "data": {"metadata": {"tier": "Paced"}},
        "throughput": cap,
    }
    sent, correlation_id = _post(api, body)
    seen = _follow(api, correlation_id, every=1.0)
    operation = api.operation(correlation_id)
    assert operation["status"] == "completed", operation
    count = int(operation["counters"]["total"])  # more when --profile-passes seeded more
    rate, _ = _rates(operation, sent, count)
    print(
        f"  paced: {count:,} passes at throughput {cap}/s took {count / rate:.1f} s: "
        f"{rate:.1f} passes/s, {100 * (rate - cap) / cap:+.1f} % of the cap (target within 10 %)"
    )
    start = next((t for t, processed in seen if processed > 0), seen[0][0])
    per_window = []
    for window in range(int((seen[-1][0] - start) // 10) + 1):
        at = [p for t, p in seen if t <= start + 10 * (window + 1)]
        before = [p for t, p in seen if t <= start + 10 * window]
        per_window.append((at[-1] if at else 0) - (before[-1] if before else 0))
    print(f"  processed per 10 s (counters move a batch at a time): {per_window}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--cap", type=int, default=100, help="the paced campaign's throughput")
    parser.add_argument("--cap-seconds", type=int, default=60)
    parser.add_argument("--mongodb-uri", help="a real MongoDB (a fresh database, dropped after)")
    parser.add_argument(
        "--provider",
        choices=cb.PROVIDER_CHOICES,
        default="batch",
        help="the fake CRM as external data provider: its batch form, per pass, or none",
    )
    parser.add_argument(
        "--no-external",
        action="store_true",
        help="--provider none: passes render without external data (isolates render vs sign)",
    )
    parser.add_argument("--runs", type=int, default=1, help="preview/campaign pairs (median)")
    parser.add_argument(
        "--profile-passes",
        type=int,
        default=0,
        help="then a preview of this many more passes in this process, each stage timed",
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.no_external:
        args.provider = "none"
    args.bulk_concurrency, args.interactive_concurrency = 2, 4
    print(cb.machine_line())
    print(f"provider: {args.provider}; fake CRM {cb.CRM_LATENCY_MS:g} ms per answer")
    workdir = Path(tempfile.mkdtemp(prefix="passwire-preview-bench-"))
    paced = args.cap * args.cap_seconds
    # The paced campaign's passes (`profile`) are those the stage profile previews.
    profiled = max(paced, args.profile_passes)
    stack = cb.Stack(workdir, args, args.size + cb.INTERACTIVE_PASSES + cb.WARMUP_PASSES + profiled)
    try:
        stack.start()
        seeded = cb.seed(stack, args.size, False, profiled)
        print(f"  seeded {args.size:,} + {profiled:,} passes in {seeded.seconds:.1f} s", flush=True)
        print(f"  warm-up (unmeasured) in {cb.warm_up(stack, seeded):.1f} s", flush=True)
        ratios = []
        for run in range(args.runs):
            print(f"  run {run + 1}:", flush=True)
            ratios.append(preview_against_campaign(stack, args.size, f"Gold-{run}"))
        print(
            f"  preview / campaign, median of {len(ratios)} run(s): "
            f"{statistics.median(ratios):.1f}x by the operations' clocks (target >= 5x; "
            f"provider: {args.provider})"
        )
        if args.profile_passes:
            profile_preview(stack, "profile", profiled, "Profiled")
        if args.cap_seconds:
            paced_campaign(stack, args.cap, args.cap_seconds)
    except Exception:
        for child in stack.children:
            print(f"--- {child.role} log tail:\n{stack.tail(child.role, 15)}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
