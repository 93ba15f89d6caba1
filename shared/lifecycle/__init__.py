"""A pass's lifecycle: its status (active, redeemed, expired, blocked, voided), its expiration
date and the balance passwire keeps for it.

Every change is decided by one conditional write in MongoDB (so two tills scanning the same
coupon redeem it once), then the pass is re-rendered by an ordinary update job with an empty
patch: the rendered pass changed, so a new version is signed and its devices are told.
Nothing here imports Flask or Celery.
"""

from __future__ import annotations

# Operation kinds of the refresh jobs these changes start (GET /operations?kind=).
STATUS_KIND = "status"
REDEEM_KIND = "redeem"
BALANCE_KIND = "balance"
EXPIRE_KIND = "expire"
RESEND_KIND = "resend"
# ...and of the deletion jobs (shared/lifecycle/deletion.py): plain, or erasing every trace.
DELETE_KIND = "delete"
ERASE_KIND = "erase"
KINDS = (
    STATUS_KIND,
    REDEEM_KIND,
    BALANCE_KIND,
    EXPIRE_KIND,
    RESEND_KIND,
    DELETE_KIND,
    ERASE_KIND,
)
