"""The foundation floor: what every I/O floor above needs and nothing domain-specific.

``clock`` (the injected clock, ``within``, ``sleep_or_wake``), ``net`` (listening sockets),
``backoff`` (one jittered backoff), ``health`` (the health vocabulary and one tracker),
``supervisor`` (owners of long-running tasks), ``metrics`` (one Prometheus registry),
``heap`` (returning a big parse's memory). It imports only the core (``bridge.errors``) and
the standard library or foundation libraries (prometheus_client); never adapters, teams,
config, runtime or the emulator (``.importlinter``).
"""
