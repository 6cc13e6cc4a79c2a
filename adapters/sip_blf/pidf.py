"""PIDF (RFC 3863) with RPID (RFC 4480) and the data model (RFC 4479, ``dm:``) -> presence. Pure.

``parse_pidf(body)`` reads one ``application/pidf+xml`` document into a ``PidfReading``: the
presence words it carries (``PresenceWord``) and their canonical meaning (``line``, ``dnd``,
``away`` as ``bridge.model`` states). Words come from three places, one table each:

* ``<basic>`` of the tuples: ``open`` -> available, ``closed`` -> closed (any open tuple wins);
* RPID activities anywhere in the document (``<rpid:activities>`` under ``<dm:person>`` or a
  tuple): ``RPID_ACTIVITY_TO_WORD``;
* notes (``<note>``, ``<dm:note>``), because PBXs say DND only in words: Kamailio relays
  ``<rpid:busy/>`` + "Do Not Disturb", Asterisk writes ``busy`` for a phone in use:
  ``NOTE_TO_WORD`` (case-insensitive substrings, first match wins).

``PRESENCE_WORD_TO_FACTS`` gives each word's canonical facts; a document's reading merges them:
the busiest line, DND on if any word says so, away likewise. DND explains a ``busy`` beside it
(a phone set to DND is not in a call), so ``busy`` adds no line then.

Line facts from PIDF are for PBXs watched through ``presence`` alone; where a ``dialog``
subscription covers the same extension, the adapter takes the line from dialog-info and only
``dnd``/``away`` from here. An empty body is "nothing published" (Kamailio with
``force_dummy_presence=0``): ``parse_pidf`` returns None and the subscription layer decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adapters.sip_blf.xmlbody import DEFAULT_MAX_BODY, SipBodyError, descendants, local, parse_xml, text
from bridge.model import LINE_RANK, LineState, Toggle

MAX_NOTE_CHARS = 200  # notes beyond this are not scanned (free text from the PBX or a user)


class PresenceWord(StrEnum):
    AVAILABLE = "available"
    ON_THE_PHONE = "on-the-phone"
    BUSY = "busy"
    AWAY = "away"
    DND = "dnd"
    CLOSED = "closed"


# RFC 4480 3.2 activities (lower-cased local names) -> word. Activities that say nothing about
# reachability (e.g. "unknown", "other", "holiday" is kept as away) are absent and ignored.
RPID_ACTIVITY_TO_WORD: dict[str, PresenceWord] = {
    "on-the-phone": PresenceWord.ON_THE_PHONE,
    "busy": PresenceWord.BUSY,
    "meeting": PresenceWord.BUSY,
    "appointment": PresenceWord.BUSY,
    "presentation": PresenceWord.BUSY,
    "performance": PresenceWord.BUSY,
    "away": PresenceWord.AWAY,
    "vacation": PresenceWord.AWAY,
    "holiday": PresenceWord.AWAY,
    "meal": PresenceWord.AWAY,
    "breakfast": PresenceWord.AWAY,
    "lunch": PresenceWord.AWAY,
    "dinner": PresenceWord.AWAY,
    "sleeping": PresenceWord.AWAY,
    "permanent-absence": PresenceWord.AWAY,
    "travel": PresenceWord.AWAY,
    "steering": PresenceWord.AWAY,
    "do-not-disturb": PresenceWord.DND,  # not RFC 4480, but written by several phones
    "dnd": PresenceWord.DND,
}

# Free-text notes -> word (lower-cased substrings, first match wins).
NOTE_TO_WORD: tuple[tuple[str, PresenceWord], ...] = (
    ("do not disturb", PresenceWord.DND),
    ("do-not-disturb", PresenceWord.DND),
    ("dnd", PresenceWord.DND),
    ("on the phone", PresenceWord.ON_THE_PHONE),
    ("on-the-phone", PresenceWord.ON_THE_PHONE),
    ("in a call", PresenceWord.ON_THE_PHONE),
    ("away", PresenceWord.AWAY),
    ("out of office", PresenceWord.AWAY),
    ("be right back", PresenceWord.AWAY),
)


@dataclass(frozen=True, slots=True)
class PresenceFacts:
    """What one word means for the core (None: the word says nothing about that field)."""

    line: LineState | None
    dnd: Toggle | None
    away: Toggle | None


PRESENCE_WORD_TO_FACTS: dict[PresenceWord, PresenceFacts] = {
    PresenceWord.AVAILABLE: PresenceFacts(LineState.IDLE, Toggle.OFF, Toggle.OFF),
    PresenceWord.ON_THE_PHONE: PresenceFacts(LineState.IN_CALL, None, None),
    PresenceWord.BUSY: PresenceFacts(LineState.BUSY, None, None),
    PresenceWord.AWAY: PresenceFacts(None, None, Toggle.ON),
    PresenceWord.DND: PresenceFacts(None, Toggle.ON, None),
    PresenceWord.CLOSED: PresenceFacts(LineState.UNAVAILABLE, Toggle.OFF, Toggle.OFF),
}
assert set(PRESENCE_WORD_TO_FACTS) == set(PresenceWord), "every word has a meaning"


@dataclass(frozen=True, slots=True)
class PidfReading:
    entity: str
    words: frozenset[PresenceWord]
    line: LineState | None
    dnd: Toggle | None
    away: Toggle | None


def parse_pidf(body: bytes, *, max_body: int = DEFAULT_MAX_BODY) -> PidfReading | None:
    """One PIDF document, None for an empty body; SipBodyError names what is wrong."""
    if not body.strip():
        return None
    root = parse_xml(body, max_body=max_body)
    if local(root.tag) != "presence":
        raise SipBodyError(f"root element is <{local(root.tag)[:40]}>, not <presence>")
    words: set[PresenceWord] = set()
    basics = [text(b).lower() for b in descendants(root, "basic")]
    if "open" in basics:
        words.add(PresenceWord.AVAILABLE)
    elif "closed" in basics:
        words.add(PresenceWord.CLOSED)
    for activities in descendants(root, "activities"):
        for activity in activities:
            word = RPID_ACTIVITY_TO_WORD.get(local(activity.tag))
            if word is not None:
                words.add(word)
    for note in descendants(root, "note"):
        words.update(_note_word(text(note)))
    return _reading(root.get("entity") or "", frozenset(words))


def _note_word(note: str) -> list[PresenceWord]:
    lowered = note[:MAX_NOTE_CHARS].lower()
    for needle, word in NOTE_TO_WORD:
        if needle in lowered:
            return [word]
    return []


def _busier(a: LineState | None, b: LineState | None) -> LineState | None:
    if a is None or (b is not None and LINE_RANK[b] > LINE_RANK[a]):
        return b
    return a


def _on_wins(a: Toggle | None, b: Toggle | None) -> Toggle | None:
    return Toggle.ON if Toggle.ON in (a, b) else a or b


def _reading(entity: str, words: frozenset[PresenceWord]) -> PidfReading:
    """Merge the words' facts; an activity refines basic open/closed, which only fills the
    fields the activities left open (open + away: away on, line idle, DND off)."""
    basic = words & {PresenceWord.AVAILABLE, PresenceWord.CLOSED}
    activities = set(words - basic)
    if PresenceWord.DND in activities:
        activities.discard(PresenceWord.BUSY)
    line: LineState | None = None
    dnd: Toggle | None = None
    away: Toggle | None = None
    for word in activities:
        facts = PRESENCE_WORD_TO_FACTS[word]
        line, dnd, away = _busier(line, facts.line), _on_wins(dnd, facts.dnd), _on_wins(away, facts.away)
    for word in basic:
        facts = PRESENCE_WORD_TO_FACTS[word]
        if not activities or word is PresenceWord.AVAILABLE:
            line = line or facts.line
        dnd, away = dnd or facts.dnd, away or facts.away
    return PidfReading(entity, words, line, dnd, away)
