"""Cut the ``<record>`` elements out of a plainly written aggregate report, one regex match each.

Building an element tree for every record, then reading it back, was the largest cost of a cold
scan. Most reports are written by programs in one plain shape: each record is ``row`` (with
``source_ip``, ``count`` and ``policy_evaluated``), ``identifiers`` and ``auth_results``, every
value printable ASCII with no entity, comment or attribute. For those records one match of
``RECORD`` finds every part, and the parts that repeat from record to record (the evaluated
policy, the identifiers, the auth results) are read once per distinct spelling.

The document is accepted only when the records form one run of such elements and nothing else
is called ``record``; the rest of it (the *skeleton*, with ``MARK`` where the records were) is
parsed as usual. Seeing ``MARK`` as a direct child of ``<feedback>`` in the skeleton proves the
run sat at element level in ``<feedback>``, not inside a comment, instruction or attribute, so
the skeleton plus the run is exactly the original document and nothing is read differently.
Any other shape returns ``None`` and the whole document takes the element-tree path.
"""

from __future__ import annotations

import re

MARK = "dmarctui.records"
"""The element standing for the cut-out records; a name no report uses (refused if one does)."""
_MARK_BYTES = MARK.encode("ascii")
_MARK_ELEMENT = b"<" + _MARK_BYTES + b"/>"

_W = rb"[ \t\r\n]*+"
"""Whitespace between elements (XML's four characters, not ``\\s``)."""
_T = rb"[^\x00-\x08\x0b-\x1f<>&\x7f-\xff]*+"
"""A value: printable ASCII, tab and LF. No markup, entity, CR (XML rewrites it) or
non-ASCII byte (the declared encoding would matter), so the bytes are the parsed text."""


def _leaf(name: str) -> bytes:
    """One ``<tag>value</tag>`` or ``<tag/>``; ``name`` is the group that pairs the tags."""
    group = name.encode()
    return rb"(?:<(?P<%s>[a-z_]{1,40}+)>%s</(?P=%s)>|<[a-z_]{1,40}+/>)%s" % (group, _T, group, _W)


RECORD = re.compile(
    rb"<record>%(W)s<row>%(W)s"
    rb"<source_ip>(?P<ip>%(T)s)</source_ip>%(W)s<count>(?P<count>%(T)s)</count>%(W)s"
    rb"<policy_evaluated>(?P<evaluated>%(W)s(?:%(pe)s"
    rb"|<reason>%(W)s(?:%(reason)s)*+</reason>%(W)s)*+)</policy_evaluated>%(W)s</row>%(W)s"
    rb"<identifiers>(?P<identifiers>%(W)s(?:%(ids)s)*+)</identifiers>%(W)s"
    rb"(?:<auth_results>(?P<auth>%(W)s(?:<(?P<au>dkim|spf)>%(W)s(?:%(auth)s)*+</(?P=au)>%(W)s)*+)"
    rb"</auth_results>%(W)s)?"
    rb"</record>%(W)s"
    % {
        b"W": _W,
        b"T": _T,
        b"pe": _leaf("pe"),
        b"reason": _leaf("rs"),
        b"ids": _leaf("id"),
        b"auth": _leaf("af"),
    }
)
"""One plainly written record, and the whitespace after it. The quantifiers are possessive
(``*+``): what follows each run can never be part of it, so giving back is never needed, and
not trying it makes the match a third faster."""


def split_records(data: bytes) -> tuple[bytes, list[re.Match[bytes]]] | None:
    """The skeleton (``MARK`` in place of the records) and one match per record, in order;
    ``None`` when the records are not one plain run (the element tree reads those)."""
    start = data.find(b"<record")
    if start < 0 or data.startswith(b"<record>", start) is False:
        return None
    matches = []
    match = RECORD.match
    pos = start
    while (found := match(data, pos)) is not None:
        matches.append(found)
        pos = found.end()
    if not matches or data.find(b"<record", pos) >= 0:
        return None
    if data.find(_MARK_BYTES, 0, start) >= 0 or data.find(_MARK_BYTES, pos) >= 0:
        return None  # the skeleton could not prove where the records were
    return data[:start] + _MARK_ELEMENT + data[pos:], matches
