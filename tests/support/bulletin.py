"""passtypes/bulletin in the demo tenant: a copy of the loyalty card (Apple and Google) that
only the class-wide message tests use, so a campaign over the whole pass type reaches their
passes alone (its Google class is "<issuer id>.demo-bulletin")."""

from __future__ import annotations

import shutil
from pathlib import Path

BULLETIN = "bulletin"


def add_bulletin_pass_type(demo_dir: Path) -> None:
    shutil.copytree(demo_dir / "passtypes" / "loyalty", demo_dir / "passtypes" / BULLETIN)
