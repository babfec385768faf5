"""The user's configuration: own domains, internal networks, known senders, contacts, notices.

Loaded from TOML with :mod:`tomllib`. A bad value never stops the program: it is reported as a
:class:`ConfigProblem` naming the file, the key and what is wrong, and the default is used in its
place. Only an unreadable file or invalid TOML is fatal (:class:`ConfigError`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from dmarctui.imap_settings import PASSWORD_ENV, ImapSettings, is_imap_url

if TYPE_CHECKING:
    from email.headerregistry import Address

Lang = Literal["ja", "en"]
SenderRole = Literal["third_party", "mailing_list", "forwarder"]
SendMethod = Literal["sendmail", "smtp"]
PlannedPolicy = Literal["quarantine", "reject"]
Network = IPv4Network | IPv6Network
DEMO_MARKER = ".dmarctui-demo"
"""The file that marks the demo's folder (see :mod:`dmarctui.demo`)."""


class ConfigError(Exception):
    """The configuration cannot be used at all: missing named file, unreadable, invalid TOML."""


@dataclass(frozen=True)
class ConfigProblem:
    """One bad value; the rest of the configuration still loads."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def _parse_network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=1 << 16)
def _parse_ip(text: str) -> IPv4Address | IPv6Address | None:
    """Cached: triage asks about the same few thousand sources again and again."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_cidr(match: str) -> bool:
    return _parse_network(match) is not None


def matches_source(match: str, ip: str, ptr: str | None) -> bool:
    """True when ``ip`` is inside the CIDR ``match``, or ``ptr`` fits the host-name glob ``match``.

    Globs compare case-insensitively and ignore a trailing dot on the PTR name.
    """
    network = _parse_network(match)
    if network is not None:
        address = _parse_ip(ip)
        return address is not None and address.version == network.version and address in network
    if not ptr:
        return False
    return fnmatch.fnmatchcase(ptr.rstrip(".").lower(), match.strip().lower())


def matches_by_name(match: str) -> bool:
    """Whether a sender or contact ``match`` is a PTR glob (so that PTR names matter to it)."""
    return not _is_cidr(match)


def _match_specificity(match: str) -> int:
    """Longer prefixes and longer globs win when several entries match one source."""
    network = _parse_network(match)
    if network is not None:
        return network.prefixlen
    return len(match.replace("*", ""))


@dataclass(frozen=True)
class Sender:
    """A known legitimate sender: a SaaS, a mailing-list server or an outside forwarder."""

    match: str
    """A CIDR (``198.51.100.0/24``, IPv4 or IPv6) or a PTR glob (``*.mailgun.net``)."""
    label: str
    role: SenderRole = "third_party"

    def matches(self, ip: str, ptr: str | None) -> bool:
        return matches_source(self.match, ip, ptr)


@dataclass(frozen=True)
class Contact:
    """Who to write to about a source."""

    match: str
    """A CIDR or a PTR glob (``*.lab1.example.ac.jp``)."""
    name: str
    email: str
    """One address or several, comma separated (TOML: a string or a list of strings)."""
    lang: Lang = "ja"
    cc: str = ""
    """Addresses to copy, comma separated (TOML key ``cc``: a string or a list)."""

    def matches(self, ip: str, ptr: str | None) -> bool:
        return matches_source(self.match, ip, ptr)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class NoticeSettings:
    from_addr: str | None = None
    """TOML key ``from``."""
    signature: str = ""
    drafts: str | None = None
    """Maildir or MH folder, or a directory for ``.eml`` files; ``~`` is expanded."""
    send: SendMethod = "sendmail"
    sendmail: str = "/usr/sbin/sendmail"
    """TOML key ``sendmail_command``."""
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    follow_up_days: int = 14
    planned_policy: PlannedPolicy | None = None
    """``[notice] planned_policy``: the DMARC policy we plan to move to; None claims no plan."""
    planned_date: date | None = None
    """``[notice] planned_date``: when the planned policy takes effect."""


