"""The tenant's notification policy, from `[notifications]` in tenant.toml and passtype.toml.

    # tenant.toml
    [notifications]
    time_zone = "Europe/Paris"       # the holders' zone when a pass names none (default UTC)
    apple_alerts_per_day = 3         # lock-screen alerts per pass per rolling 24 h (default 3)
    quiet_hours = { start = "21:00", end = "08:00" }   # optional

    # passtype.toml
    [notifications]
    apple_alerts_per_day = 5         # this pass type's own budget

Quiet hours are also given per campaign (`quietHours` in the API); `parse_quiet_hours` reads
both forms, so one rule says what a window is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_APPLE_ALERTS_PER_DAY = 3
GOOGLE_ALERTS_PER_DAY = 3  # Google's own limit per object, not configurable
MAX_ALERTS_PER_DAY = 100
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class NotificationConfigError(ValueError):
    """A `[notifications]` table or a `quietHours` value is invalid; the message names it."""


def time_zone(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def clock_time(value: Any) -> time | None:
    """`"HH:MM"` (24 h) as a time, or None when it is not one."""
    match = _CLOCK_TIME.fullmatch(value) if isinstance(value, str) else None
    return None if match is None else time(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class QuietHours:
    """A daily window, `start` included and `end` excluded, in `zone` unless the holder's pass
    names its own; it runs past midnight when `end` is before `start`."""

    start: time
    end: time
    zone: str | None = None  # None: the tenant's time zone

    def as_document(self) -> dict[str, str]:
        document = {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}
        if self.zone is not None:
            document["timeZone"] = self.zone
        return document

    def ends_at(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the window `now` falls in ends (UTC), or None when `now` is outside it."""
        local = now.astimezone(zone)
        at = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside, day = self.start <= at < self.end, local.date()
        elif self.start > self.end:  # past midnight: 22:00 → 07:00
            inside = at >= self.start or at < self.end
            day = local.date() + timedelta(days=1) if at >= self.start else local.date()
        else:
            return None  # start == end: an empty window
        if not inside:
            return None
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(now.tzinfo)


def parse_quiet_hours(value: Any, *, zone_key: str = "timeZone") -> QuietHours:
    """`{"start": "HH:MM", "end": "HH:MM", <zone_key>?: IANA zone}`; NotificationConfigError
    naming the key at fault."""
    if not isinstance(value, Mapping):
        raise NotificationConfigError("must be an object with start and end (HH:MM)")
    unknown = sorted(set(value) - {"start", "end", zone_key})
    if unknown:
        raise NotificationConfigError(f"{unknown[0]}: unknown field")
    problems: list[str] = []
    start, end = clock_time(value.get("start")), clock_time(value.get("end"))
    for name, parsed in (("start", start), ("end", end)):
        if parsed is None:
            problems.append(f"{name}: must be a time of day as HH:MM (00:00 to 23:59)")
    zone = value.get(zone_key)
    if zone is not None and time_zone(zone) is None:
        problems.append(f"{zone_key}: {zone!r} is not an IANA time zone")
    if start is not None and start == end:
        problems.append("end: must differ from start")
    if problems:
        raise NotificationConfigError("; ".join(problems))
    assert start is not None and end is not None
    return QuietHours(start=start, end=end, zone=zone)


@dataclass(frozen=True)
class NotificationPolicy:
    """How a tenant's messages reach holders (defaults: UTC, 3 Apple alerts a day, no quiet
    hours)."""

    time_zone: str = "UTC"
    apple_alerts_per_day: int = DEFAULT_APPLE_ALERTS_PER_DAY
    # Per pass type overrides of apple_alerts_per_day (passtype.toml).
    apple_alerts_by_pass_type: Mapping[str, int] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None

    def apple_limit(self, pass_type: str) -> int:
        return self.apple_alerts_by_pass_type.get(pass_type, self.apple_alerts_per_day)


def _alerts_per_day(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotificationConfigError(f"{where}: must be an integer")
    if not 0 <= value <= MAX_ALERTS_PER_DAY:
        raise NotificationConfigError(f"{where}: must be 0 to {MAX_ALERTS_PER_DAY}")
    return value


def parse_tenant_policy(raw: Any, source: str) -> NotificationPolicy:
    """tenant.toml's `[notifications]` table (None: the defaults)."""
    if raw is None:
        return NotificationPolicy()
    where = f"{source}: notifications"
    if not isinstance(raw, Mapping):
        raise NotificationConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - {"time_zone", "apple_alerts_per_day", "quiet_hours"})
    if unknown:
        raise NotificationConfigError(f"{where}.{unknown[0]}: unknown field")
    zone = raw.get("time_zone", "UTC")
    if time_zone(zone) is None:
        raise NotificationConfigError(f"{where}.time_zone: {zone!r} is not an IANA time zone")
    quiet = None
    if "quiet_hours" in raw:
        try:
            quiet = parse_quiet_hours(raw["quiet_hours"], zone_key="time_zone")
        except NotificationConfigError as exc:
            raise NotificationConfigError(f"{where}.quiet_hours: {exc}") from exc
    limit = raw.get("apple_alerts_per_day", DEFAULT_APPLE_ALERTS_PER_DAY)
    return NotificationPolicy(
        time_zone=zone,
        apple_alerts_per_day=_alerts_per_day(limit, f"{where}.apple_alerts_per_day"),
        quiet_hours=quiet,
    )


def parse_pass_type_limit(raw: Any, source: str) -> int | None:
    """passtype.toml's `[notifications]` table: its own apple_alerts_per_day, if any."""
    if raw is None:
        return None
    where = f"{source}: notifications"
    if not isinstance(raw, Mapping):
        raise NotificationConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - {"apple_alerts_per_day"})
    if unknown:
        raise NotificationConfigError(f"{where}.{unknown[0]}: unknown field")
    if "apple_alerts_per_day" not in raw:
        return None
    return _alerts_per_day(raw["apple_alerts_per_day"], f"{where}.apple_alerts_per_day")
