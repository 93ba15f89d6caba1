"""``python -m dev.fake_apns``: run the fake APNs server until SIGINT/SIGTERM.

Prints ``fake apns control on http://HOST:PORT`` and then, once both listeners are up,
``fake apns listening on HOST:PORT``: wait for the latter line before connecting.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from dev.fake_apns.certs import generate_test_pki
from dev.fake_apns.protocol import ServerOptions
from dev.fake_apns.server import FakeApnsServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dev.fake_apns", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--control-port", type=int, default=0, help="-1 disables it")
    parser.add_argument("--cert", type=Path, help="server certificate (PEM)")
    parser.add_argument("--key", type=Path, help="server private key (PEM)")
    parser.add_argument("--client-ca", type=Path, help="CA that must sign client certs")
    parser.add_argument(
        "--generate-certs",
        type=Path,
        metavar="DIR",
        help="write throw-away test TLS material into DIR and use it",
    )
    parser.add_argument("--max-concurrent-streams", type=int, default=1000)
    parser.add_argument("--unregistered", action="append", default=[], metavar="TOKEN")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--error-status", type=int, action="append", metavar="STATUS")
    parser.add_argument("--goaway-after", type=int, help="GOAWAY after N requests/connection")
    parser.add_argument("--trailing-empty-data", action="store_true")
    parser.add_argument("--response-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int)
    return parser


async def _run(args: argparse.Namespace) -> None:
    if args.generate_certs is not None:
        pki = generate_test_pki(args.generate_certs)
        args.cert, args.key, args.client_ca = pki.server_cert, pki.server_key, pki.client_ca
    server = FakeApnsServer(
        args.cert,
        args.key,
        args.client_ca,
        host=args.host,
        port=args.port,
        control_port=None if args.control_port < 0 else args.control_port,
        options=ServerOptions(
            args.max_concurrent_streams, args.trailing_empty_data, args.response_delay
        ),
        seed=args.seed,
    )
    server.state.set_unregistered(args.unregistered)
    server.state.set_error_rate(args.error_rate, args.error_status or (503,))
    server.state.goaway_after = args.goaway_after
    await server.start_async()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: asyncio.ensure_future(server.stop_async()))
    if server.control_port is not None:
        print(f"fake apns control on http://{args.host}:{server.control_port}", flush=True)
    print(f"fake apns listening on {args.host}:{server.port}", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.generate_certs is None and not (args.cert and args.key and args.client_ca):
        parser.error("--cert, --key and --client-ca are required (or --generate-certs DIR)")
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
