"""NOTIFY bodies of one subscription -> the extension's canonical facts (line, DND, away). Pure.

``BodyFacts`` keeps what a subscription needs between NOTIFYs (the dialog-info view with its
version) and turns each body into ``Facts``:

* ``dialog``: the line of the folded ``DialogView`` (``dialoginfo.apply_dialog_info``); a version
  gap returns ``need_full`` (the subscription refreshes for a full document); an empty body in a
  live subscription is "no dialogs" (Kamailio with ``force_dummy_dialog=0``): idle;
* ``presence``: ``pidf.parse_pidf``'s DND and away, and its line only where no ``dialog``
  subscription covers the extension (``line_from_body``); an empty body is "nothing published":
  DND and away off, the line unsaid.

``unknown()`` is what a lost subscription supplies: every field it would otherwise say, unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.sip_blf.dialoginfo import DialogInfo, DialogView, apply_dialog_info
from adapters.sip_blf.notify import NotifyBody
from adapters.sip_blf.pidf import PidfReading
from bridge.model import LineState, Toggle


@dataclass(frozen=True, slots=True)
class Facts:
    """Fields a body said (None: unsaid)."""

    line: LineState | None = None
    dnd: Toggle | None = None
    away: Toggle | None = None

    def change_to(self, new: Facts) -> tuple[LineState | None, Toggle | None, Toggle | None] | None:
        """The fields of ``new`` that differ from ``self`` (None where equal or unsaid), or None."""
        line = new.line if new.line is not None and new.line != self.line else None
        dnd = new.dnd if new.dnd is not None and new.dnd != self.dnd else None
        away = new.away if new.away is not None and new.away != self.away else None
        if line is None and dnd is None and away is None:
            return None
        return line, dnd, away

    def merged(self, new: Facts) -> Facts:
        return Facts(new.line or self.line, new.dnd or self.dnd, new.away or self.away)


class BodyFacts:
    def __init__(self, event: str, line_from_body: bool = True) -> None:
        if event not in ("dialog", "presence"):
            raise ValueError(f"no facts reader for event package {event!r}")
        self.event = event
        self.line_from_body = line_from_body or event == "dialog"
        self.view = DialogView()

    def reset(self) -> None:
        """A new subscription: dialog-info versions start again."""
        self.view = DialogView()

    def unknown(self) -> Facts:
        line = LineState.UNKNOWN if self.line_from_body else None
        if self.event == "dialog":
            return Facts(line=line)
        return Facts(line, Toggle.UNKNOWN, Toggle.UNKNOWN)

    def read(self, body: NotifyBody | None) -> tuple[Facts, bool]:
        """(facts, need_full) for one accepted NOTIFY of a live subscription."""
        if self.event == "dialog":
            return self._dialog(body)
        if body is None:
            return Facts(None, Toggle.OFF, Toggle.OFF), False
        if not isinstance(body, PidfReading):
            return Facts(), False
        return Facts(body.line if self.line_from_body else None, body.dnd, body.away), False

    def _dialog(self, body: NotifyBody | None) -> tuple[Facts, bool]:
        if body is None:
            self.view = DialogView(self.view.version, ())
            return Facts(line=LineState.IDLE), False
        if not isinstance(body, DialogInfo):
            return Facts(), False
        update = apply_dialog_info(self.view, body)
        if update.need_full_state:
            self.view = DialogView()
            return Facts(), True
        self.view = update.view
        return Facts(line=update.line), False
