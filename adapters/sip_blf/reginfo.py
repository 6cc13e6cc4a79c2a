"""RFC 3680 ``reg`` event bodies (application/reginfo+xml) -> registered or not. Pure.

dialog-info alone cannot tell an idle phone from an unplugged one; where the PBX offers the
``reg`` package, a registration with no active contact makes the extension ``unavailable``
(DESIGN 3). ``REGISTRATION_TO_LINE`` is the whole meaning: registered says nothing about the line
(None: keep what dialog-info says), unregistered is ``unavailable``.

Full and partial documents carry a ``version`` like dialog-info; ``apply_reginfo`` keeps the
per-AoR registered flag for one subscription with the same version rules (a gap or an older
version asks for full state).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.sip_blf.dialoginfo import Freshness, check_version
from adapters.sip_blf.xmlbody import DEFAULT_MAX_BODY, SipBodyError, attr, children, versioned_document
from bridge.model import LineState

DEFAULT_MAX_REGISTRATIONS = 64
DEFAULT_MAX_CONTACTS = 64

REGISTRATION_TO_LINE: dict[bool, LineState | None] = {True: None, False: LineState.UNAVAILABLE}


@dataclass(frozen=True, slots=True)
class RegInfo:
    version: int
    full: bool
    registered: tuple[tuple[str, bool], ...]  # (AoR, has an active contact), in document order


def parse_reginfo(
    body: bytes,
    *,
    max_registrations: int = DEFAULT_MAX_REGISTRATIONS,
    max_contacts: int = DEFAULT_MAX_CONTACTS,
    max_body: int = DEFAULT_MAX_BODY,
) -> RegInfo | None:
    document = versioned_document(body, "reginfo", max_body=max_body)
    if document is None:
        return None
    root, version, full = document
    registrations: list[tuple[str, bool]] = []
    for registration in children(root, "registration"):
        if len(registrations) >= max_registrations:
            raise SipBodyError(f"more than {max_registrations} registrations in one document")
        aor = attr(registration, "aor")
        if not aor:
            raise SipBodyError("a <registration> without an aor")
        contacts = list(children(registration, "contact"))
        if len(contacts) > max_contacts:
            raise SipBodyError(f"more than {max_contacts} contacts in one registration")
        reg_state = (attr(registration, "state") or "").strip().lower()
        active = reg_state == "active" and any(
            (attr(c, "state") or "").strip().lower() == "active" for c in contacts
        )
        registrations.append((aor, active))
    return RegInfo(version, full, tuple(registrations))


@dataclass(frozen=True, slots=True)
class RegView:
    version: int | None = None
    registered: tuple[tuple[str, bool], ...] = ()

    @property
    def line(self) -> LineState | None:
        """UNAVAILABLE when no AoR has an active contact; None (no opinion) otherwise."""
        if self.version is None:
            return None
        return REGISTRATION_TO_LINE[any(active for _, active in self.registered)]


def apply_reginfo(view: RegView, info: RegInfo) -> tuple[RegView, Freshness]:
    freshness = check_version(view.version, info.version, full=info.full)
    if freshness is not Freshness.APPLIED:
        return view, freshness
    merged = {} if info.full else dict(view.registered)
    merged.update(info.registered)
    return RegView(info.version, tuple(merged.items())), Freshness.APPLIED
