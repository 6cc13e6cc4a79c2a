"""What a final answer to our SUBSCRIBE means, and how to say it to an admin. Pure.

``RESPONSE_TO_REACTION`` is the one table (RFC 3261 21, RFC 6665 4.1.2): a status we know ->
what the subscription does next and, for a refusal, a sentence that names the fix. Statuses not
in it fall back by class (``reaction_for``): 2xx accepted, 5xx retried with backoff, every other
final answer refused (retried only after the long refusal pause: an admin may still fix it).

Reactions:

* ``ACCEPTED``: the subscription is active for the granted Expires;
* ``CHALLENGED``: 401/407, digest answers it (``digest.Verdict`` decides retry or bad credentials);
* ``INTERVAL_TOO_BRIEF``: 423, retry at once asking for the server's ``Min-Expires``;
* ``RETRY``: transient (the dialog is gone, a timeout, the server is busy): a new subscription
  after a capped, jittered backoff, ``Retry-After`` honoured;
* ``REFUSED``: the PBX will not serve this subscription as configured; health says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reaction(StrEnum):
    ACCEPTED = "accepted"
    CHALLENGED = "challenged"
    INTERVAL_TOO_BRIEF = "interval_too_brief"
    RETRY = "retry"
    REFUSED = "refused"


_SUBSCRIBE_ALLOWED = (
    "allow this account to subscribe (Asterisk PJSIP: allow_subscribe=yes on the endpoint and the "
    "extension's hint in its subscribe_context; Kamailio/OpenSIPS/FreeSWITCH: the presence ACL)"
)

# status -> (reaction, admin sentence); {account}, {extension}, {event}, {status}, {reason} are filled in.
RESPONSE_TO_REACTION: dict[int, tuple[Reaction, str]] = {
    401: (Reaction.CHALLENGED, ""),
    407: (Reaction.CHALLENGED, ""),
    423: (Reaction.INTERVAL_TOO_BRIEF, ""),
    403: (
        Reaction.REFUSED,
        "the PBX forbids {account} to watch {extension} (403 {reason}): " + _SUBSCRIBE_ALLOWED,
    ),
    404: (
        Reaction.REFUSED,
        "the PBX does not know extension {extension} (404 {reason}): check the person's mapping, or "
        "give the extension a hint / BLF entry on the PBX",
    ),
    489: (
        Reaction.REFUSED,
        "the PBX does not serve the '{event}' event package (489 {reason}): enable BLF/presence "
        "subscriptions on the PBX, or drop '{event}' from the adapter's events",
    ),
    405: (
        Reaction.REFUSED,
        "the PBX does not accept SUBSCRIBE here (405 {reason}): point the adapter at the PBX's "
        "presence server, or enable subscriptions",
    ),
    501: (
        Reaction.REFUSED,
        "the PBX does not implement SUBSCRIBE (501 {reason}): it offers no BLF/presence to watchers",
    ),
    408: (Reaction.RETRY, ""),
    480: (Reaction.RETRY, ""),
    481: (Reaction.RETRY, ""),
    482: (Reaction.RETRY, ""),
    486: (Reaction.RETRY, ""),
    500: (Reaction.RETRY, ""),
    503: (Reaction.RETRY, ""),
    504: (Reaction.RETRY, ""),
}

_GENERIC_REFUSAL = "the PBX refused to let {account} watch {extension}'s '{event}' ({status} {reason})"


def reaction_for(status: int) -> tuple[Reaction, str]:
    """The table's row, or the fallback by status class (module docstring)."""
    row = RESPONSE_TO_REACTION.get(status)
    if row is not None:
        return row
    if 200 <= status < 300:
        return Reaction.ACCEPTED, ""
    if 500 <= status < 600:
        return Reaction.RETRY, ""
    return Reaction.REFUSED, _GENERIC_REFUSAL


@dataclass(frozen=True, slots=True)
class Words:
    """What the sentence templates may name (never a password)."""

    account: str
    extension: str
    event: str

    def refusal(self, template: str, status: int, reason: str) -> str:
        return template.format(
            account=self.account,
            extension=self.extension,
            event=self.event,
            status=status,
            reason=(reason or "").strip()[:60] or "no reason given",
        )

    def bad_credentials(self, realm: str, status: int) -> str:
        return (
            f"the PBX refused the password of {self.account} for realm '{realm[:60]}' ({status} again "
            "after a fresh nonce): fix the adapter's password (or password_file)"
        )

    def unsupported_auth(self, status: int) -> str:
        return (
            f"the PBX asks {self.account} for an authentication we cannot answer ({status}: no digest "
            "challenge with MD5, SHA-256 or SHA-512-256 and qop auth)"
        )

    def no_password(self, realm: str, status: int) -> str:
        return (
            f"the PBX asks {self.account} for a password for realm '{realm[:60]}' ({status}) and the "
            "adapter has none: set password (or password_file)"
        )

    def terminated(self, reason: str) -> str:
        return (
            f"the PBX ended {self.account}'s '{self.event}' subscription to {self.extension} "
            f"(reason={reason[:30]}) and asks us not to retry: " + _SUBSCRIBE_ALLOWED
        )
