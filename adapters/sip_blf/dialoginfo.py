"""RFC 4235 dialog-info bodies -> one extension's line state. Pure.

``parse_dialog_info(body)`` reads one ``application/dialog-info+xml`` document into a
``DialogInfo`` (entity, version, full or partial, each ``<dialog>``); ``apply_dialog_info(view,
info)`` folds it into the frozen ``DialogView`` of one subscription and returns the new view, the
extension's ``LineState`` and whether the subscriber must ask for full state.

Meaning, one table each (reference sip-presence.md, RFC 4235 3.7.1 and 4.1):

* ``DIALOG_TO_LINE``: (dialog state, direction) -> line. trying/proceeding/early are ringing
  for the recipient and dialing for the initiator; an early dialog without a direction counts as
  ringing (the conservative reading: ringing publishes nothing by default, DESIGN 5); confirmed
  is in a call; terminated ends that dialog.
* ``HELD_LINE``: a confirmed dialog whose *local* target carries ``+sip.rendering="no"`` (as a
  ``<param pname= pvalue=>`` or as a URI parameter; Asterisk PJSIP and FreeSWITCH write the
  former) is on hold. A remote party not rendering says the far end held us: still in a call.
* The extension's line is the busiest live dialog (``bridge.model.LINE_RANK``, DESIGN 13);
  idle when none lives. Each ``<dialog>`` is judged on its own: Kamailio keeps terminated
  dialogs next to new ones until their publication expires (reference trap 5).

Version rules (RFC 4235 4.1.2): the first document of a subscription must be full; a
repeated version is a duplicate and changes nothing; an older version, or a partial document
that skips a version, means we lost track: ``need_full_state`` is set and the view is kept as it
was (the caller re-subscribes, which restarts versions: start again from ``DialogView()``). A full
document may skip versions: it replaces everything anyway.

Tolerated: the ``Trying`` capitalisation of Kamailio 5.6, any namespace prefix or none, dialog
ids that are not the Call-ID. Capped: ``max_dialogs`` per document and per view. An empty
body is not a document (``parse_dialog_info`` returns None); what it means depends on the
subscription state (Kamailio with ``force_dummy_dialog=0`` sends it for "no calls"), so the
subscription layer decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from xml.etree.ElementTree import Element

from adapters.sip_blf.message import parse_params
from adapters.sip_blf.xmlbody import (
    DEFAULT_MAX_BODY,
    SipBodyError,
    attr,
    child,
    children,
    text,
    versioned_document,
)
from bridge.model import LINE_RANK, LineState

DEFAULT_MAX_DIALOGS = 64


class DialogPhase(StrEnum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Direction(StrEnum):
    INITIATOR = "initiator"
    RECIPIENT = "recipient"
    UNSTATED = "unstated"


DIALOG_TO_LINE: dict[tuple[DialogPhase, Direction], LineState | None] = {
    (DialogPhase.TRYING, Direction.INITIATOR): LineState.DIALING,
    (DialogPhase.PROCEEDING, Direction.INITIATOR): LineState.DIALING,
    (DialogPhase.EARLY, Direction.INITIATOR): LineState.DIALING,
    (DialogPhase.TRYING, Direction.RECIPIENT): LineState.RINGING,
    (DialogPhase.PROCEEDING, Direction.RECIPIENT): LineState.RINGING,
    (DialogPhase.EARLY, Direction.RECIPIENT): LineState.RINGING,
    (DialogPhase.TRYING, Direction.UNSTATED): LineState.RINGING,
    (DialogPhase.PROCEEDING, Direction.UNSTATED): LineState.RINGING,
    (DialogPhase.EARLY, Direction.UNSTATED): LineState.RINGING,
    (DialogPhase.CONFIRMED, Direction.INITIATOR): LineState.IN_CALL,
    (DialogPhase.CONFIRMED, Direction.RECIPIENT): LineState.IN_CALL,
    (DialogPhase.CONFIRMED, Direction.UNSTATED): LineState.IN_CALL,
    (DialogPhase.TERMINATED, Direction.INITIATOR): None,
    (DialogPhase.TERMINATED, Direction.RECIPIENT): None,
    (DialogPhase.TERMINATED, Direction.UNSTATED): None,
}
assert set(DIALOG_TO_LINE) == {(p, d) for p in DialogPhase for d in Direction}, "one row per pair"

# What a held dialog's line becomes (only a call can be held).
HELD_LINE: dict[LineState, LineState] = {LineState.IN_CALL: LineState.ON_HOLD}

_NOT_RENDERING = frozenset({"no", "false", "0"})


@dataclass(frozen=True, slots=True)
class DialogEntry:
    """One ``<dialog>``: no identities kept (caller numbers stay out of state and logs)."""

    id: str
    phase: DialogPhase
    direction: Direction
    call_id: str | None = None
    held: bool = False

    @property
    def line(self) -> LineState | None:
        """The line this dialog alone implies (None when it is over)."""
        line = DIALOG_TO_LINE[(self.phase, self.direction)]
        if line is not None and self.held:
            return HELD_LINE.get(line, line)
        return line


@dataclass(frozen=True, slots=True)
class DialogInfo:
    entity: str
    version: int
    full: bool
    dialogs: tuple[DialogEntry, ...]


def parse_dialog_info(
    body: bytes, *, max_dialogs: int = DEFAULT_MAX_DIALOGS, max_body: int = DEFAULT_MAX_BODY
) -> DialogInfo | None:
    """One dialog-info document, None for an empty body; SipBodyError names what is wrong."""
    document = versioned_document(body, "dialog-info", max_body=max_body)
    if document is None:
        return None
    root, version, full = document
    dialogs: list[DialogEntry] = []
    for element in children(root, "dialog"):
        if len(dialogs) >= max_dialogs:
            raise SipBodyError(f"more than {max_dialogs} dialogs in one document")
        dialogs.append(_dialog(element))
    return DialogInfo(attr(root, "entity") or "", version, full, tuple(dialogs))


def _dialog(element: Element) -> DialogEntry:
    dialog_id = attr(element, "id")
    if not dialog_id:
        raise SipBodyError("a <dialog> without an id")
    state_text = text(child(element, "state")).lower()
    try:
        phase = DialogPhase(state_text)
    except ValueError:
        raise SipBodyError(f"dialog state {state_text[:30]!r} is not an RFC 4235 state") from None
    direction_text = (attr(element, "direction") or "").strip().lower()
    try:
        direction = Direction(direction_text) if direction_text else Direction.UNSTATED
    except ValueError:
        raise SipBodyError(f"dialog direction {direction_text[:30]!r} unknown") from None
    return DialogEntry(dialog_id, phase, direction, attr(element, "call-id"), _held(element))


def _held(dialog: Element) -> bool:
    """The local side stopped rendering media: ``+sip.rendering`` no on the local target."""
    local_party = child(dialog, "local")
    if local_party is None:
        return False
    for target in children(local_party, "target"):
        for param in children(target, "param"):
            name = (attr(param, "pname") or "").strip().lower().lstrip("+")
            if name == "sip.rendering" and (attr(param, "pvalue") or "").strip().lower() in _NOT_RENDERING:
                return True
        _, _, uri_params = (attr(target, "uri") or "").partition(";")
        for name, value in parse_params(uri_params).items() if uri_params else ():
            if name.lstrip("+") == "sip.rendering" and (value or "").lower() in _NOT_RENDERING:
                return True
    return False


# --- one subscription's view --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialogView:
    """What one dialog subscription has told us so far (start a new one per subscription)."""

    version: int | None = None
    dialogs: tuple[DialogEntry, ...] = ()  # live ones only, oldest first

    @property
    def line(self) -> LineState:
        best = LineState.IDLE
        for dialog in self.dialogs:
            line = dialog.line
            if line is not None and LINE_RANK[line] > LINE_RANK[best]:
                best = line
        return best


class Freshness(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # same version again: nothing changes
    NEED_FULL_STATE = "need_full_state"  # lost track: re-subscribe for a full document


def check_version(last: int | None, version: int, *, full: bool) -> Freshness:
    """RFC 4235 4.1.2 (and RFC 3680 5.2, the same rule): may a document be applied?"""
    if last is not None and version == last:
        return Freshness.DUPLICATE
    in_step = last is not None and version == last + 1
    if (last is not None and version < last) or (not full and not in_step):
        return Freshness.NEED_FULL_STATE
    return Freshness.APPLIED


@dataclass(frozen=True, slots=True)
class DialogUpdate:
    view: DialogView
    freshness: Freshness
    evicted: int = 0  # dialogs dropped to keep the view under its cap (counted by the caller)

    @property
    def line(self) -> LineState:
        return self.view.line

    @property
    def need_full_state(self) -> bool:
        return self.freshness is Freshness.NEED_FULL_STATE


def apply_dialog_info(
    view: DialogView, info: DialogInfo, *, max_dialogs: int = DEFAULT_MAX_DIALOGS
) -> DialogUpdate:
    """Fold one document into the view (module docstring: version rules)."""
    freshness = check_version(view.version, info.version, full=info.full)
    if freshness is not Freshness.APPLIED:
        return DialogUpdate(view, freshness)
    live: dict[str, DialogEntry] = {} if info.full else {d.id: d for d in view.dialogs}
    for dialog in info.dialogs:
        live.pop(dialog.id, None)
        if dialog.line is not None:
            live[dialog.id] = dialog
    kept = tuple(live.values())
    evicted = max(0, len(kept) - max_dialogs)
    fresh = replace(view, version=info.version, dialogs=kept[evicted:])
    return DialogUpdate(fresh, Freshness.APPLIED, evicted)
