"""Cut the ``<record>`` elements out of a plainly written aggregate report with regexes.

Building an element tree for every record, then reading it back, was the largest cost of a cold
scan. Most reports are written by programs in one plain shape: each record is ``row`` (with
``source_ip``, ``count`` and ``policy_evaluated``), ``identifiers`` and ``auth_results``, every
value printable ASCII with no entity, comment or attribute. For those records ``HEAD`` finds the
address and count and ``TAIL`` the rest, which records repeat word for word: a rest is matched
and read once per distinct spelling.

The document is accepted only when the records form one run of such elements and no other
``<record`` is written; the rest of it (the *skeleton*, with ``MARK`` where the records were) is
parsed as usual. Seeing ``MARK`` as a direct child of ``<feedback>`` in the skeleton proves the
run sat at element level in ``<feedback>``, not inside a comment, instruction or attribute, so
the skeleton plus the run is exactly the original document; the reader also checks that no
record spelt another way (``<d:record>`` in the report's namespace) is left in the skeleton.
Any other shape returns ``None`` and the whole document takes the element-tree path.
"""

from __future__ import annotations

import re
from collections.abc import Container

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


HEAD = re.compile(
    rb"<record>%(W)s<row>%(W)s"
    rb"<source_ip>(%(T)s)</source_ip>%(W)s<count>(%(T)s)</count>%(W)s" % {b"W": _W, b"T": _T}
)
"""The start of a plainly written record, up to its count."""
TAIL = re.compile(
    rb"<policy_evaluated>(?P<evaluated>%(W)s(?:%(pe)s"
    rb"|<reason>%(W)s(?:%(reason)s)*+</reason>%(W)s)*+)</policy_evaluated>%(W)s</row>%(W)s"
    rb"<identifiers>(?P<identifiers>%(W)s(?:%(ids)s)*+)</identifiers>%(W)s"
    rb"(?:<auth_results>(?P<auth>%(W)s(?:<(?P<au>dkim|spf)>%(W)s(?:%(auth)s)*+</(?P=au)>%(W)s)*+)"
    rb"</auth_results>%(W)s)?"
    % {
        b"W": _W,
        b"T": _T,
        b"pe": _leaf("pe"),
        b"reason": _leaf("rs"),
        b"ids": _leaf("id"),
        b"auth": _leaf("af"),
    }
)
"""The rest of a plainly written record after its count, up to ``</record>``. It cannot contain
``</record>``, so a record ends at the first one after its head. The quantifiers are possessive
(``*+``): what follows each run can never be part of it, so giving back is never needed, and not
trying it makes the match a third faster."""
_SPACE = re.compile(_W)
_END = b"</record>"

PlainRecord = tuple[bytes, bytes, bytes, "re.Match[bytes] | None"]
"""Source IP and count as written, the rest of the record, and ``TAIL``'s match of the rest
when it was not among the ``known`` ones (a known rest was matched before)."""


def split_records(
    data: bytes, known: Container[bytes] = ()
) -> tuple[bytes, list[PlainRecord]] | None:
    """The skeleton (``MARK`` in place of the records) and each record's parts, in order;
    ``None`` when the records are not one plain run (the element tree reads those).

    Records of one reporter repeat their rest word for word, so a rest in ``known`` (rests that
    ``TAIL`` matched before) is not matched again: finding ``</record>`` is enough.
    """
    start = data.find(b"<record")
    if start < 0 or data.startswith(b"<record>", start) is False:
        return None
    records: list[PlainRecord] = []
    head, tail, end_of, space = HEAD.match, TAIL.fullmatch, data.find, _SPACE.match
    pos = start
    while (found := head(data, pos)) is not None:
        rest_at = found.end()
        end = end_of(_END, rest_at)
        if end < 0:
            break
        rest = data[rest_at:end]
        matched = None
        if rest not in known:
            matched = tail(rest)
            if matched is None:
                break
        records.append((found[1], found[2], rest, matched))
        pos = space(data, end + len(_END)).end()  # type: ignore[union-attr]
    if not records or data.find(b"<record", pos) >= 0:
        return None
    if data.find(_MARK_BYTES, 0, start) >= 0 or data.find(_MARK_BYTES, pos) >= 0:
        return None  # the skeleton could not prove where the records were
    return data[:start] + _MARK_ELEMENT + data[pos:], records
