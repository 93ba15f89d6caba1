"""Campaign previews against real campaigns, and a paced campaign's rate (issue #12).

    .venv/bin/python bench/campaign_preview_bench.py [--size 100000] [--cap 100]
        [--cap-seconds 60] [--runs 1] [--provider batch|per-pass|none] [--mongodb-uri URI]
        [--keep]

One stack as bench/campaign_bench.py starts it (its Stack, seeding and warm-up: real Redis, the
dev MongoDB wire server, fake APNs, fake Google, the fake CRM at 1 ms per answer, the API under
gunicorn, one Celery worker per queue). --size passes with one registered device each. The
CRM is the external data provider by its batch form (one request per batch), per pass, or not
at all (--provider; --no-external is --provider none).

1. Preview: `POST /push-updates {"dryRun": true}` over the --size passes (a `preview` job:
   walked, read, fetched from the CRM and rendered like the campaign, nothing signed, written or
   pushed), then the same body as a real campaign. Printed: passes/s of each, by the
   operations' own clocks (startedAt to finishedAt) and end to end (request to finishedAt), the
   ratio (target >= 5x), and whether the preview's figures equal the campaign's counters.
   --runs repeats the pair (each pair sets another tier, so every pass changes again) and
   prints the median ratio.
2. Pacing: a campaign of --cap x --cap-seconds passes with `"throughput": --cap`. Printed: its
   rate by the operation's clock (startedAt to finishedAt) against the cap (target within 10 %),
   and the passes processed in each 10 s of the run (as the operation's counters showed them,
   which move a batch at a time). --cap-seconds 0 skips it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign_bench as cb  # the stack, seeding and warm-up of the campaign benchmark


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
    sent, correlation_id = _post(api, {**body, "dryRun": True})
    _follow(api, correlation_id)
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
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.no_external:
        args.provider = "none"
    args.bulk_concurrency, args.interactive_concurrency = 2, 4
    print(cb.machine_line())
    print(f"provider: {args.provider}; fake CRM {cb.CRM_LATENCY_MS:g} ms per answer")
    workdir = Path(tempfile.mkdtemp(prefix="passwire-preview-bench-"))
    paced = args.cap * args.cap_seconds
    stack = cb.Stack(workdir, args, args.size + cb.INTERACTIVE_PASSES + cb.WARMUP_PASSES + paced)
    try:
        stack.start()
        seeded = cb.seed(stack, args.size, False, paced)
        print(f"  seeded {args.size:,} + {paced:,} passes in {seeded.seconds:.1f} s", flush=True)
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
