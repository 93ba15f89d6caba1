"""Redis URLs as the settings take them: one server (`redis://`, `rediss://`, `unix://`, as
redis-py reads them) or a master set watched by Redis Sentinel:

    sentinel://[[user]:password@]host[:port][,host[:port]...]/<master set>[/<db>]

The hosts are the sentinels (port 26379 unless given); the credentials, if any, are the
master's (the sentinels' own password is a setting of its own, REDIS_SENTINEL_PASSWORD, as it
is a separate `requirepass` in sentinel.conf). Pure parsing, so a bad URL stops the process at
start-up with the setting's name instead of at the first job.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379
DIRECT_SCHEMES = ("redis", "rediss", "unix")
_SHAPE = "sentinel://host:26379,host:26379/<master set>/<db>"


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str, setting: str) -> SentinelTarget | None:
    """The Sentinel target of a `sentinel://` URL, None for a single server's URL; raises
    ValueError naming `setting` (the environment variable) when the URL is malformed."""
    scheme, _, rest = url.partition("://")
    if not rest or scheme not in (SENTINEL_SCHEME, *DIRECT_SCHEMES):
        schemes = ", ".join(f"{name}://" for name in (*DIRECT_SCHEMES, SENTINEL_SCHEME))
        raise ValueError(f"{setting} must start with one of {schemes}; got {_redacted(url)!r}")
    if scheme != SENTINEL_SCHEME:
        return None
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    if "?" in path or "#" in path:
        raise ValueError(f"{setting}: a sentinel:// URL takes no query or fragment ({_SHAPE})")
    parts = path.split("/") if path else []
    if not parts or not parts[0] or len(parts) > 2:
        raise ValueError(f"{setting}: a sentinel:// URL names its master set: {_SHAPE}")
    db = parts[1] if len(parts) == 2 and parts[1] else "0"
    if not db.isdigit():
        raise ValueError(f"{setting}: the database must be a number, got {db!r} ({_SHAPE})")
    username, password = _credentials(userinfo)
    return SentinelTarget(
        sentinels=tuple(_address(item, setting) for item in hosts.split(",")),
        master=unquote(parts[0]),
        db=int(db),
        username=username,
        password=password,
    )


def kombu_broker_url(target: SentinelTarget) -> str:
    """The same target in kombu's Sentinel form: one `sentinel://` URL per sentinel joined by
    `;`, each with the master's credentials and the database; the master set goes in the
    transport option `master_name`."""
    auth = ""
    if target.password is not None or target.username is not None:
        user = quote(target.username or "", safe="")
        auth = f"{user}:{quote(target.password or '', safe='')}@"
    return ";".join(
        f"{SENTINEL_SCHEME}://{auth}{_netloc(host)}:{port}/{target.db}"
        for host, port in target.sentinels
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, has_password, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) if has_password else None


def _address(item: str, setting: str) -> tuple[str, int]:
    if not item:
        raise ValueError(f"{setting}: an empty sentinel address in the host list ({_SHAPE})")
    try:
        parsed = urlsplit(f"//{item}")
        host, port = parsed.hostname, parsed.port
    except ValueError as exc:  # a port that is not a number, or out of range
        raise ValueError(f"{setting}: bad sentinel address {item!r} ({_SHAPE})") from exc
    if not host:
        raise ValueError(f"{setting}: bad sentinel address {item!r} ({_SHAPE})")
    return host, port or SENTINEL_PORT


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _redacted(url: str) -> str:
    """The URL without its credentials: an error message may be logged."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}" if sep else "<not a URL>"
