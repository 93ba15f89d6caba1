"""The scopes a credential can grant; every tenant endpoint requires exactly one."""

from __future__ import annotations

PASS_READ = "Pass.Read"
PASS_WRITE = "Pass.Write"
PASS_REDEEM = "Pass.Redeem"  # redeeming only: what a till or a scanner needs
NOTIFICATION_SEND = "Notification.Send"
OPERATION_READ = "Operation.Read"
OPERATION_CANCEL = "Operation.Cancel"
IMPORT_WRITE = "Import.Write"
PASSTYPE_WRITE = "PassType.Write"  # upload, activate and preview pass type versions
CONNECTOR_WRITE = "Connector.Write"  # define, replace and delete connectors through the API

ALL_SCOPES = frozenset(
    {
        PASS_READ,
        PASS_WRITE,
        PASS_REDEEM,
        NOTIFICATION_SEND,
        OPERATION_READ,
        OPERATION_CANCEL,
        IMPORT_WRITE,
        PASSTYPE_WRITE,
        CONNECTOR_WRITE,
    }
)
# A scope that also grants a narrower one: keys made before Pass.Redeem existed redeem still.
IMPLIED_BY = {PASS_REDEEM: PASS_WRITE}


def grants(scopes: frozenset[str], scope: str) -> bool:
    """Whether a credential holding `scopes` may call an endpoint requiring `scope`."""
    return scope in scopes or IMPLIED_BY.get(scope) in scopes


def parse_scopes(raw: str | list[str] | tuple[str, ...] | None) -> frozenset[str]:
    """Scopes from a space/comma separated string or a list; unknown names are dropped."""
    if raw is None:
        return frozenset()
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    return frozenset(item for item in items if item in ALL_SCOPES)
