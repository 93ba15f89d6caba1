"""`passwire passtypes push|pull --tenant T --name N DIR`: a pass type folder to and from the
API, so a team keeps its templates in git and uploads them as versions.

    passwire passtypes push --tenant demo --name loyalty ./loyalty [--activate [--rerender]]
    passwire passtypes pull --tenant demo --name loyalty ./loyalty [--version 3]

push zips DIR (the layout of config/tenants/<t>/passtypes/<name>/) and PUTs it: a new
version, or the API's 422 listing each file and field at fault (exit 1). pull writes a version
(default: the active one) into DIR, removing the files of the layout it no longer has. The key
comes from PASSWIRE_API_KEY (PassType.Write to push, Pass.Read to pull), never the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import requests

from shared.passtypes.archive import (
    TOP_LEVEL,
    ArchiveRefused,
    ArchiveTooLarge,
    read_folder,
    read_zip,
    write_folder,
    write_zip,
)

API_KEY_ENV = "PASSWIRE_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 120
EXIT_REFUSED = 1
EXIT_NOT_DONE = 3


def add_passtypes_commands(areas: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands = areas.add_parser("passtypes", help="pass type folders to and from the HTTP API")
    actions = commands.add_subparsers(dest="action", required=True)
    push = actions.add_parser("push", help="upload a folder as a new version", allow_abbrev=False)
    pull = actions.add_parser("pull", help="write a version into a folder", allow_abbrev=False)
    for parser in (push, pull):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True, help="the pass type")
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--url", default=DEFAULT_URL, help=f"the API (default {DEFAULT_URL})")
        parser.set_defaults(needs_database=False)
    push.add_argument("--activate", action="store_true", help="activate the new version")
    push.add_argument(
        "--rerender", action="store_true", help="with --activate: re-render every pass"
    )
    push.set_defaults(run=run_push)
    pull.add_argument("--version", type=int, help="default: the active version")
    pull.set_defaults(run=run_pull)


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["X-API-Key"] = os.environ.get(API_KEY_ENV, "").strip()
    return session


def _base(args: argparse.Namespace) -> str:
    tenant, name = quote(args.tenant, safe=""), quote(args.name, safe="")
    return f"{args.url.rstrip('/')}/api/{tenant}/passtypes/{name}"


def _refused(response: requests.Response, err: TextIO) -> int:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {"message": response.text[:200], "errors": []}
    print(f"passwire: {response.status_code} {body.get('message', '')}", file=err)
    for error in body.get("errors") or []:
        print(f"  {error.get('field')}: {error.get('reason')}", file=err)
    return EXIT_REFUSED if response.status_code in (413, 422) else EXIT_NOT_DONE


def run_push(
    args: argparse.Namespace,
    _db: Any = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if not (args.directory / "passtype.toml").is_file():
        print(f"passwire: {args.directory}: no passtype.toml (not a pass type folder)", file=err)
        return EXIT_REFUSED
    session, base = _session(), _base(args)
    body = write_zip(read_folder(args.directory))
    try:
        response = session.put(
            base, data=body, headers={"Content-Type": "application/zip"}, timeout=TIMEOUT_S
        )
        if response.status_code != 201:
            return _refused(response, err)
        number = response.json()["version"]
        print(f"{args.name}: version {number} stored", file=out)
        if args.activate:
            activated = session.post(
                f"{base}/versions/{number}/activate",
                json={"rerender": args.rerender},
                timeout=TIMEOUT_S,
            )
            if activated.status_code not in (200, 202):
                return _refused(activated, err)
            campaign = activated.json().get("correlationId")
            print(f"{args.name}: version {number} active", file=out)
            if campaign:
                print(f"re-render campaign: {campaign} (passwire ops watch {campaign})", file=out)
    except requests.RequestException as exc:
        print(f"passwire: cannot reach the API ({type(exc).__name__})", file=err)
        return EXIT_NOT_DONE
    return 0


def run_pull(
    args: argparse.Namespace,
    _db: Any = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    params = {} if args.version is None else {"version": args.version}
    try:
        response = _session().get(_base(args), params=params, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        print(f"passwire: cannot reach the API ({type(exc).__name__})", file=err)
        return EXIT_NOT_DONE
    if response.status_code != 200:
        return _refused(response, err)
    try:
        files = read_zip(response.content)  # the same checks as an upload: nothing escapes
    except (ArchiveRefused, ArchiveTooLarge) as exc:
        print(f"passwire: the API sent an unusable zip: {exc}", file=err)
        return EXIT_NOT_DONE
    directory: Path = args.directory
    # Only the layout's own files: a README or .git beside them is not the API's to remove.
    present = read_folder(directory) if directory.is_dir() else {}
    stale = {path for path in present if path.split("/")[0] in TOP_LEVEL} - set(files)
    for path in sorted(stale):
        (directory / path).unlink()
    write_folder(files, directory)
    number = response.headers.get("X-Passwire-Version", "?")
    print(f"{args.name}: version {number} written to {directory} ({len(files)} files)", file=out)
    return 0
