"""What the PBX told us, turned into canonical endpoint state. Pure: no I/O, no clock.

Knowledge kept (all rebuilt by a resync): device states, hints, AstDB entries, presence and
queue members. From it ``EndpointView``s are derived per extension:

* one endpoint per **phone device** bound to an extension (``device`` = ``PJSIP/1001``): its line,
  straight from ``DEVICE_STATE_TO_LINE``. Bindings: config ``devices`` > FreePBX AstDB
  (``DEVICE/<dev>/dial`` + ``DEVICE/<dev>/user``, followed for hot-desking) > ``Hint:`` headers.
* one endpoint per **extension** (``device`` = ""): dnd, away, agent, and a line. When phone devices
  are known for it the extension's own line is ``idle`` (its devices carry the calls): a line never
  reported would stay ``unknown`` in the core, rank above ``idle`` and cut the idle hold short.
  When no phone device is known, the line comes from the hint's other devices (never from FreePBX
  DND or our own ``Custom:TEAMS`` states; from the ExtensionStatus code only if the hint holds neither).

Live facts update the knowledge and return only the endpoints whose view changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.parse import (
    CUSTOM_PRESENCE,
    DEVICE_STATE_RANK,
    DEVICE_STATE_TO_LINE,
    EXTENSION_STATUS_TO_LINE,
    FREEPBX_DEVICE_DND_DEVICE,
    FREEPBX_DND_DEVICE,
    FREEPBX_DND_STATE,
    PRESENCE_TO_AWAY,
    AgentCallEnded,
    AstDbFact,
    DeviceFact,
    Fact,
    HintFact,
    PresenceFact,
    QueueMemberFact,
)
from bridge.model import AgentState, EndpointKey, LineState, Snapshot, StateChange, Toggle

_K = TypeVar("_K", LineState, Toggle)

TEAMS_PAUSE_PREFIX = "teams:"
_LOCAL_MEMBER = re.compile(r"^Local/([^@/]+)@")


def _blinded(state: _K | None, unknown: _K) -> _K | None:
    """``unknown`` where we had reported something else; None where there is nothing to take back."""
    return None if state is None or state is unknown else unknown


def ampuser_extensions(facts: Iterable[Fact]) -> set[str]:
    """The extensions of FreePBX users in a ``DBGetTree Family: AMPUSER`` answer (keys
    ``AMPUSER/<ext>/<field>`` such as ``AMPUSER/1001/device``; reference asterisk-ami.md 4.1, 4.2)."""
    known = set()
    for fact in facts:
        if isinstance(fact, AstDbFact):
            family, _, rest = fact.key.partition("/")
            exten = rest.partition("/")[0]
            if family == "AMPUSER" and exten:
                known.add(exten)
    return known


@dataclass(frozen=True, slots=True)
class EndpointView:
    line: LineState | None = None
    dnd: Toggle | None = None
    away: Toggle | None = None
    agent: AgentState | None = None


_NO_VIEW = EndpointView()


@dataclass(frozen=True, slots=True)
class _Hint:
    context: str
    devices: tuple[str, ...]
    status: int | None


class AmiTracker:
    """Canonical state of one AMI adapter's endpoints."""

    def __init__(self, adapter: str, config: AmiConfig) -> None:
        self._adapter = adapter
        self._config = config
        self._ignore_patterns = tuple(re.compile(p) for p in config.ignore_exten_patterns)
        self._ignored_contexts = config.ignored_contexts
        self._teams_prefix = config.teams_device_prefix
        self._line_prefixes = config.line_device_prefixes
        self._excluded_prefixes = (FREEPBX_DND_DEVICE, FREEPBX_DEVICE_DND_DEVICE, self._teams_prefix)
        self.counters: dict[str, int] = {
            "unmapped_device_events": 0,
            "own_state_events": 0,
            "ignored_hints": 0,
            "unrecognised_states": 0,
            "unknown_member_events": 0,
        }
        self._reset()
        self._views: dict[EndpointKey, EndpointView] = {}
        # Indexes kept beside the knowledge so a live fact costs the same with 10 or 10,000
        # extensions: _views' keys per extension (in _views order), and device -> hinted extensions.
        self._view_keys: dict[str, dict[EndpointKey, None]] = {}
        self._expected_dnd: dict[str, Toggle] = {}

    def _reset(self) -> None:
        self._devices: dict[str, str] = {}  # device -> state string
        self._hints: dict[str, _Hint] = {}  # exten -> hint
        self._astdb: dict[str, str] = {}
        self._dnd: dict[str, Toggle] = {}
        self._presence: dict[str, str] = {}  # exten -> presence status
        self._members: dict[tuple[str, str], QueueMemberFact] = {}
        self._wrapups: dict[tuple[str, str], float] = {}  # (queue, interface) -> end, caller's monotonic
        self._hinted: dict[str, dict[str, None]] = {}  # device -> extensions whose hint names it
        self._member_order: dict[tuple[str, str], int] = {}  # member -> position in _members
        self._member_ext: dict[tuple[str, str], str | None] = {}  # member -> its extension
        self._members_of: dict[str, dict[tuple[str, str], None]] = {}  # extension -> its members
        self._bindings_stale = False  # set by _learn when a hint's devices or AstDB DEVICE changed
        self._rebind()

    # --- bindings --------------------------------------------------------------------

    def _is_line_device(self, device: str) -> bool:
        return device.startswith(self._line_prefixes) and not self._is_excluded(device)

    def _is_excluded(self, device: str) -> bool:
        return device.startswith(self._excluded_prefixes) or device.startswith(CUSTOM_PRESENCE)

    def _hint_ignored(self, exten: str, context: str) -> bool:
        return context in self._ignored_contexts or any(p.search(exten) for p in self._ignore_patterns)

    def _astdb_bindings(self) -> dict[str, str]:
        dial: dict[str, str] = {}
        user: dict[str, str] = {}
        for key, value in self._astdb.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "DEVICE":
                if parts[2] == "dial":
                    dial[parts[1]] = value.strip()
                elif parts[2] == "user":
                    user[parts[1]] = value.strip()
        return {
            device: user[dev]
            for dev, device in dial.items()
            if device and user.get(dev) and user[dev].lower() != "none"
        }

    def _rebind(self) -> None:
        """Recompute device -> extensions (config > AstDB > hints)."""
        bound: dict[str, tuple[str, ...]] = {}
        for exten, hint in self._hints.items():
            for device in hint.devices:
                if self._is_line_device(device):
                    bound[device] = (*bound.get(device, ()), exten)
        bound.update({d: (e,) for d, e in self._astdb_bindings().items()})
        bound.update({d: (e,) for d, e in self._config.devices.items()})
        self._bound = bound
        by_ext: dict[str, list[str]] = {}
        for device, extens in bound.items():
            for exten in extens:
                by_ext.setdefault(exten, []).append(device)
        self._ext_devices = {e: tuple(sorted(ds)) for e, ds in by_ext.items()}
        for key in self._members:  # a member's extension follows the bindings
            self._index_member(key)

    def _index_member(self, key: tuple[str, str]) -> None:
        exten = self._member_extension(self._members[key])
        old = self._member_ext.get(key)
        if key in self._member_ext and old == exten:
            return
        if old is not None:
            members = self._members_of[old]
            del members[key]
            if not members:
                del self._members_of[old]
        self._member_ext[key] = exten
        if exten is not None:
            self._members_of.setdefault(exten, {})[key] = None

    def extensions(self) -> set[str]:
        known = set(self._ext_devices) | set(self._hints) | set(self._dnd) | set(self._presence)
        known |= {e for e in (self._member_extension(m) for m in self._members.values()) if e}
        return known

    def pbx_extensions(self) -> set[str]:
        """Extensions the PBX itself defines, as the last resync and live events told us: a hint
        naming a device other than our own ``Custom:TEAMS`` or FreePBX's DND states, or a phone
        device bound by AstDB ``DEVICE`` or by the config to a device the PBX lists. Unlike
        ``extensions()`` never from values we may have written (DND, presence)."""
        known = {e for e, h in self._hints.items() if any(not self._is_excluded(d) for d in h.devices)}
        known |= set(self._astdb_bindings().values())
        known |= {e for d, e in self._config.devices.items() if d in self._devices}
        return known

    def freepbx_device_ids(self, exten: str) -> tuple[str, ...]:
        """FreePBX device ids whose AstDB ``DEVICE/<dev>/user`` is ``exten`` (for Custom:DEVDND)."""
        return tuple(
            sorted(
                key.split("/")[1]
                for key, value in self._astdb.items()
                if key.startswith("DEVICE/") and key.endswith("/user") and value.strip() == exten
            )
        )

    def devices_of(self, exten: str) -> tuple[str, ...]:
        return self._ext_devices.get(exten, ())

    def _member_extension(self, member: QueueMemberFact) -> str | None:
        for interface in (member.state_interface, member.interface):
            if interface in self._bound:
                return self._bound[interface][0]
            local = _LOCAL_MEMBER.match(interface)
            if local:
                return local.group(1)
        return None

    def member_interfaces(self, exten: str) -> list[tuple[str, QueueMemberFact]]:
        """The members bound to ``exten``, in the order they were first seen."""
        keys = self._members_of.get(exten)
        if not keys:
            return []
        ordered = sorted(keys, key=self._member_order.__getitem__) if len(keys) > 1 else keys
        members = self._members
        return [(members[k].interface, members[k]) for k in ordered]

    # --- derived views ---------------------------------------------------------------

    def _hint_line(self, exten: str) -> LineState | None:
        hint = self._hints.get(exten)
        if hint is None:
            return None
        others = [d for d in hint.devices if not self._is_excluded(d)]
        contaminated = len(others) != len(hint.devices)
        if others and all(d in self._devices for d in others):
            best = max((self._devices[d] for d in others), key=DEVICE_STATE_RANK.__getitem__)
            return DEVICE_STATE_TO_LINE[best]
        if contaminated or hint.status is None:
            return None
        return EXTENSION_STATUS_TO_LINE.get(hint.status, LineState.UNKNOWN)

    def _agent(self, exten: str) -> AgentState | None:
        members = [m for _, m in self.member_interfaces(exten)]
        if not members:
            return None
        active = [m for m in members if not m.removed]
        paused = [m for m in active if m.paused]
        return AgentState(
            logged_in=bool(active),
            paused=bool(paused),
            reason=(paused[0].reason or None) if paused else None,
            wrapup=any((m.queue, m.interface) in self._wrapups for m in active),
        )

    def _views_for(self, exten: str) -> dict[EndpointKey, EndpointView]:
        context = self._config.context
        views: dict[EndpointKey, EndpointView] = {}
        devices = self.devices_of(exten)
        for device in devices:
            state = self._devices.get(device)
            line = DEVICE_STATE_TO_LINE[state] if state is not None else None
            views[EndpointKey(self._adapter, exten, context, device)] = EndpointView(line=line)
        dnd: Toggle | None = None
        if self._config.freepbx:
            dnd = self._dnd.get(exten, Toggle.OFF)
        away = PRESENCE_TO_AWAY.get(self._presence.get(exten, "not_set"), Toggle.OFF)
        line = LineState.IDLE if devices else self._hint_line(exten)
        views[EndpointKey(self._adapter, exten, context)] = EndpointView(line, dnd, away, self._agent(exten))
        return views

    # --- live updates ----------------------------------------------------------------

    def apply(self, fact: Fact) -> list[StateChange]:
        """Update knowledge with one live fact; the endpoints whose view changed."""
        self._bindings_stale = False
        affected = self._learn(fact)
        if self._bindings_stale:  # a hint's devices or an AstDB DEVICE key changed
            self._rebind()
        echo_agent = isinstance(fact, QueueMemberFact) and fact.reason.startswith(TEAMS_PAUSE_PREFIX)
        return self._diff(affected, echo_agent=echo_agent)

    def _learn(self, fact: Fact, *, affected: bool = True) -> set[str]:
        """Store one fact; the extensions it may change (only computed when ``affected``)."""
        if isinstance(fact, DeviceFact):
            return self._learn_device(fact)
        if isinstance(fact, HintFact):
            if self._hint_ignored(fact.exten, fact.context):
                self.counters["ignored_hints"] += 1
                return set()
            old = self._hints.get(fact.exten)
            self._hints[fact.exten] = _Hint(fact.context, fact.devices, fact.status)
            if old is None or old.devices != fact.devices:
                self._bindings_stale = True
                for device in old.devices if old else ():
                    self._hinted[device].pop(fact.exten, None)
                for device in fact.devices:
                    self._hinted.setdefault(device, {})[fact.exten] = None
            changed = {fact.exten}
            for device in (*fact.devices, *(old.devices if old else ())):
                changed |= set(self._bound.get(device, ()))
            return changed
        if isinstance(fact, PresenceFact):
            if not fact.provider.startswith(CUSTOM_PRESENCE):
                return set()
            exten = fact.provider[len(CUSTOM_PRESENCE) :]
            self._presence[exten] = fact.status
            return {exten}
        if isinstance(fact, QueueMemberFact):
            key = (fact.queue, fact.interface)
            self._members[key] = fact
            self._member_order.setdefault(key, len(self._member_order))
            self._index_member(key)
            if fact.in_call or fact.removed:  # a new call (or logged out) ends a wrap-up
                self._wrapups.pop(key, None)
            member = self._member_extension(fact)
            return {member} if member else set()
        if isinstance(fact, AstDbFact):
            return self._learn_astdb(fact, affected=affected)
        return set()

    def _learn_device(self, fact: DeviceFact) -> set[str]:
        device = fact.device
        self._devices[device] = fact.state
        if device.startswith(self._teams_prefix):
            self.counters["own_state_events"] += 1
            return set()
        if device.startswith(FREEPBX_DND_DEVICE):
            exten = device[len(FREEPBX_DND_DEVICE) :]
            toggle = FREEPBX_DND_STATE.get(fact.state)
            if toggle is None:
                self.counters["unrecognised_states"] += 1
                return set()
            if self._config.freepbx:
                self._dnd[exten] = toggle
            return {exten}
        if device in self._bound:
            return set(self._bound[device])
        hinted = set(self._hinted.get(device, ()))
        if not hinted and self._is_line_device(device):
            self.counters["unmapped_device_events"] += 1
        return hinted

    def _learn_astdb(self, fact: AstDbFact, *, affected: bool = True) -> set[str]:
        self._astdb[fact.key] = fact.value
        family, _, rest = fact.key.partition("/")
        if family == "DND" and rest and self._config.freepbx:
            self._dnd[rest] = Toggle.ON if fact.value.strip() else Toggle.OFF
            return {rest}
        if family == "DEVICE":
            self._bindings_stale = True
            if not affected:
                return set()
            return set(self._ext_devices) | set(self._astdb_bindings().values())
        return set()

    def replace_astdb(self, entries: Iterable[AstDbFact], families: Iterable[str]) -> list[StateChange]:
        """A periodic re-read of whole AstDB families: apply what changed since the last one.

        FreePBX DND is reconciled against what we believe now, not against the last read: AstDB
        ``DND/<ext>`` is what FreePBX's dialplan routes on, and ``database put DND 1002 YES`` alone
        raises no event. Comparing with the last read would miss it whenever ``Custom:DND<ext>``
        moved in between (on and off by devstate, then the same AstDB value as last time).
        """
        families = tuple(families)
        fresh = {f.key: f.value for f in entries}
        old = {k: v for k, v in self._astdb.items() if k.split("/", 1)[0] in families}
        affected: set[str] = set()
        for key in old.keys() - fresh.keys():
            del self._astdb[key]
        for key, value in fresh.items():
            if old.get(key) != value:
                affected |= self._learn_astdb(AstDbFact(key, value))
        if "DND" in families and self._config.freepbx:
            affected |= self._reconcile_dnd(fresh)
        before = set(self._ext_devices)
        self._rebind()
        affected |= before | set(self._ext_devices)
        return self._diff(affected)

    def _reconcile_dnd(self, fresh: dict[str, str]) -> set[str]:
        """Make DND follow a full read of the AstDB ``DND`` family; the extensions it changed."""
        truth = {
            key.partition("/")[2]: Toggle.ON if value.strip() else Toggle.OFF
            for key, value in fresh.items()
            if key.startswith("DND/") and key.partition("/")[2]
        }
        changed = set()
        for exten, toggle in self._dnd.items():
            if toggle is Toggle.ON and exten not in truth:
                changed.add(exten)
        for exten in changed:
            self._dnd[exten] = Toggle.OFF
        for exten, toggle in truth.items():
            if self._dnd.get(exten) is not toggle:
                self._dnd[exten] = toggle
                changed.add(exten)
        return changed

    # --- agent wrap-up (timed by the caller: pass its monotonic clock) -------------------

    def start_wrapup(self, fact: AgentCallEnded, now: float) -> tuple[list[StateChange], float | None]:
        """A queue call ended: the member wraps up for its ``Wrapuptime`` (else the configured
        ``wrapup_seconds`` of the queue). Returns the changes and when the wrap-up ends (None: none)."""
        key = (fact.queue, fact.interface)
        member = self._members.get(key)
        if member is None:
            self.counters["unknown_member_events"] += 1
            return [], None
        seconds = member.wrapup_time or self._config.wrapup_seconds.get(fact.queue, 0.0)
        exten = self._member_extension(member)
        if seconds <= 0 or exten is None:
            return [], None
        self._wrapups[key] = now + seconds
        return self._diff({exten}), now + seconds

    def end_wrapups(self, now: float) -> list[StateChange]:
        """Wrap-ups whose time is up end; the endpoints whose agent state changed."""
        done = [key for key, until in self._wrapups.items() if until <= now]
        extens: set[str] = set()
        for key in done:
            del self._wrapups[key]
            member = self._members.get(key)
            exten = self._member_extension(member) if member is not None else None
            if exten is not None:
                extens.add(exten)
        return self._diff(extens)

    # --- our own writes --------------------------------------------------------------

    def our_queue_pause(self, interfaces: Iterable[str], reason: str | None) -> list[StateChange]:
        """Our ``QueuePause`` succeeded: those members are paused with ``reason`` (None: unpaused)
        now, before its echo arrives; the agent changes are marked as our echo."""
        wanted = set(interfaces)
        extens: set[str] = set()
        for key, member in self._members.items():
            if member.interface in wanted and not member.removed:
                self._members[key] = replace(member, paused=reason is not None, reason=reason or "")
                exten = self._member_ext.get(key)
                if exten is not None:
                    extens.add(exten)
        return self._diff(extens, echo_agent=True)

    def expect_dnd(self, exten: str, value: Toggle) -> None:
        """We are about to set FreePBX DND: its echo is marked, not published back to Teams."""
        self._expected_dnd[exten] = value

    # --- diffing and snapshots -------------------------------------------------------

    def _diff(self, extens: Iterable[str], *, echo_agent: bool = False) -> list[StateChange]:
        out: list[StateChange] = []
        for exten in sorted(extens):
            views = self._views_for(exten)
            keys = self._view_keys.setdefault(exten, {})
            stale = [k for k in keys if k not in views]
            for key in stale:  # a device moved away (hot-desking): its endpoint is no longer here
                del self._views[key]
                del keys[key]
                out.append(StateChange(key, line=LineState.UNAVAILABLE))
            for key, view in views.items():
                change = self._change(key, self._views.get(key), view, echo_agent)
                self._views[key] = view
                keys[key] = None
                if change is not None:
                    out.append(change)
        return out

    def _change(
        self, key: EndpointKey, old: EndpointView | None, new: EndpointView, echo_agent: bool
    ) -> StateChange | None:
        if old is None:
            old = _NO_VIEW
        if new == old:
            return None
        line = new.line if new.line is not None and new.line != old.line else None
        dnd = new.dnd if new.dnd is not None and new.dnd != old.dnd else None
        away = new.away if new.away is not None and new.away != old.away else None
        agent = new.agent if new.agent is not None and new.agent != old.agent else None
        if line is None and dnd is None and away is None and agent is None:
            return None
        echo = echo_agent and agent is not None
        if dnd is not None and self._expected_dnd.get(key.extension) == dnd:
            del self._expected_dnd[key.extension]
            echo = True
        return StateChange(key, line=line, dnd=dnd, away=away, agent=agent, echo=echo)

    def begin_resync(self) -> None:
        """A new session: forget what we knew (config bindings stay) until ``snapshot()``."""
        self._reset()

    def learn(self, facts: Iterable[Fact]) -> None:
        """Feed resync list items without producing changes."""
        for fact in facts:
            self._learn(fact, affected=False)
        self._rebind()

    def snapshot(self) -> Snapshot:
        """Everything known, as one full snapshot that replaces the core's view of this adapter."""
        views: dict[EndpointKey, EndpointView] = {}
        for exten in sorted(self.extensions()):
            views.update(self._views_for(exten))
        self._views = views
        self._view_keys = {}
        for key in views:
            self._view_keys.setdefault(key.extension, {})[key] = None
        changes = tuple(
            replace(StateChange(key), line=v.line, dnd=v.dnd, away=v.away, agent=v.agent)
            for key, v in views.items()
            if v != EndpointView()  # a device bound but never reported says nothing yet
        )
        return Snapshot(self._adapter, changes)

    def disconnected(self) -> list[StateChange]:
        """The adapter went blind: every line, dnd and away we reported becomes unknown.

        The core's unknown grace then keeps the last Teams state for a while and clears it after;
        a DND left ``on`` would outrank that and hold Do not disturb for as long as the PBX is away.
        """
        out: list[StateChange] = []
        for key, view in list(self._views.items()):
            line = _blinded(view.line, LineState.UNKNOWN)
            dnd = _blinded(view.dnd, Toggle.UNKNOWN)
            away = _blinded(view.away, Toggle.UNKNOWN)
            if line is not None or dnd is not None or away is not None:
                self._views[key] = replace(
                    view,
                    line=view.line if line is None else line,
                    dnd=view.dnd if dnd is None else dnd,
                    away=view.away if away is None else away,
                )
                out.append(StateChange(key, line=line, dnd=dnd, away=away))
        return out
