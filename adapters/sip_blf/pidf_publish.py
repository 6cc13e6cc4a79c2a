"""PIDF bodies for write-back PUBLISH (RFC 3903): a person's routable Teams state as presence. Pure.

Phones and BLF keys watching the person's ``presence`` then show "In a Teams meeting", DND...
``ROUTABLE_TO_PIDF`` is the one table (DESIGN 6 routable states -> RFC 4480 activity + note);
``RoutableState.NONE`` has no body: the publication is removed (PUBLISH ``Expires: 0`` with
``SIP-If-Match``), which Kamailio turns into a ``closed`` tuple for watchers (reference
sip-presence.md (b)). The shapes are the ones the Kamailio lab relayed verbatim to a watcher:
``<rpid:busy/>`` with a "Do Not Disturb" note is how phones show DND.

Everything variable (entity URI, note) is escaped; characters XML 1.0 cannot carry at all are
refused in the entity and dropped from a note, so a hostile display string cannot change the
document's structure. Ids are derived from the entity, so a refresh republishes the same tuple.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from bridge.model import RoutableState

PIDF_CONTENT_TYPE = "application/pidf+xml"
MAX_NOTE_CHARS = 120
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class PidfShape:
    basic: str  # open / closed
    activity: str  # RFC 4480 activity element name
    note: str


ROUTABLE_TO_PIDF: dict[RoutableState, PidfShape | None] = {
    RoutableState.CALL: PidfShape("open", "on-the-phone", "In a Teams call"),
    RoutableState.PRESENTING: PidfShape("open", "presentation", "Presenting in Teams"),
    RoutableState.DND: PidfShape("open", "busy", "Do Not Disturb (Teams)"),
    RoutableState.OOF: PidfShape("open", "vacation", "Out of office"),
    RoutableState.MEETING: PidfShape("open", "meeting", "In a Teams meeting"),
    RoutableState.NONE: None,
}
assert set(ROUTABLE_TO_PIDF) == set(RoutableState), "every routable state has a row"


def _id(prefix: str, entity: str) -> str:
    return prefix + hashlib.sha256(entity.encode()).hexdigest()[:12]


def build_pidf(entity: str, state: RoutableState, *, note: str | None = None) -> bytes | None:
    """The PIDF body publishing ``state`` for ``entity`` (a sip:/sips:/pres: URI), or None for
    ``RoutableState.NONE`` (remove the publication instead). ``note`` replaces the table's."""
    if not entity or _XML_FORBIDDEN.search(entity) or any(c.isspace() for c in entity):
        raise ValueError("the entity must be a URI without spaces or control characters")
    if not entity.lower().startswith(("sip:", "sips:", "pres:")):
        raise ValueError("the entity must be a sip:, sips: or pres: URI")
    shape = ROUTABLE_TO_PIDF[state]
    if shape is None:
        return None
    text = _XML_FORBIDDEN.sub("", note if note is not None else shape.note)[:MAX_NOTE_CHARS]
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf"'
        ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'
        f" entity={quoteattr(entity)}>\n"
        f"  <tuple id={quoteattr(_id('t', entity))}>\n"
        f"    <status><basic>{shape.basic}</basic></status>\n"
        f"    <contact>{escape(entity)}</contact>\n"
        f"    <note>{escape(text)}</note>\n"
        "  </tuple>\n"
        f"  <dm:person id={quoteattr(_id('p', entity))}>\n"
        f"    <rpid:activities><rpid:{shape.activity}/></rpid:activities>\n"
        f"    <dm:note>{escape(text)}</dm:note>\n"
        "  </dm:person>\n"
        "</presence>\n"
    )
    return document.encode("utf-8")
