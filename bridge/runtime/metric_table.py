"""Every name ``/metrics`` exports, declared once: counter or gauge, help text, labels.

Components keep their own counts (an adapter's ``counters``; ``stats()`` of the engine, the
publisher with its Graph client and budget, the watcher); this table says what each of those
numbers *is*. A counter only grows and is exported as ``presence_bridge_<name>_total``; a gauge is
a level (live sessions, budget in use, people pending, health 0/1) or a duration in seconds.
Labels name a component (``adapter``, ``tenant``), never a person.

A number a component reports that is not declared here is still exported (as its source's
default kind, see ``UNDECLARED_KIND``) and logged once, so nothing silently vanishes; a test
fails for every undeclared name our own components report.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"


class Source(StrEnum):
    """Where a number comes from; it fixes the exported name's prefix and the label."""

    ENGINE = "engine"
    SERVICE = "service"
    ADAPTER = "adapter"
    TENANT = "tenant"  # publisher, Graph client, budget, watcher: one series per tenant
    HEALTH = "health"


LABELS: dict[Source, tuple[str, ...]] = {
    Source.ENGINE: (),
    Source.SERVICE: (),
    Source.ADAPTER: ("adapter",),
    Source.TENANT: ("tenant",),
    Source.HEALTH: (),
}

# What an undeclared number is taken for: an adapter's ``counters`` are counts by the Adapter
# protocol; a ``stats()`` entry may be anything, so it is exported as a gauge (never a false counter).
UNDECLARED_KIND: dict[Source, Kind] = {
    Source.ENGINE: Kind.GAUGE,
    Source.SERVICE: Kind.GAUGE,
    Source.ADAPTER: Kind.COUNTER,
    Source.TENANT: Kind.GAUGE,
    Source.HEALTH: Kind.GAUGE,
}


@dataclass(frozen=True, slots=True)
class Exported:
    kind: Kind
    help: str
    source: Source

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS[self.source]


class Reading(NamedTuple):
    """One number as a component reports it: exported name (no namespace, no ``_total``), the
    label values in its source's label order, the value."""

    name: str
    source: Source
    labels: tuple[str, ...]
    value: float


C, G = Kind.COUNTER, Kind.GAUGE
_E, _S, _A, _T, _H = Source.ENGINE, Source.SERVICE, Source.ADAPTER, Source.TENANT, Source.HEALTH

