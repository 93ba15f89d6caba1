"""docs/operations.md lists every setting of the Settings object, and only those: a setting
added without its line, or a line left after its setting went, fails here."""

from __future__ import annotations

import re
from pathlib import Path

from config.settings import env_names, setting_fields

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|([^|]*)\|\s*$")


def documented_settings(markdown: str) -> dict[str, str]:
    """Variable -> meaning, from the table under the `## Settings` heading."""
    section = markdown.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith(("| variable", "| ---")):
            match = _ROW.match(line)
            assert match is not None, f"a settings row names one variable in backquotes: {line}"
            assert match.group(1) not in rows, f"{match.group(1)} has two lines"
            rows[match.group(1)] = match.group(3).strip()
    return rows


def test_the_operations_table_lists_exactly_the_settings() -> None:
    documented = documented_settings(OPERATIONS.read_text(encoding="utf-8"))
    declared = env_names()
    assert sorted(set(declared) - set(documented)) == [], "settings without a line in the doc"
    assert sorted(set(documented) - set(declared)) == [], "doc lines naming no setting"
    assert all(documented.values()), "every line says what its setting does"


def test_every_setting_names_its_variable_and_says_what_it_does() -> None:
    for item in setting_fields():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", item.metadata["env"]), item.name
        assert item.metadata["doc"].strip(), item.name


def test_the_comparison_notices_a_missing_and_an_extra_line() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    documented = documented_settings(text)
    without = "\n".join(
        line for line in text.splitlines() if not line.startswith("| `PASSWIRE_CAMPAIGN_WINDOW`")
    )
    assert set(documented) - set(documented_settings(without)) == {"PASSWIRE_CAMPAIGN_WINDOW"}
    extra = text.replace(
        "| `LOG_LEVEL` |", "| `PASSWIRE_NOT_A_SETTING` | `1` | nothing |\n| `LOG_LEVEL` |"
    )
    assert "PASSWIRE_NOT_A_SETTING" in set(documented_settings(extra)) - set(env_names())
