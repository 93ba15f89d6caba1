"""``python -m dev.fake_crm``: run the fake CRM until SIGINT/SIGTERM.

Prints ``fake crm listening on http://HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from dev.fake_crm.server import FakeCrm


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dev.fake_crm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0, help="0..1 answered 503")
    parser.add_argument("--seed", type=int, help="seed of the failure draws")
    parser.add_argument(
        "--customers",
        type=int,
        default=0,
        metavar="N",
        help="seed customers C-1 … C-N (first_name, loyalty.points)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    crm = FakeCrm(
        host=args.host,
        port=args.port,
        token=args.token,
        latency_ms=args.latency_ms,
        failure_rate=args.failure_rate,
        seed=args.seed,
    )
    for number in range(1, args.customers + 1):
        crm.put_customer(
            f"C-{number}", {"first_name": f"Customer {number}", "loyalty": {"points": number}}
        )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    crm.start()
    print(f"fake crm listening on {crm.url}", flush=True)
    stop.wait()
    crm.stop()


if __name__ == "__main__":
    main()