_ROWS: tuple[tuple[str, Kind, Source, str], ...] = (
    # the core (engine)
    ("engine_events", C, _E, "PBX events handled"),
    ("engine_unmapped", C, _E, "events about endpoints nobody is mapped to"),
    ("engine_ignored_role", C, _E, "events from endpoints with role ignore"),
    ("engine_stale", C, _E, "events older than the endpoint's latest (dropped)"),
    ("engine_echoes", C, _E, "PBX echoes of our own write-back"),
    ("engine_snapshots", C, _E, "full resyncs from adapters"),
    ("engine_decisions", C, _E, "policy decisions"),
    ("engine_transitions", C, _E, "decisions that changed what Teams should show"),
    ("engine_store_errors", C, _E, "state store writes that failed"),
    # the service
    ("service_task_restarts", C, _S, "supervised tasks restarted after a failure"),
    ("service_resolve_failures", C, _S, "UPN lookups that failed"),
    ("alarms", G, _S, "alarms raised, all tenants and the state store"),
    # the state store
    ("store_healthy", G, _S, "1 while state store writes succeed and its file is in place"),
    ("store_write_errors", C, _S, "state store writes that failed (disk full, read-only...)"),
    ("store_file_rewrites", C, _S, "times the store's vanished database file was written back"),
    # health, 0/1 per component
    ("adapter_healthy", G, _A, "1 while the adapter is CONNECTED"),
    ("graph_healthy", G, _T, "1 while the tenant's Graph publisher is CONNECTED"),
    # adapters (SDK, Asterisk AMI, generic CTI)
    ("adapter_connects", C, _A, "connections established"),
    ("adapter_disconnects", C, _A, "connections lost"),
    ("adapter_auth_failures", C, _A, "logins refused"),
    ("adapter_oversized_lines", C, _A, "lines over the size limit (dropped)"),
    ("adapter_rejected_frames", C, _A, "wire frames that could not be parsed"),
    ("adapter_oversized_frames", C, _A, "wire frames over the size limit (dropped)"),
    ("adapter_unrecognised_events", C, _A, "well-formed events of a kind we do not handle"),
    ("adapter_handler_errors", C, _A, "events whose handler failed"),
    ("adapter_late_responses", C, _A, "responses that arrived after their action timed out"),
    ("adapter_foreign_responses", C, _A, "responses carrying another AMI client's ActionID (ignored)"),
    ("adapter_watchdog_timeouts", C, _A, "silent peers dropped by the watchdog"),
    ("adapter_write_backs", C, _A, "write-back commands carried out on the PBX"),
    ("adapter_write_back_failures", C, _A, "write-back commands the PBX refused or that failed on the way"),
    ("adapter_dnd_releases", C, _A, "PBX DND values of ours released"),
    ("adapter_pbx_dnd_owned", G, _A, "PBX DND values of ours held now (a level, though in counters)"),
    ("adapter_unmapped_device_events", C, _A, "device events for devices behind no mapped extension"),
    ("adapter_own_state_events", C, _A, "PBX events caused by our own write-back"),
    ("adapter_ignored_hints", C, _A, "hints we do not follow"),
    ("adapter_unrecognised_states", C, _A, "state values outside the documented tables"),
    ("adapter_unknown_member_events", C, _A, "queue member events for unknown members"),
    ("adapter_accepted", C, _A, "events accepted from the PBX or CTI client"),
    ("adapter_ignored_unmapped", C, _A, "valid events about extensions nobody is mapped to"),
    ("adapter_rejected_bad_json", C, _A, "requests or lines that were not JSON"),
    ("adapter_rejected_schema", C, _A, "requests or lines with a schema error"),
    ("adapter_rejected_oversize", C, _A, "bodies or lines over the size limit"),
    ("adapter_rejected_time", C, _A, "requests or lines whose `at` was too far ahead or unrepresentable"),
    ("adapter_snapshots", C, _A, "full-state snapshots accepted from a CTI client"),
    ("adapter_rejected_request", C, _A, "HTTP requests with a wrong method, media type or length"),
    ("adapter_bad_token", C, _A, "requests or connections with a missing or wrong token"),
    ("adapter_listener_failures", C, _A, "listeners that could not be bound"),
    # listener limits (issue 11): CTI listeners per adapter, the status listener as status_*
    ("adapter_conn_accepted", C, _A, "connections admitted by a CTI listener"),
    (
        "adapter_conn_refused_source",
        C,
        _A,
        "connections refused: their source held its share",
    ),
    ("adapter_conn_refused_full", C, _A, "connections refused: listener full or file descriptors short"),
    ("adapter_conn_dropped_idle", C, _A, "idle connections dropped to make room for new ones"),
    ("adapter_conn_accept_errors", C, _A, "accept() failures (EMFILE, ENFILE...)"),
    ("adapter_http_header_timeouts", C, _A, "HTTP connections closed: headers not complete in time"),
    ("adapter_http_body_timeouts", C, _A, "HTTP connections closed: body not complete in time"),
    ("adapter_http_malformed", C, _A, "HTTP requests that could not be parsed (400) or failed TLS set-ups"),
    ("adapter_tcp_idle_timeouts", C, _A, "logged-in TCP connections closed after idle_timeout_seconds"),
    ("adapter_subscribes", C, _A, "SIP SUBSCRIBE requests sent (initial, refresh, digest retry)"),
    ("adapter_notifies", C, _A, "SIP NOTIFYs accepted and answered 200"),
    ("adapter_notify_rejected", C, _A, "SIP NOTIFYs answered 400/415/489 (malformed or wrong event)"),
    ("adapter_notify_unknown_dialog", C, _A, "SIP NOTIFYs for a dialog we do not hold (answered 481)"),
    ("adapter_malformed_messages", C, _A, "SIP messages that could not be parsed"),
    ("adapter_retransmissions", C, _A, "SIP requests sent again on Timer E (UDP)"),
    ("adapter_transaction_timeouts", C, _A, "SIP requests unanswered within Timer F (32 s)"),
    ("adapter_auth_stale", C, _A, "SIP digest challenges with stale=true (not failures)"),
    ("adapter_auth_rejected", C, _A, "SIP digest answers the PBX refused (wrong password)"),
    ("adapter_full_state_requests", C, _A, "SIP refreshes sent to get full dialog-info after a version gap"),
    ("adapter_stray_responses", C, _A, "SIP responses matching no transaction of ours"),
    ("adapter_unexpected_requests", C, _A, "SIP requests other than NOTIFY/OPTIONS (answered 405)"),
    ("adapter_unanswerable_requests", C, _A, "SIP requests whose echoed headers cannot be sent back"),
    ("status_conn_accepted", C, _S, "connections admitted by the status listener"),
    ("status_conn_refused_source", C, _S, "status listener: refused, source held its share"),
    ("status_conn_refused_full", C, _S, "status listener: refused, full or file descriptors short"),
    ("status_conn_dropped_idle", C, _S, "status listener: idle connections dropped to make room"),
    ("status_conn_accept_errors", C, _S, "status listener: accept() failures"),
    ("status_http_header_timeouts", C, _S, "status listener: headers not complete in time"),
    ("status_http_body_timeouts", C, _S, "status listener: body not complete in time"),
    ("status_http_malformed", C, _S, "status listener: requests that could not be parsed"),
    # publisher, per tenant
    ("publisher_set_presence", C, _T, "session writes (setPresence)"),
    ("publisher_refreshes", C, _T, "session refreshes before expiry"),
    ("publisher_clear_presence", C, _T, "session clears (clearPresence)"),
    ("publisher_clear_presence_absent", C, _T, "clears of a session Graph no longer had"),
    ("publisher_set_preferred", C, _T, "preferred presence writes"),
    ("publisher_clear_preferred", C, _T, "preferred presence clears"),
    ("publisher_preferred_left_to_user", C, _T, "preferred presences the user changed (left alone)"),
    ("publisher_presence_reads", C, _T, "presence reads before a preferred clear"),
    ("publisher_person_failures", C, _T, "writes that failed permanently for one person"),
    ("publisher_quarantines", C, _T, "people put in quarantine"),
    ("publisher_transient_errors", C, _T, "Graph calls that failed transiently"),
    ("publisher_auth_errors", C, _T, "Graph calls refused for credentials or permissions"),
    ("publisher_store_errors", C, _T, "state store writes that failed"),
    ("publisher_desires", C, _T, "desired states handed to the publisher"),
    ("publisher_writes_held", C, _T, "writes held back while a person flaps"),
    ("publisher_people", G, _T, "people the publisher knows"),
    ("publisher_pending", G, _T, "people whose desired state is not yet in Teams"),
    ("publisher_max_staleness_seconds", G, _T, "longest wait of a pending desired state, seconds"),
    ("publisher_live_sessions", G, _T, "sessions of ours live in Teams"),
    ("publisher_quarantined", G, _T, "people in quarantine now"),
    ("publisher_alarms", G, _T, "alarms raised"),
    ("publisher_queued", G, _T, "people queued for a write"),
    ("publisher_in_flight", G, _T, "Graph writes in flight"),
    # Graph client, per tenant
    ("graph_requests", C, _T, "Graph requests sent"),
    ("graph_throttled", C, _T, "Graph answers 429 (throttled)"),
    ("graph_retries", C, _T, "Graph requests retried"),
    ("graph_transport_errors", C, _T, "Graph requests that failed below HTTP"),
    ("graph_auth_failures", C, _T, "Graph answers 401/403"),
    ("graph_errors", C, _T, "Graph requests that failed"),
    # rate budget, per tenant
    ("budget_limit", G, _T, "requests per window the budget allows now (AIMD)"),
    ("budget_max", G, _T, "configured requests per window"),
    ("budget_in_window", G, _T, "requests in the current window (budget in use)"),
    ("budget_capacity", G, _T, "live sessions the refresh share can keep alive"),
    ("budget_live_sessions", G, _T, "live sessions the budget plans refreshes for"),
    ("budget_granted", C, _T, "budget slots granted"),
    ("budget_granted_refresh", C, _T, "budget slots granted to refreshes"),
    ("budget_waits", C, _T, "requests that waited for a slot"),
    ("budget_cuts", C, _T, "limit cuts after a 429"),
    # watcher (Teams -> PBX), per tenant
    ("watcher_rounds", C, _T, "polling rounds"),
    ("watcher_reads", C, _T, "bulk presence reads"),
    ("watcher_read_errors", C, _T, "bulk presence reads that failed"),
    ("watcher_observations", C, _T, "changed readings handed to the write-back policy"),
    ("watcher_missing", C, _T, "people Graph returned no presence for"),
    ("watcher_commands", C, _T, "write-back commands issued"),
    ("watcher_apply_failures", C, _T, "write-backs that failed (retried next poll)"),
    ("watcher_pbx_dnd_reports", C, _T, "PBX DND reports heard"),
    ("watcher_people", G, _T, "people watched"),
    ("watcher_shards", G, _T, "bulk reads per round"),
    ("watcher_interval_seconds", G, _T, "polling interval in effect, seconds"),
    ("watcher_failing", G, _T, "1 while reads fail"),
)

METRICS: dict[str, Exported] = {name: Exported(kind, text, source) for name, kind, source, text in _ROWS}
if len(METRICS) != len(_ROWS):
    raise ValueError("metric_table: a name is declared twice")


def declared(reading: Reading) -> Exported:
    """The declaration for a reading, or its source's default if undeclared (``is_declared`` tells)."""
    return METRICS.get(reading.name) or Exported(
        UNDECLARED_KIND[reading.source], f"{reading.name} (undeclared)", reading.source
    )


def is_declared(name: str) -> bool:
    return name in METRICS
