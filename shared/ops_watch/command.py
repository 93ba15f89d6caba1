"""`passwire ops watch <correlationId> --tenant T [--url …] [--interval 1] [--api-key-env NAME]`:
the argparse wiring, the API key from the environment, and the exit codes."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, TextIO

from shared import operations
from shared.ops_watch.client import OperationClient, WatchError
from shared.ops_watch.follow import Display, follow
from shared.ops_watch.progress import problem_lines

EXIT_CODES_HELP = """\
Polls GET /api/{tenant}/operations/{correlationId} until the operation ends, redrawing one
line (a plain line per change when the output is not a terminal).

exit codes, for scripts that wait on a job:
  0    completed
  1    completed_with_errors or failed (the reason and first errors go to stderr)
  2    cancelled
  3    not followed: unknown operation, bad key, API unreachable (the API's message)
  130  interrupted (Ctrl-C); the operation itself goes on
"""
API_KEY_ENV = "PASSWIRE_API_KEY"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DEFAULT_URL = "http://127.0.0.1:8000"
MIN_INTERVAL_S = 0.1

EXIT_BY_STATUS = {
    operations.COMPLETED: 0,
    operations.COMPLETED_WITH_ERRORS: 1,
    operations.FAILED: 1,
    operations.CANCELLED: 2,
}
EXIT_NOT_FOLLOWED = 3
EXIT_INTERRUPTED = 130  # the shell's code for a SIGINT


def _interval(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not seconds >= MIN_INTERVAL_S:  # also refuses nan
        raise argparse.ArgumentTypeError(f"at least {MIN_INTERVAL_S} s")
    return seconds


def _variable_name(raw: str) -> str:
    if not ENV_NAME.fullmatch(raw):
        # Without repeating it: a key pasted here by mistake stays off the screen.
        raise argparse.ArgumentTypeError("must be the name of an environment variable")
    return raw


def add_ops_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ops = areas.add_parser("ops", help="operations (jobs) over the HTTP API")
    actions = ops.add_subparsers(dest="action", required=True)
    watch = actions.add_parser(
        "watch",
        help="follow an operation with a progress bar and ETA until it ends",
        description=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--api-key SECRET` must not pass for `--api-key-env SECRET`
    )
    watch.add_argument("correlation_id", metavar="correlationId")
    watch.add_argument("--tenant", required=True)
    watch.add_argument("--url", default=DEFAULT_URL, help=f"the API (default {DEFAULT_URL})")
    watch.add_argument(
        "--interval", type=_interval, default=1.0, help="seconds between polls (default 1)"
    )
    watch.add_argument(
        "--api-key-env",
        type=_variable_name,
        default=API_KEY_ENV,
        metavar="NAME",
        help=f"environment variable holding an API key with Operation.Read (default "
        f"{API_KEY_ENV}); a key is never taken on the command line, where ps would show it",
    )
    # Talks to the API only: no MongoDB settings needed where the operator runs it.
    watch.set_defaults(run=run_watch, needs_database=False)


def run_watch(args: argparse.Namespace, _db: Any = None) -> int:
    return watch_operation(
        url=args.url,
        tenant_id=args.tenant,
        correlation_id=args.correlation_id,
        api_key=os.environ.get(args.api_key_env, "").strip(),
        api_key_env=args.api_key_env,
        interval=args.interval,
    )


def watch_operation(
    *,
    url: str,
    tenant_id: str,
    correlation_id: str,
    api_key: str,
    api_key_env: str,
    interval: float,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not api_key:
        print(f"passwire: set {api_key_env} to an API key of tenant '{tenant_id}'", file=err)
        return EXIT_NOT_FOLLOWED
    client = OperationClient(url, tenant_id, api_key)
    display = Display(out, tty=out.isatty())
    try:
        final = follow(lambda: client.fetch(correlation_id), display, interval=interval)
    except WatchError as exc:
        display.close()
        print(f"passwire: {client.url(correlation_id)}: {exc}", file=err)
        return EXIT_NOT_FOLLOWED
    except KeyboardInterrupt:
        display.close()
        print(
            f"passwire: stopped watching; operation {correlation_id} goes on "
            f"(DELETE {client.url(correlation_id)} cancels it)",
            file=err,
        )
        return EXIT_INTERRUPTED
    display.close()
    for line in problem_lines(final):
        print(line, file=err)
    return EXIT_BY_STATUS.get(str(final.get("status")), 1)
