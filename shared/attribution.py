"""Install attribution: an install (an Apple device registering for the pass, a Google
save callback) is credited to the pass's latest link click in that wallet within the
attribution window (PASSWIRE_ATTRIBUTION_WINDOW_H), so statistics can say "installs from the
March email". A link's medium says where it was published (email, sms, qr...), its tags name
the campaign; both travel in the link and are stored with the click.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.repositories import install_attributions, install_clicks
from shared.stats import counting

if TYPE_CHECKING:  # the database is a repository's business; here only its type
    from pymongo.database import Database

MEDIUM_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")  # use with fullmatch
TAG_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # use with fullmatch
MAX_TAGS = 10
TAG_SEPARATOR = ","  # tags travel in one query parameter: `tags=march,email`
GROUPINGS = ("medium", "tag")


class BadTags(ValueError):
    """Tags outside the grammar; the message says which rule they break."""


def check_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The tags, deduplicated in order; BadTags when one is malformed or there are too many."""
    unique = tuple(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise BadTags(f"at most {MAX_TAGS} tags")
    for tag in unique:
        if not TAG_PATTERN.fullmatch(tag):
            raise BadTags("each tag is 1 to 64 of A-Z, a-z, 0-9, '_', '.' or '-'")
    return unique


def parse_tags(raw: str | None) -> tuple[str, ...]:
    """Tags from their query parameter (comma-separated); BadTags when malformed."""
    if raw is None:
        return ()
    return check_tags(raw.split(TAG_SEPARATOR))


def attribute_install(
    db: Database[Any],
    *,
    tenant_id: str,
    pass_id: str,
    wallet: str,
    installed_at: datetime,
    window: timedelta,
) -> dict[str, Any] | None:
    """Credit this install to the latest click within `window` before it; the click (medium
    and tags) it was credited to, or None when no click came first."""
    click = install_clicks.latest_click(db, tenant_id, pass_id, wallet, since=installed_at - window)
    if click is None:
        return None
    install_attributions.record_attribution(
        db,
        tenant_id=tenant_id,
        pass_id=pass_id,
        wallet=wallet,
        medium=click.get("medium"),
        tags=list(click.get("tags") or []),
        clicked_at=click["at"],
        installed_at=installed_at,
    )
    counting.install_attributed(
        db,
        tenant_id,
        wallet=wallet,
        medium=click.get("medium"),
        tags=list(click.get("tags") or []),
        at=installed_at,
    )
    return click


def installs_report(
    db: Database[Any],
    tenant_id: str,
    *,
    by: str,
    start: datetime | None,
    end: datetime | None,
) -> list[dict[str, Any]]:
    """Attributed installs per medium or tag: `[{key, apple, google, total}]`, most first."""
    rows: dict[Any, dict[str, Any]] = {}
    for found in install_attributions.count_installs(db, tenant_id, by=by, start=start, end=end):
        row = rows.setdefault(found["key"], {"key": found["key"], "apple": 0, "google": 0})
        if found["wallet"] in ("apple", "google"):
            row[found["wallet"]] += found["installs"]
    for row in rows.values():
        row["total"] = row["apple"] + row["google"]
    return sorted(rows.values(), key=lambda row: (-row["total"], str(row["key"])))
