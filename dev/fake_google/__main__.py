"""``python -m dev.fake_google``: run the fake Google Wallet API until SIGINT/SIGTERM.

Once it accepts connections it prints one JSON line, e.g. ``{"event": "ready", "service":
"fake-google", "host": "127.0.0.1", "port": 41234, "base_url": "http://127.0.0.1:41234",
"token_uri": ".../token", "keys_url": ".../gp/m/issuer/keys"}``.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from types import FrameType

from dev.fake_google.control import KEYS_PATH
from dev.fake_google.server import FakeGoogleServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dev.fake_google", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--service-account",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="service account key file (JSON) whose assertions /token accepts; repeatable",
    )
    parser.add_argument(
        "--quota-rps", type=int, default=20, help="requests per issuer per second (0: no limit)"
    )
    parser.add_argument(
        "--notification-limit",
        type=int,
        default=3,
        help="TEXT_AND_NOTIFY messages per object per 24 hours",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    server = FakeGoogleServer(
        host=args.host,
        port=args.port,
        quota_rps=args.quota_rps,
        notification_limit=args.notification_limit,
        service_accounts=args.service_account,
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server.start()
    ready = {
        "event": "ready",
        "service": "fake-google",
        "host": args.host,
        "port": server.port,
        "base_url": server.base_url,
        "token_uri": server.token_uri,
        "keys_url": server.base_url + KEYS_PATH,
    }
    print(json.dumps(ready), flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
