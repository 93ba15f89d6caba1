"""A tenant's email set-up: its `[smtp]` table and the languages of `email/<lang>/`.

The two go together: `[smtp]` without templates, or templates without `[smtp]`, stops
start-up. `en` is the default language and must exist. A requested language is matched
case-insensitively, then by its primary subtag (`fr-CA` → `fr`), else the default is used:
callers pass the holder's locale as their CRM knows it, without knowing which languages the
tenant wrote templates for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shared.email.config import EmailConfigError, SmtpConfig, parse_smtp
from shared.email.templates import EmailTemplateError, LanguageTemplates, load_language

EMAIL_FOLDER = "email"
DEFAULT_LANGUAGE = "en"
# A BCP 47-like tag: `en`, `fr-CA`, `zh-Hant-TW`; used with fullmatch.
LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")


@dataclass(frozen=True)
class TenantEmail:
    smtp: SmtpConfig
    # lower-cased language tag → its templates; always holds DEFAULT_LANGUAGE
    languages: Mapping[str, LanguageTemplates]

    def language_for(self, requested: str | None) -> str:
        """The configured language closest to `requested` (see the module docstring)."""
        if requested:
            tag = requested.lower()
            for candidate in (tag, tag.split("-", 1)[0]):
                if candidate in self.languages:
                    return candidate
        return DEFAULT_LANGUAGE


def load_tenant_email(
    entry: Any, tenant_dir: Path, *, local_only: bool, environ: Mapping[str, str] = os.environ
) -> TenantEmail | None:
    """The tenant's email set-up from its `[smtp]` table (None when absent) and its email/
    folder. Raises EmailConfigError naming the file."""
    folder = tenant_dir / EMAIL_FOLDER
    source = tenant_dir / "tenant.toml"
    if entry is None:
        if folder.exists():
            raise EmailConfigError(f"{folder}: email templates need an [smtp] table in {source}")
        return None
    smtp = parse_smtp(entry, str(source), local_only=local_only, environ=environ)
    languages = _languages(folder) if folder.is_dir() else {}
    if DEFAULT_LANGUAGE not in languages:
        raise EmailConfigError(
            f"{folder / DEFAULT_LANGUAGE}: missing: [smtp] needs the default language's "
            "templates (subject.txt, body.txt)"
        )
    return TenantEmail(smtp=smtp, languages=MappingProxyType(languages))


def _languages(folder: Path) -> dict[str, LanguageTemplates]:
    languages: dict[str, LanguageTemplates] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or not LANGUAGE_PATTERN.fullmatch(path.name):
            raise EmailConfigError(
                f"{path}: expected only language folders such as en, fr or pt-BR in {folder}"
            )
        if path.name.lower() in languages:
            raise EmailConfigError(f"{path}: language {path.name} is there twice")
        try:
            languages[path.name.lower()] = load_language(path)
        except EmailTemplateError as exc:
            raise EmailConfigError(str(exc)) from None
    return languages