@dataclass(frozen=True)
class DigestSettings:
    """``[digest]``: what ``dmarctui digest`` writes and to whom it mails it."""

    lang: Lang = "en"
    to: tuple[str, ...] = ()
    """Recipients of ``digest --mail``."""
    from_addr: str | None = None
    """TOML key ``from``; default: ``[notice] from``."""


def _domain_is_under(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def _clean_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


@dataclass(frozen=True)
class Config:
    own_domains: tuple[str, ...] = ()
    """``[domains] own``: header From domains that are ours (lower case)."""
    include_subdomains: bool = True
    internal: tuple[Network, ...] = ()
    """``[networks] internal``."""
    senders: tuple[Sender, ...] = ()
    contacts: tuple[Contact, ...] = ()
    notice: NoticeSettings = field(default_factory=NoticeSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    """``[imap]``: the account ``dmarctui imap:`` opens, and how to get its password."""
    path: Path | None = None
    """Where it was loaded from; None when no file was read."""
    templates_dir: Path | None = None
    """``<config dir>/templates`` when it exists."""
    demo: bool = False
    """The demo's configuration (set by the demo, or found beside the demo's marker file):
    letters can be drafted but never sent, whatever the file says."""
    digest: DigestSettings = field(default_factory=DigestSettings)
    decided_senders: tuple[Sender, ...] = ()
    """Senders from the user's decisions (:mod:`dmarctui.decisions`); the config's win."""
    decided_internal: tuple[Network, ...] = ()
    """Networks the user decided are our own servers; counted as internal."""
    _own: dict[str, bool] = field(default_factory=dict, init=False, compare=False, repr=False)
    """Answers of :meth:`is_own_domain`: triage asks about the same few domains very often
    (not an init field, so every ``replace`` starts an empty one)."""

    def is_own_domain(self, domain: str) -> bool:
        known = self._own.get(domain)
        if known is not None:
            return known
        name = _clean_domain(domain)
        answer = bool(name) and any(
            name == own or (self.include_subdomains and _domain_is_under(name, own))
            for own in self.own_domains
        )
        if len(self._own) < 1 << 16:
            self._own[domain] = answer
        return answer

    def own_domain_for(self, domain: str) -> str | None:
        """The configured own domain that ``domain`` belongs to (the most specific one)."""
        name = _clean_domain(domain)
        hits = [
            own
            for own in self.own_domains
            if name == own or (self.include_subdomains and _domain_is_under(name, own))
        ]
        return max(hits, key=len) if hits else None

    def is_internal(self, ip: str) -> bool:
        if not self.internal and not self.decided_internal:
            return False
        address = _parse_ip(ip)
        if address is None:
            return False
        networks = (*self.internal, *self.decided_internal)
        return any(address.version == n.version and address in n for n in networks)

    def internal_network(self, ip: str) -> Network | None:
        """The most specific internal network holding ``ip`` (configured ones first)."""
        if not self.internal and not self.decided_internal:
            return None
        address = _parse_ip(ip)
        if address is None:
            return None
        for networks in (self.internal, self.decided_internal):
            hits = [n for n in networks if address.version == n.version and address in n]
            if hits:
                return max(hits, key=lambda n: n.prefixlen)
        return None

    def sender_for(self, ip: str, ptr: str | None) -> Sender | None:
        """The most specific configured sender; a decided one only where the config is silent."""
        if not self.senders and not self.decided_senders:
            return None
        hits = [s for s in self.senders if s.matches(ip, ptr)]
        if not hits:
            hits = [s for s in self.decided_senders if s.matches(ip, ptr)]
        return max(hits, key=lambda s: _match_specificity(s.match)) if hits else None

    def contact_for(self, ip: str, ptr: str | None) -> Contact | None:
        if not self.contacts:
            return None
        hits = [c for c in self.contacts if c.matches(ip, ptr)]
        return max(hits, key=lambda c: _match_specificity(c.match)) if hits else None

    @property
    def senders_by_name(self) -> bool:
        """Whether a sender is matched by PTR name, so that PTR names can change a verdict."""
        return any(not _is_cidr(s.match) for s in self.senders)

    def with_default_domains(self, domains: Iterable[str]) -> Config:
        """Own domains default to the policy domains seen in the reports when none are set."""
        if self.own_domains:
            return self
        seen = sorted({_clean_domain(d) for d in domains if _clean_domain(d)})
        return replace(self, own_domains=tuple(seen))


def own_domains_mismatch(config: Config, policy_domains: Iterable[str]) -> str | None:
    """A plain warning when the configured own domains match none of the reports' policy domains.

    Left unedited or mistyped, ``[domains] own`` makes every record someone else's, and the
    commands would report an all-clear. None when nothing is configured or something matches
    (a policy domain under an own domain, or an own domain under a policy domain).
    """
    if not config.own_domains:
        return None
    seen = sorted({d for d in map(_clean_domain, policy_domains) if d})
    if not seen:
        return None
    for domain in seen:
        if config.is_own_domain(domain):
            return None
        if any(_domain_is_under(own, domain) for own in config.own_domains):
            return None
    listed = ", ".join(seen[:10]) + (f" and {len(seen) - 10} more" if len(seen) > 10 else "")
    where = f" in {config.path}" if config.path else ""
    return (
        f"the configured own domains ({', '.join(config.own_domains)}) match none of the"
        f" reports' policy domains ({listed}): nothing in these reports counts as ours, so"
        f" nothing can be flagged; fix [domains] own{where}"
    )


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/dmarctui/config.toml``, else ``~/.config/dmarctui/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "dmarctui" / "config.toml"


# --------------------------------------------------------------------------- loading


class _Reader:
    """Reads typed values out of the parsed TOML, recording a problem for each bad one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, key, message))

    def table(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.problem(where, f"must be a table, not {_describe(value)}")
        return {}

    def string(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None
    ) -> str | None:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, str):
            return value
        self.problem(where, f"must be a string, not {_describe(value)}")
        return default

    def boolean(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if isinstance(value, bool):
            return value
        self.problem(where, f"must be true or false, not {_describe(value)}")
        return default

    def integer(
        self, data: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.problem(where, f"must be a whole number from {lo} to {hi}, not {_describe(value)}")
        return default

    def choice(
        self, data: Mapping[str, Any], key: str, where: str, options: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        if isinstance(value, str) and value in options:
            return value
        self.problem(where, f"{_describe(value)} is not one of {', '.join(options)}")
        return default

    def string_list(
        self, data: Mapping[str, Any], key: str, where: str, check: Callable[[str], str | None]
    ) -> list[str]:
        """The strings ``check`` accepts (it returns a complaint or None), problems in order."""
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problem(where, f"must be a list of strings, not {_describe(value)}")
            return []
        items: list[str] = []
        for i, item in enumerate(value):
            complaint = (
                check(item) if isinstance(item, str) else f"must be a string, not {_describe(item)}"
            )
            if complaint is None:
                items.append(item)
            else:
                self.problem(f"{where}[{i}]", complaint)
        return items

    def unknown(self, data: Mapping[str, Any], known: Iterable[str], where: str) -> None:
        for key in data:
            if key not in known:
                self.problem(f"{where}.{key}" if where else key, "unknown setting (ignored)")


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return (
        0 < len(domain) <= 253
        and all(0 < len(lbl) <= 63 for lbl in labels)
        and all(ch.isalnum() or ch in "-_" for lbl in labels for ch in lbl)
    )


def _read_domains(r: _Reader, data: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    table = r.table(data, "domains", "domains")
    r.unknown(table, ("own", "include_subdomains"), "domains")

    def check(text: str) -> str | None:
        return None if _valid_domain(_clean_domain(text)) else f'"{text}" is not a domain name'

    own = list(
        dict.fromkeys(_clean_domain(t) for t in r.string_list(table, "own", "domains.own", check))
    )
    include = r.boolean(table, "include_subdomains", "domains.include_subdomains", True)
    return tuple(own), include


def _read_networks(r: _Reader, data: Mapping[str, Any]) -> tuple[Network, ...]:
    table = r.table(data, "networks", "networks")
    r.unknown(table, ("internal",), "networks")

    def check(text: str) -> str | None:
        if _parse_network(text) is None:
            return f'"{text}" is not an IPv4 or IPv6 network'
        return None

    texts = r.string_list(table, "internal", "networks.internal", check)
    return tuple(dict.fromkeys(n for t in texts if (n := _parse_network(t)) is not None))


def _valid_match(r: _Reader, where: str, text: str) -> bool:
    if _is_cidr(text):
        return True
    if "/" in text or not text.strip() or _looks_like_address(text):
        r.problem(where, f'"{text}" is neither an IPv4/IPv6 network nor a host-name pattern')
        return False
    return True


def _looks_like_address(text: str) -> bool:
    """A string of digits and dots (or hex and colons) meant as an address but not valid."""
    stripped = text.strip()
    return all(ch.isdigit() or ch == "." for ch in stripped) or (
        ":" in stripped and all(ch in "0123456789abcdefABCDEF:." for ch in stripped)
    )


def _array_of_tables(r: _Reader, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list):
        r.problem(key, f"must be an array of tables ([[{key}]]), not {_describe(value)}")
        return []
    tables: list[Mapping[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            tables.append(item)
        else:
            r.problem(f"{key}[{i}]", f"must be a table, not {_describe(item)}")
            tables.append({})
    return tables


def _read_senders(r: _Reader, data: Mapping[str, Any]) -> tuple[Sender, ...]:
    senders: list[Sender] = []
    roles: tuple[str, ...] = get_args(SenderRole)
    for i, item in enumerate(_array_of_tables(r, data, "senders")):
        where = f"senders[{i}]"
        if not item:
            continue
        r.unknown(item, ("match", "label", "role"), where)
        match = r.string(item, "match", f"{where}.match", None)
        if match is None:
            r.problem(f"{where}.match", "missing: a CIDR or a PTR glob is required")
            continue
        if not _valid_match(r, f"{where}.match", match):
            continue
        label = r.string(item, "label", f"{where}.label", None) or match
        role = r.choice(item, "role", f"{where}.role", roles, "third_party")
        senders.append(Sender(match.strip(), label, role))  # type: ignore[arg-type]
    return tuple(senders)


def _valid_email(text: str) -> bool:
    return _address_problem(text) is None


def _address_problem(value: object) -> str | None:
    """Why ``value`` (a string or a list of strings) is not an address list, or None."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return f"must be an address or a list of addresses, not {_describe(value)}"
    from dmarctui.letter_headers import LetterError

    try:
        found = _address_list(items)
    except LetterError as exc:
        return str(exc)
    return None if found else "no address given"


def _address_list(items: str | Iterable[str]) -> tuple[Address, ...]:
    """The addresses of a config value, checked as letters check them (imported here: a config
    without addresses, and every command that reads none, need no mail header parser)."""
    from dmarctui.letter_headers import address_list

    return address_list(items)


def _address_text(value: object) -> str:
    items = [value] if isinstance(value, str) else value
    return ", ".join(str(a) for a in _address_list(items))  # type: ignore[arg-type]


def _read_contacts(r: _Reader, data: Mapping[str, Any]) -> tuple[Contact, ...]:
    contacts: list[Contact] = []
    langs: tuple[str, ...] = get_args(Lang)
    for i, item in enumerate(_array_of_tables(r, data, "contacts")):
        where = f"contacts[{i}]"
        if not item:
            continue
        r.unknown(item, ("match", "name", "email", "cc", "lang"), where)
        match = r.string(item, "match", f"{where}.match", None)
        email = item.get("email")
        if match is None:
            r.problem(f"{where}.match", "missing: a CIDR or a PTR glob is required")
            continue
        if not _valid_match(r, f"{where}.match", match):
            continue
        if email is None:
            r.problem(f"{where}.email", "missing: the address to write to is required")
            continue
        complaint = _address_problem(email)
        if complaint is not None:
            r.problem(f"{where}.email", complaint)
            continue
        cc = ""
        if "cc" in item:
            complaint = _address_problem(item["cc"])
            if complaint is None:
                cc = _address_text(item["cc"])
            else:
                r.problem(f"{where}.cc", f"{complaint} (no copy is sent)")
        emails = _address_text(email)
        name = r.string(item, "name", f"{where}.name", None) or emails
        lang = r.choice(item, "lang", f"{where}.lang", langs, "ja")
        contacts.append(Contact(match.strip(), name, emails, lang, cc))  # type: ignore[arg-type]
    return tuple(contacts)


def _read_notice(r: _Reader, data: Mapping[str, Any]) -> NoticeSettings:
    table = r.table(data, "notice", "notice")
    r.unknown(
        table,
        (
            "from",
            "signature",
            "drafts",
            "send",
            "sendmail_command",
            "smtp",
            "follow_up_days",
            "planned_policy",
            "planned_date",
        ),
        "notice",
    )
    defaults = NoticeSettings()
    from_addr = r.string(table, "from", "notice.from", None)
    if from_addr is not None:
        complaint = _address_problem(from_addr)
        if complaint is None and len(_address_list(from_addr)) != 1:
            complaint = "must be one address"
        if complaint is not None:
            r.problem("notice.from", complaint)
            from_addr = None
        else:
            from_addr = str(_address_list(from_addr)[0])
    drafts = r.string(table, "drafts", "notice.drafts", None)
    if drafts is not None:
        drafts = str(Path(drafts).expanduser()) if drafts.strip() else None
    smtp_table = r.table(table, "smtp", "notice.smtp")
    r.unknown(smtp_table, ("host", "port", "starttls", "user", "password"), "notice.smtp")
    smtp = SmtpSettings(
        host=r.string(smtp_table, "host", "notice.smtp.host", "localhost") or "localhost",
        port=r.integer(smtp_table, "port", "notice.smtp.port", 25, 1, 65535),
        starttls=r.boolean(smtp_table, "starttls", "notice.smtp.starttls", False),
        user=r.string(smtp_table, "user", "notice.smtp.user", None),
        password=r.string(smtp_table, "password", "notice.smtp.password", None),
    )
    return NoticeSettings(
        from_addr=from_addr,
        signature=r.string(table, "signature", "notice.signature", "") or "",
        drafts=drafts,
        send=r.choice(table, "send", "notice.send", get_args(SendMethod), "sendmail"),  # type: ignore[arg-type]
        sendmail=r.string(table, "sendmail_command", "notice.sendmail_command", defaults.sendmail)
        or defaults.sendmail,
        smtp=smtp,
        follow_up_days=r.integer(table, "follow_up_days", "notice.follow_up_days", 14, 1, 3650),
        planned_policy=_planned_policy(r, table),  # type: ignore[arg-type]
        planned_date=_planned_date(r, table),
    )


def _read_imap(r: _Reader, data: Mapping[str, Any]) -> ImapSettings:
    """``[imap]``. A ``password`` key is refused: passwords never live in the config."""
    table = r.table(data, "imap", "imap")
    if "password" in table:
        r.problem(
            "imap.password",
            "passwords are never read from the config: use password_command or an environment"
            " variable (password_env)",
        )
        table = {k: v for k, v in table.items() if k != "password"}
    r.unknown(table, ("url", "password_command", "password_env", "ca_file", "insecure_tls"), "imap")
    url = r.string(table, "url", "imap.url", None)
    if url is not None and not is_imap_url(url):
        r.problem("imap.url", f'"{url}" is not an imap:// or imaps:// address')
        url = None
    ca_file = r.string(table, "ca_file", "imap.ca_file", None)
    return ImapSettings(
        url=url,
        password_command=r.string(table, "password_command", "imap.password_command", None),
        password_env=r.string(table, "password_env", "imap.password_env", PASSWORD_ENV)
        or PASSWORD_ENV,
        ca_file=str(Path(ca_file).expanduser()) if ca_file else None,
        insecure_tls=r.boolean(table, "insecure_tls", "imap.insecure_tls", False),
    )


def _planned_policy(r: _Reader, table: Mapping[str, Any]) -> str | None:
    if "planned_policy" not in table:
        return None
    options: tuple[str, ...] = get_args(PlannedPolicy)
    value = table["planned_policy"]
    if isinstance(value, str) and value.strip().lower().removeprefix("p=") in options:
        return value.strip().lower().removeprefix("p=")
    r.problem(
        "notice.planned_policy",
        f"{_describe(value)} is not one of {', '.join(options)} (letters claim no plan)",
    )
    return None


def _planned_date(r: _Reader, table: Mapping[str, Any]) -> date | None:
    if "planned_date" not in table:
        return None
    value = table["planned_date"]
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    r.problem("notice.planned_date", f"{_describe(value)} is not a date such as 2025-01-15")
    return None


def notice_problems(config: Config) -> list[ConfigProblem]:
    """Settings a letter needs that are missing (``config --check`` reports them)."""
    file = config.path.name if config.path is not None else "config.toml"
    problems = []
    if config.notice.from_addr is None:
        fallback = (
            f"letters are sent as postmaster@{config.own_domains[0]} with a warning"
            if config.own_domains
            else "letters are sent as postmaster@<the policy domain of the reports> with a warning"
        )
        problems.append(
            ConfigProblem(file, "notice.from", f"not set: {fallback}; set the From address")
        )
    if config.notice.planned_date is not None and config.notice.planned_policy is None:
        problems.append(
            ConfigProblem(
                file, "notice.planned_date", "set without notice.planned_policy (ignored)"
            )
        )
    return problems


def _read_digest(r: _Reader, data: Mapping[str, Any]) -> DigestSettings:
    table = r.table(data, "digest", "digest")
    r.unknown(table, ("lang", "to", "from"), "digest")

    def check(text: str) -> str | None:
        return None if _valid_email(text) else f'"{text}" is not an e-mail address'

    from_addr = r.string(table, "from", "digest.from", None)
    if from_addr is not None and not _valid_email(from_addr):
        r.problem("digest.from", f'"{from_addr}" is not an e-mail address')
        from_addr = None
    return DigestSettings(
        lang=r.choice(table, "lang", "digest.lang", get_args(Lang), "en"),  # type: ignore[arg-type]
        to=tuple(t.strip() for t in r.string_list(table, "to", "digest.to", check)),
        from_addr=from_addr.strip() if from_addr else None,
    )


def parse_config(
    data: Mapping[str, Any], file: str = "config.toml", path: Path | None = None
) -> tuple[Config, list[ConfigProblem]]:
    """Build a Config from parsed TOML; every bad value becomes a problem and its default."""
    r = _Reader(file)
    r.unknown(data, ("domains", "networks", "senders", "contacts", "notice", "imap", "digest"), "")
    own, include = _read_domains(r, data)
    templates = path.parent / "templates" if path is not None else None
    config = Config(
        own_domains=own,
        include_subdomains=include,
        internal=_read_networks(r, data),
        senders=_read_senders(r, data),
        contacts=_read_contacts(r, data),
        notice=_read_notice(r, data),
        imap=_read_imap(r, data),
        path=path,
        templates_dir=templates if templates is not None and templates.is_dir() else None,
        demo=path is not None and (path.parent / DEMO_MARKER).exists(),
        digest=_read_digest(r, data),
    )
    return config, r.problems


def load_config(
    path: Path | None = None, *, decisions: bool = True
) -> tuple[Config, list[ConfigProblem]]:
    """Load the configuration, with the user's active decisions merged after its senders.

    Args:
        path: a file named by the user (``--config``); None means the default location.
        decisions: merge the decisions recorded with ``dmarctui decide`` or the Sources pane
            (:mod:`dmarctui.decisions`); an unreadable decisions file is one more problem.

    Returns:
        The configuration and the problems found in it. A missing default file gives
        ``(Config(), [])`` (plus any decisions).

    Raises:
        ConfigError: the named file is missing, the file is unreadable, or it is not valid TOML.
    """
    config, problems = _load_file(path)
    if not decisions:
        return config, problems
    from dmarctui.decisions import with_stored_decisions  # decisions build on this module

    return with_stored_decisions(config, problems)


def _load_file(path: Path | None) -> tuple[Config, list[ConfigProblem]]:
    target = path if path is not None else default_config_path()
    if not target.exists():
        if path is None:
            return Config(), []
        raise ConfigError(f"{target}: config file not found")
    try:
        text = target.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{target}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: invalid TOML: {exc}") from exc
    return parse_config(data, target.name, target)


EXAMPLE_CONFIG = """\
# dmarctui configuration (TOML). Every setting is optional.
# Check it with:  dmarctui config --check
#
# The values below are examples, commented out so that they never apply by
# accident: an example domain that matches none of your reports would hide
# every finding. Remove the leading "# " of a setting once it holds your value.

[domains]
# Header From domains that are ours. Without this, the policy domains seen in
# the reports are treated as ours.
# own = ["example.ac.jp"]
# Count subdomains (lab1.example.ac.jp) as ours too.
include_subdomains = true

[networks]
# Our own networks (CIDR, IPv4 and IPv6). Mail from here that fails DKIM is an
# internal server sending with our From.
# internal = ["192.0.2.0/24", "2001:db8::/32"]

# Known legitimate senders outside our networks: a CIDR or a reverse-DNS (PTR)
# pattern such as "*.mailgun.net" (a PTR name counts only when it resolves back
# to the address). role: third_party | mailing_list | forwarder
# [[senders]]
# match = "198.51.100.0/24"
# label = "Newsletter service"
# role = "third_party"

# [[senders]]
# match = "*.lists.example.org"
# label = "Society mailing list"
# role = "mailing_list"

# Who to write to about a source: a CIDR or a PTR pattern. lang: ja | en
# [[contacts]]
# match = "192.0.2.0/26"
# name = "Lab 1 server admin"
# email may also be a list: ["admin@lab1.example.ac.jp", "Deputy <dep@lab1.example.ac.jp>"]
# email = "admin@lab1.example.ac.jp"
# cc = ["head@lab1.example.ac.jp"]
# lang = "ja"

[notice]
# from = "postmaster@example.ac.jp"
# signature = \"\"\"
# --
# Department mail administrator
# \"\"\"
# Drafts go here: a Maildir or MH folder, or a directory for .eml files.
# drafts = "~/Maildir/.Drafts"
# How to send once you confirm: sendmail | smtp
send = "sendmail"
sendmail_command = "/usr/sbin/sendmail"
# Suggest a follow-up to servers that have not improved after this many days.
follow_up_days = 14
# A planned policy change the letters announce. Without it, letters claim no plan.
# planned_policy = "quarantine"
# planned_date = 2025-01-15

[notice.smtp]
host = "localhost"
port = 25
starttls = false
# user = "postmaster"
# password = "..."

# A report folder on an IMAP server, opened read-only: `dmarctui imap:` opens this url.
# The password is never written here: a command prints it, or an environment variable holds it.
# [imap]
# url = "imaps://dmarc@mail.example.ac.jp/INBOX"
# password_command = "pass show mail/dmarc"
# password_env = "DMARCTUI_IMAP_PASSWORD"

# `dmarctui digest PATH --mail` (for cron) sends what is new to these addresses
# through [notice] send. lang: ja | en
# [digest]
# lang = "en"
# to = ["postmaster@example.ac.jp"]
"""
