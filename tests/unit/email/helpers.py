"""A tenant folder with an [smtp] table and email templates, for the email unit tests."""

from __future__ import annotations

from pathlib import Path

SMTP_TOML = """
[smtp]
host = "127.0.0.1"
security = "none"
from = "Acme <wallet@acme.example>"
"""

TEMPLATES = {
    "subject.txt": "Your {{ pass_type.description }} from {{ tenant.name }}\n",
    "body.txt": "Hello {{ name | default: 'there' }},\n{{ link }}\n",
    "body.html": '<p>Hello {{ name | default: "there" }}</p><a href="{{ link }}">Add</a>',
}


def write_tenant(
    root: Path,
    *,
    smtp_toml: str = SMTP_TOML,
    languages: dict[str, dict[str, str]] | None = None,
    local_only: bool = False,
) -> Path:
    """`root/acme` with tenant.toml and email/<lang>/ files (default: `en` with TEMPLATES)."""
    tenant = root / "acme"
    tenant.mkdir(parents=True, exist_ok=True)
    head = 'name = "Acme & Sons"\n' + ("local_only = true\n" if local_only else "")
    (tenant / "tenant.toml").write_text(head + smtp_toml)
    for language, files in ({"en": TEMPLATES} if languages is None else languages).items():
        folder = tenant / "email" / language
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    return tenant
