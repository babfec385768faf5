"""The only place where values become headers of a letter, and the check of a finished letter.

Source IPs and PTR names come from report mail, so from strangers; addresses and names come
from the config or the user. A header value is built only from values validated here: an IP
that parses as an address, a PTR that is a host name, an address list whose every item is a
plain ``local@domain`` with an optional name, text without control characters. Before a
letter is saved or sent, :func:`check_letter` proves it: it serialises the message and parses
it back with ``email.policy.default`` and a strict parser, and refuses any header beyond the
ones we set, any header set twice, any bare CR/LF, a value that starts with a space, or a value
that does not read back as written (an encoded word that decodes to a line break, CVE-2024-6923).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError, MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy

LETTER_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Language",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
"""Every header a letter may carry; anything else means something got in."""


class _LetterPolicy(EmailPolicy):
    """``email.policy.default``, except that a header's value starts on the header's line.

    The stdlib folder moves a whole value to a continuation line when it fits there but not
    after the name (a 70-character Subject), and parsers then read it with a leading space.
    """

    def _fold(self, name, value, *args, **kwargs):  # type: ignore[no-untyped-def]
        folded = super()._fold(name, value, *args, **kwargs)  # type: ignore[misc]
        head = f"{name}:{self.linesep} "
        if isinstance(folded, str) and folded.startswith(head):
            return f"{name}: " + folded[len(head) :].lstrip(" ")
        return folded


LETTER_POLICY = _LetterPolicy()
"""The policy every letter is built and written with."""
_STRICT = policy.default.clone(raise_on_defect=True)
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?|[A-Za-z0-9_]")
_MSGID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+>")


class LetterError(ValueError):
    """A value cannot go into a header, or a finished letter failed its check (one line)."""


def _controls(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control, DEL, or a bidi/format control."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def plain_text(value: str, what: str) -> str:
    """``value`` for use inside a header: refused when it holds any control character."""
    if _controls(value):
        raise LetterError(f"{what} holds a control character: {value!r}")
    return value


def source_ip(value: str) -> str:
    """The canonical form of an IP address from a report; anything else is refused."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError as exc:
        raise LetterError(f"{value!r} is not an IP address, so it cannot go into a letter") from exc


def host_name(value: str | None) -> str | None:
    """A PTR name if it is a plain host name, else None (the sender controls its PTR)."""
    if not value:
        return None
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if not (0 < len(name) <= 253 and len(labels) >= 2):
        return None
    return name if all(_LABEL.fullmatch(label) for label in labels) else None


def valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return (
        0 < len(domain) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def address(text: str) -> Address:
    """One ``addr@domain`` or ``Name <addr@domain>``.

    Raises:
        LetterError: naming the item, with what is wrong with it.
    """
    item = text.strip()
    name = ""
    addr = item
    if item.endswith(">") and "<" in item:
        cut = item.rindex("<")
        name, addr = item[:cut].strip(), item[cut + 1 : -1].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not addr:
        raise LetterError(f"{item!r}: no address")
    if _controls(name) or any(ch in name for ch in "<>"):
        raise LetterError(f"{item!r}: the name holds characters a header cannot carry")
    local, at, domain = addr.rpartition("@")
    if not at or not local:
        raise LetterError(f"{item!r} is not an e-mail address (local@domain)")
    if not addr.isascii():
        raise LetterError(f"{item!r}: only ASCII addresses are supported")
    if not _LOCAL.fullmatch(local) or not valid_domain(domain.lower()):
        raise LetterError(f"{item!r} is not an e-mail address (local@domain)")
    return Address(display_name=name, username=local, domain=domain.lower())


def split_list(text: str) -> list[str]:
    """Items of a comma-separated address list; commas inside quotes or <> do not split."""
    items, current, quoted, angle = [], "", False, False
    for ch in text:
        if ch == '"' and not angle:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        if ch in ",;" and not quoted and not angle:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [i.strip() for i in items if i.strip()]


def address_list(text: str | Iterable[str]) -> tuple[Address, ...]:
    """Every address of ``Name <a@x>, b@y`` (or of a list of such strings), each validated.

    Raises:
        LetterError: the first item that is not an address, named.
    """
    pieces = [text] if isinstance(text, str) else list(text)
    found: dict[str, Address] = {}
    for piece in pieces:
        for item in split_list(piece):
            parsed = address(item)
            found.setdefault(parsed.addr_spec.lower(), parsed)
    return tuple(found.values())


@dataclass(frozen=True)
class CheckedLetter:
    """What :func:`check_letter` proved: the envelope sender and recipients to hand over."""

    sender: str
    recipients: tuple[str, ...]


def _unfolded(value: str) -> str:
    return re.sub(r"\r?\n[ \t]", " ", value)


def check_letter(msg: EmailMessage) -> CheckedLetter:
    """Prove that ``msg`` is a letter we built: known headers only, each once, clean values.

    Returns:
        The From address and every To/Cc address, for an explicit envelope.

    Raises:
        LetterError: what is wrong, in one line.
    """
    allowed = {h.lower() for h in LETTER_HEADERS}
    names = [name.lower() for name in msg]
    for name in names:
        if name not in allowed:
            raise LetterError(f"the letter has a header it should not have: {name!r}")
        if names.count(name) > 1:
            raise LetterError(f"the letter has the {name!r} header more than once")
    for name, value in msg.items():
        text = str(value)
        if "\r" in text or "\n" in text or _controls(text):
            raise LetterError(f"the {name} header holds a line break or a control character")
    try:
        data = msg.as_bytes(policy=LETTER_POLICY)
    except (MessageError, ValueError, UnicodeError) as exc:
        raise LetterError(f"the letter cannot be written out: {exc}") from exc
    head = data.split(b"\n\n", 1)[0]
    if b"\r" in head:
        raise LetterError("the letter's header holds a bare CR")
    try:
        for parse_policy in (policy.default, _STRICT):
            back = BytesParser(policy=parse_policy).parsebytes(data)
            _same_headers(msg, back)
    except (MessageError, HeaderParseError, ValueError) as exc:
        raise LetterError(f"the letter's headers do not parse cleanly: {exc}") from exc
    sender = _addresses(msg, "From")
    rcpt = _addresses(msg, "To") + _addresses(msg, "Cc")
    if len(sender) != 1:
        raise LetterError("the letter needs exactly one From address")
    if not rcpt:
        raise LetterError("the letter has no recipient")
    return CheckedLetter(sender[0], tuple(dict.fromkeys(rcpt)))


def _same_headers(msg: EmailMessage, back: EmailMessage) -> None:
    if [k.lower() for k in back] != [k.lower() for k in msg]:
        extra = sorted({k.lower() for k in back} - {k.lower() for k in msg})
        raise LetterError(
            "the letter's headers change when parsed back"
            + (f" (new: {', '.join(extra)})" if extra else "")
        )
    for name, value in msg.items():
        got = back.get(name)
        if got is None:
            raise LetterError(f"the {name} header is lost when parsed back")
        if got.defects:
            raise LetterError(f"the {name} header has defects: {got.defects[0]}")
        read = _unfolded(str(got))
        if read != read.strip() or "\r" in read or "\n" in read:
            raise LetterError(f"the {name} header reads back with stray spaces or line breaks")
        if _reading(got) != _reading(value):
            raise LetterError(f"the {name} header does not read back as written")
    if back.defects:
        raise LetterError(f"the letter has defects: {back.defects[0]}")


def _reading(value: object) -> object:
    """What a header says: its text, or for an address header each (name, address).

    Names are compared without spaces: the stdlib reads adjacent encoded words of a long
    Japanese name back with a space between them.
    """
    addresses = getattr(value, "addresses", None)
    if addresses is not None:
        return [(re.sub(r"\s+", "", a.display_name), a.addr_spec) for a in addresses]
    return _unfolded(str(value))


def _addresses(msg: EmailMessage, name: str) -> list[str]:
    header = msg.get(name)
    if header is None:
        return []
    found = []
    for addr in getattr(header, "addresses", ()):
        checked = address(addr.addr_spec)
        found.append(checked.addr_spec)
    return found


def message_id(value: str) -> str:
    """A Message-ID we generated or stored: ``<local@domain>`` and nothing else."""
    if not _MSGID.fullmatch(value.strip()):
        raise LetterError(f"{value!r} is not a Message-ID")
    return value.strip()
