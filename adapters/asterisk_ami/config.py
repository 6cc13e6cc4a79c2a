"""Settings of one Asterisk / FreePBX AMI adapter (the ``adapters.<name>`` YAML block).

Every key is documented in docs/asterisk.md. Unknown keys are rejected (``extra="forbid"``);
the secret never appears in a repr.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bridge.kit.config_types import ConfigModel, Fix

# FreePBX defaults: hint contexts that are not a person's line (DND and intercom feature-code
# hints, paging, parking). The Teams BLF context is always added (see ``ignored_contexts``).
FREEPBX_IGNORE_CONTEXTS: tuple[str, ...] = ("ext-dnd-hints", "ext-paging", "ext-intercom", "park-hints")
# Feature-code hints such as *76100 (DND toggle) or *80100 (intercom).
FREEPBX_IGNORE_PATTERNS: tuple[str, ...] = (r"^\*",)


_SECRET_FIX = Fix("set the AMI user's secret from manager.conf as ${ENV_VAR} or with secret_file: PATH")


class AmiConfig(ConfigModel):
    """One AMI connection: where, who, what to follow and what we may write.

    The shared rules (``ConfigModel``) read ``secret_file`` into ``secret`` and refuse placeholders.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret: Annotated[SecretStr, _SECRET_FIX]
    auth: Literal["plain", "md5"] = "plain"
    # Login "Events:" mask: only the classes we use (reference 1.6).
    events: str = "call,system,agent"
    context: str = ""  # the context our canonical endpoints carry (people match on it)

    # Which devices are phones (line state comes only from these).
    line_device_prefixes: tuple[str, ...] = ("PJSIP/", "SIP/", "IAX2/")
    # Static device -> extension bindings (beat AstDB and hints).
    devices: dict[str, str] = Field(default_factory=dict)
    freepbx: bool = True  # read AMPUSER/DEVICE/DND from AstDB, follow Custom:DND<ext>
    astdb_poll_interval: float = Field(default=60.0, gt=0)  # AstDB writes raise no event: re-read this often
    # Queue -> wrap-up seconds for queues whose wrapuptime is set in queues.conf: AMI reports only a
    # member's own Wrapuptime (used when > 0), never the queue's.
    wrapup_seconds: dict[str, float] = Field(default_factory=dict)
    ignore_contexts: tuple[str, ...] = FREEPBX_IGNORE_CONTEXTS
    ignore_exten_patterns: tuple[str, ...] = FREEPBX_IGNORE_PATTERNS

    # Supervision (seconds, on the injected clock).
    connect_timeout: float = Field(default=10.0, gt=0)
    action_timeout: float = Field(default=10.0, gt=0)
    ping_interval: float = Field(default=20.0, gt=0)
    ping_timeout: float = Field(default=10.0, gt=0)
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=60.0, gt=0)
    auth_failure_backoff: float = Field(default=300.0, gt=0)

    # Write-back (Teams -> PBX), DESIGN section 6.
    write_back: bool = True
    teams_family: str = "TEAMS"  # AstDB family and Custom:<prefix><ext> device
    blf_context: str = "teams-blf"
    freepbx_dnd_write: bool = False  # opt-in per adapter; the core opts in per person
    dnd_max_hold: float = Field(default=8 * 3600.0, gt=0)
    queue_pause_write: bool = False

    # Health (docs/asterisk.md "Health and counters").
    read_probe: bool = True  # verify read=call at login through Custom:<teams_family>-probe
    read_probe_timeout: float = Field(default=3.0, gt=0)
    write_failure_alarm: int = Field(default=3, ge=1)  # refused write-backs in a row -> DEGRADED + alarm

    @field_validator("ignore_exten_patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value

    @field_validator("wrapup_seconds")
    @classmethod
    def _wrapup_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(queue for queue, seconds in value.items() if seconds < 0)
        if bad:
            raise ValueError(f"wrap-up seconds must be >= 0 (queue {', '.join(bad)})")
        return value

    @field_validator("teams_family")
    @classmethod
    def _family_is_a_word(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,30}", value):
            raise ValueError("must be letters, digits or _ (it becomes an AstDB family and a device name)")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> AmiConfig:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be >= backoff_initial")
        return self

    @property
    def ignored_contexts(self) -> frozenset[str]:
        return frozenset((*self.ignore_contexts, self.blf_context))

    @property
    def teams_device_prefix(self) -> str:
        return f"Custom:{self.teams_family}"
