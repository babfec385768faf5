"""Letter templates for notices: shipped Japanese and English defaults, overridable by the user.

A letter template is a text file whose first line is ``Subject: ...``, followed by a blank line
and the body. Placeholders use :class:`string.Template` syntax (``${name}``); see
:data:`LETTER_PLACEHOLDERS` and :data:`ADVICE_PLACEHOLDERS`. A file of the same name in the
user's templates folder (``~/.config/dmarctui/templates/``) replaces the shipped one.

Write each paragraph or list item on one line: the letter is folded to 72 columns when it is
built, with a hanging indent for items that start with ``・``, ``-`` or ``1.``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

Lang = Literal["ja", "en"]
LetterName = Literal["notice", "followup"]

LETTER_PLACEHOLDERS: dict[str, str] = {
    "recipient": "greeting name of the contact (ja: '… 様'; en: the name)",
    "from_domain": "domain of the From address",
    "header_from": "header From domain(s) seen in the reports",
    "period": "first and last report date, e.g. 2024-10-01 – 2024-10-31",
    "reporters": "the receivers that sent the reports",
    "total_messages": "failing messages from all sources in the letter",
    "subject_sources": "short list of sources for the subject",
    "sources": "one line per source: IP, PTR, messages, what was seen",
    "policy": "our DMARC policy as the reports show it, what receivers did, the planned change"
    " ([notice] planned_policy / planned_date; no plan is claimed without them)",
    "advice": "the fix for each finding kind (from the advice_* templates)",
    "evidence": "what the receivers reported: daily rows for the recent period, weekly and"
    " monthly totals before it, and a total line",
    "signature": "[notice] signature from the config",
    "first_date": "follow-up only: date of the first notice",
    "first_subject": "follow-up only: subject of the first notice",
    "since_messages": "follow-up only: failing messages seen since the first notice",
}
"""Placeholders available in ``notice_<lang>.txt`` and ``followup_<lang>.txt``."""

ADVICE_PLACEHOLDERS: dict[str, str] = {
    "sources": "the sources with this finding, comma separated",
    "header_from": "header From domain(s) of those findings",
    "messages": "messages behind those findings",
    "status": "what the reports say about those messages and DMARC (pass through SPF only, or"
    " how many failed)",
    "quarantined": "messages receivers quarantined",
    "rejected": "messages receivers rejected",
}
"""Placeholders available in ``advice_<kind>_<lang>.txt``."""

ADVICE_KINDS: tuple[str, ...] = (
    "internal_no_dkim",
    "dkim_broken",
    "unaligned_third_party",
    "enforced",
)
"""Finding kinds that a letter gives advice for; the others are not letter material."""


class TemplateError(ValueError):
    """A template file is unreadable, lacks its Subject line, or uses an unknown placeholder."""


@dataclass(frozen=True)
class LetterTemplate:
    subject: Template
    body: Template
    origin: str
    """Where it came from (a path, or ``dmarctui/templates/<file>``), for error messages."""


def _read(file_name: str, templates_dir: Path | None) -> tuple[str, str]:
    if templates_dir is not None:
        override = templates_dir / file_name
        if override.is_file():
            try:
                return override.read_text(encoding="utf-8"), str(override)
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"{override}: cannot read template: {exc}") from exc
    shipped = resources.files("dmarctui").joinpath("templates", file_name)
    return shipped.read_text(encoding="utf-8"), f"dmarctui/templates/{file_name}"


def load_letter(name: LetterName, lang: Lang, templates_dir: Path | None = None) -> LetterTemplate:
    """The subject and body templates of a letter, the user's file first."""
    text, origin = _read(f"{name}_{lang}.txt", templates_dir)
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise TemplateError(f"{origin}: the first line must be 'Subject: ...'")
    return LetterTemplate(
        subject=Template(first.removeprefix("Subject:").strip()),
        body=Template(rest.lstrip("\n")),
        origin=origin,
    )


def load_advice(kind: str, lang: Lang, templates_dir: Path | None = None) -> tuple[Template, str]:
    """The advice paragraph for one finding kind, and where it came from."""
    if kind not in ADVICE_KINDS:
        raise TemplateError(f"no advice for finding kind {kind!r}")
    text, origin = _read(f"advice_{kind}_{lang}.txt", templates_dir)
    return Template(text.rstrip("\n")), origin


def fill(template: Template, values: dict[str, str], origin: str) -> str:
    """Substitute, turning an unknown placeholder into an error that names file and name."""
    try:
        return template.substitute(values)
    except KeyError as exc:
        known = ", ".join(sorted(values))
        raise TemplateError(
            f"{origin}: unknown placeholder ${{{exc.args[0]}}} (known: {known})"
        ) from exc
    except ValueError as exc:
        raise TemplateError(f"{origin}: {exc} (write $$ for a literal $)") from exc
