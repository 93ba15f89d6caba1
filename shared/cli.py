"""`passwire`: the operator's command line.

    passwire keys create --tenant demo --name crm --scopes Pass.Read,Pass.Write
    passwire keys list --tenant demo
    passwire keys revoke <keyId>
    passwire links sign --tenant demo --pass <passId> [--days 30] [--medium email]
    passwire ops watch <correlationId> --tenant demo [--url http://127.0.0.1:8000]
    passwire google adopt-holders [--tenant demo]
    passwire google trust-callbacks --tenant demo
    passwire certs check
    passwire passtypes push|pull --tenant demo --name loyalty DIR

`certs check` reads the tenants' certificate files (PASSWIRE_TENANTS_DIR) and needs no database.

`keys` and `links` talk to MongoDB with the same settings as the API (MONGODB_URI, ...);
`ops watch` and `passtypes` talk to the HTTP API with the key in PASSWIRE_API_KEY.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from config.settings import load_settings
from shared.apple.expiry import WARNING_DAYS, certificate_expiries
from shared.credentials.api_keys import issue_key
from shared.credentials.scopes import ALL_SCOPES, parse_scopes
from shared.infra.clock import utcnow
from shared.infra.db import get_database
from shared.links import SECRET_ENV as LINK_SECRET_ENV
from shared.links import link_secret, sign_link
from shared.ops_watch.command import add_ops_commands
from shared.passtypes.command import add_passtypes_commands
from shared.repositories import api_keys as keys_repo
from shared.repositories import passes as passes_repo
from shared.tenancy.tenants import load_registry


def _keys_create(args: argparse.Namespace, db: Any) -> int:
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, include_local_only=settings.is_local)
    if registry.get(args.tenant) is None:
        print(f"unknown tenant '{args.tenant}'", file=sys.stderr)
        return 2
    requested = [name for name in args.scopes.replace(",", " ").split() if name]
    unknown = sorted(set(requested) - ALL_SCOPES)
    if unknown or not requested:
        print(
            f"scopes must be among {sorted(ALL_SCOPES)}; got {unknown or 'none'}", file=sys.stderr
        )
        return 2
    issued = issue_key(
        db, tenant_id=args.tenant, name=args.name, scopes=parse_scopes(requested), now=utcnow()
    )
    print(f"key id: {issued.key_id}")
    print(f"key:    {issued.plaintext}")
    print("Store the key now: it is shown once and kept only as a hash.")
    return 0


def _keys_list(args: argparse.Namespace, db: Any) -> int:
    for key in keys_repo.list_keys(db, args.tenant):
        state = "revoked" if key.get("revokedAt") else "active"
        scopes = ",".join(key["scopes"])
        print(f"{key['_id']}  {state:<7}  {key['name']:<24}  {scopes}")
    return 0


def _keys_revoke(args: argparse.Namespace, db: Any) -> int:
    if keys_repo.revoke_key(db, args.key_id, utcnow()):
        print(f"revoked {args.key_id}")
        return 0
    print(f"no active key {args.key_id}", file=sys.stderr)
    return 1


def _links_sign(args: argparse.Namespace, db: Any) -> int:
    settings = load_settings()
    secret = link_secret(args.tenant, is_local=settings.is_local, configured=settings.link_secret)
    if secret is None:
        print(f"set {LINK_SECRET_ENV} (at least 32 characters) to sign links", file=sys.stderr)
        return 2
    if passes_repo.find_pass(db, args.tenant, args.pass_id) is None:
        print(f"no pass {args.pass_id} in tenant {args.tenant}", file=sys.stderr)
        return 1
    expires_at = int(time.time()) + int(args.days * 86400)
    token = sign_link(secret, args.tenant, args.pass_id, expires_at)
    query = urlencode({"t": token, **({"medium": args.medium} if args.medium else {})})
    print(f"{settings.public_base_url}/api/{args.tenant}/passes/{args.pass_id}/view?{query}")
    return 0


def _google_adopt_holders(args: argparse.Namespace, db: Any) -> int:
    tenants = [args.tenant] if args.tenant else None
    counts = passes_repo.adopt_google_holders(db, tenants)
    print(
        f"Google holders recorded: {counts['saved']} saved, {counts['assumed']} assumed "
        f"(at Google, no callback seen), {counts['none']} none"
    )
    return 0


def _google_trust_callbacks(args: argparse.Namespace, db: Any) -> int:
    changed = passes_repo.trust_google_callbacks(db, args.tenant)
    print(f"{changed} passes of {args.tenant} no longer assumed saved in Google Wallet")
    return 0


def _certs_check(args: argparse.Namespace, db: Any) -> int:
    """Every tenant's Apple certificates with their end; exit 1 when one is unusable or ends
    within WARNING_DAYS (for a cron job or a deploy check)."""
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, include_local_only=settings.is_local)
    now = utcnow()
    print(f"{'tenant':<16} {'pass type identifier':<36} {'certificate':<22} {'expires':<26} days")
    attention = False
    for item in certificate_expiries(registry.tenants.values()):
        left = item.days_left(now)
        state = "EXPIRED" if left < 0 else "EXPIRING" if left <= WARNING_DAYS else "ok"
        attention |= state != "ok"
        print(
            f"{item.tenant_id:<16} {item.pass_type_identifier:<36} {item.kind:<22} "
            f"{item.not_after.isoformat():<26} {left:>6.1f}  {state}"
        )
    for tenant in registry.tenants.values():
        for problem in tenant.apple_identities.problems(now):
            attention = True
            print(f"{tenant.id}: PROBLEM {problem}")
    return 1 if attention else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="passwire", description=__doc__.split("\n")[0])
    areas = parser.add_subparsers(dest="area", required=True)
    keys = areas.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma separated, e.g. Pass.Read")
    create.set_defaults(run=_keys_create)
    listing = keys.add_parser("list", help="a tenant's keys (never the keys themselves)")
    listing.add_argument("--tenant", required=True)
    listing.set_defaults(run=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_keys_revoke)
    links = areas.add_parser("links", help="customer links").add_subparsers(
        dest="action", required=True
    )
    sign = links.add_parser("sign", help="a signed, expiring link to a pass's download page")
    sign.add_argument("--tenant", required=True)
    sign.add_argument("--pass", dest="pass_id", required=True)
    sign.add_argument("--days", type=float, default=30.0, help="valid for (default 30)")
    sign.add_argument("--medium", help="tag install clicks, e.g. email, sms")
    sign.set_defaults(run=_links_sign)
    google = areas.add_parser("google", help="Google Wallet holders").add_subparsers(
        dest="action", required=True
    )
    adopt = google.add_parser(
        "adopt-holders",
        help="record who holds the Google objects of passes written before holders were tracked",
    )
    adopt.add_argument("--tenant", help="only this tenant (default: all)")
    adopt.set_defaults(run=_google_adopt_holders)
    trust = google.add_parser(
        "trust-callbacks",
        help="stop updating objects at Google that no save callback ever claimed",
    )
    trust.add_argument("--tenant", required=True)
    trust.set_defaults(run=_google_trust_callbacks)
    certs = areas.add_parser("certs", help="Apple certificates").add_subparsers(
        dest="action", required=True
    )
    check = certs.add_parser("check", help="every tenant's certificates with their expiry")
    check.set_defaults(run=_certs_check, needs_database=False)
    add_ops_commands(areas)
    add_passtypes_commands(areas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    db = get_database(load_settings()) if getattr(args, "needs_database", True) else None
    code: int = args.run(args, db)
    return code


if __name__ == "__main__":
    sys.exit(main())
