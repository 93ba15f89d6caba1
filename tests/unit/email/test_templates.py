"""Email templates per language: rendered with the pass's values, HTML escaped (and text
not), checked when the tenant loads with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.email.templates import EmailValues
from shared.email.tenant_email import TenantEmail
from shared.tenancy.tenants import TenantConfigError, load_tenant
from tests.unit.email.helpers import TEMPLATES, write_tenant

LINK = "https://wallet.example.com/api/acme/passes/P1/view?t=123.abc&medium=email"


def _email(tmp_path: Path, languages: dict[str, dict[str, str]] | None = None) -> TenantEmail:
    tenant = load_tenant(write_tenant(tmp_path, languages=languages))
    assert tenant.email is not None
    return tenant.email


def _values(name: str | None = None) -> EmailValues:
    return EmailValues("Acme & Sons", "Loyalty <card>", LINK, name)


def test_each_part_is_rendered_with_the_pass_values(tmp_path: Path) -> None:
    content = _email(tmp_path).languages["en"].render(_values("Ada"))
    assert content.subject == "Your Loyalty <card> from Acme & Sons"
    assert content.text == f"Hello Ada,\n{LINK}\n"
    assert content.html == f'<p>Hello Ada</p><a href="{LINK.replace("&", "&amp;")}">Add</a>'


def test_html_is_escaped_and_text_is_not(tmp_path: Path) -> None:
    name = '<script>alert("x")</script> & Co'
    content = _email(tmp_path).languages["en"].render(_values(name))
    assert content.html is not None
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in content.html
    assert content.text.startswith(f"Hello {name},")


def test_without_a_name_the_template_default_is_used(tmp_path: Path) -> None:
    content = _email(tmp_path).languages["en"].render(_values())
    assert content.text.startswith("Hello there,")


def test_the_subject_is_one_line(tmp_path: Path) -> None:
    languages = {"en": {**TEMPLATES, "subject.txt": "  Your\n{{ tenant.name }}\r\n card \n"}}
    content = _email(tmp_path, languages).languages["en"].render(_values())
    assert content.subject == "Your Acme & Sons card"


def test_body_html_is_optional(tmp_path: Path) -> None:
    languages = {"en": {k: v for k, v in TEMPLATES.items() if k != "body.html"}}
    assert _email(tmp_path, languages).languages["en"].render(_values()).html is None


@pytest.mark.parametrize(
    ("requested", "chosen"),
    [
        (None, "en"),
        ("fr", "fr"),
        ("FR", "fr"),
        ("fr-CA", "fr"),
        ("pt-BR", "pt-br"),
        ("pt-PT", "pt"),
        ("de", "en"),
        ("de-CH", "en"),
    ],
)
def test_a_language_falls_back_to_its_primary_tag_then_english(
    tmp_path: Path, requested: str | None, chosen: str
) -> None:
    email = _email(tmp_path, {lang: TEMPLATES for lang in ("en", "fr", "pt", "pt-BR")})
    assert email.language_for(requested) == chosen


@pytest.mark.parametrize(
    ("languages", "message"),
    [
        ({"fr": TEMPLATES}, r"email/en: missing"),
        ({}, r"email/en: missing"),
        (
            {"en": {**TEMPLATES, "body.txt": "Hi {% if name %}{{ name }}\n"}},
            r"email/en/body.txt: expected tag endif",
        ),
        (
            {"en": {**TEMPLATES, "body.txt": "Hi\n\n{{ customer.email }}\n"}},
            r"email/en/body.txt: line 3: unknown variable 'customer.email'",
        ),
        (
            {"en": {**TEMPLATES, "subject.txt": "{{ tenant.id }}"}},
            r"email/en/subject.txt: line 1: unknown variable 'tenant.id'",
        ),
        (
            {"en": {**TEMPLATES, "body.html": "{{ link | shout }}"}},
            r"email/en/body.html: line 1: unknown filter 'shout'",
        ),
        (
            {"en": {**TEMPLATES, "body.txt": "Hello {{ name }}"}},
            r"email/en/body.txt: line 1: 'name' is undefined \(rendered without a name\)",
        ),
        (
            {"en": {**TEMPLATES, "subject.txt": "{% if name %}Hi{% endif %}"}},
            r"email/en/subject.txt: the subject renders empty \(rendered without a name\)",
        ),
        (
            {"en": {**TEMPLATES, "body.txt": "{% include 'x' %}"}},
            r"email/en/body.txt: .*include",
        ),
        ({"en": {k: v for k, v in TEMPLATES.items() if k != "body.txt"}}, r"body.txt: file is"),
        ({"en": {**TEMPLATES, "body.htm": "<p>"}}, r"email/en: unexpected files \['body.htm'\]"),
        ({"en": TEMPLATES, "english": TEMPLATES}, r"email/english: expected only language"),
    ],
)
def test_bad_templates_stop_the_tenant_naming_the_file(
    tmp_path: Path, languages: dict[str, dict[str, str]], message: str
) -> None:
    with pytest.raises(TenantConfigError, match=message):
        load_tenant(write_tenant(tmp_path, languages=languages))


def test_templates_without_smtp_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TenantConfigError, match=r"email: email templates need an \[smtp\] table"):
        load_tenant(write_tenant(tmp_path, smtp_toml=""))


def test_a_tenant_without_smtp_or_templates_sends_no_email(tmp_path: Path) -> None:
    assert load_tenant(write_tenant(tmp_path, smtp_toml="", languages={})).email is None
