"""The watcher's answers to 401/407 challenges for one subscription, and when to give up.

``digest.DigestClient`` computes the answers (nonce reuse with nc, stale=true); this adds what a
subscription needs around it: no password configured is a refusal in itself, a challenge we cannot
answer (an unknown algorithm or qop) is named as such, and a password counts as wrong when the
digest says so or after ``max_rounds`` challenges in a row (a stale nonce is not a round).
"""

from __future__ import annotations

import random
from enum import StrEnum

from adapters.sip_blf.digest import DigestClient, DigestError, Verdict, parse_challenge
from adapters.sip_blf.message import SipResponse, auth_challenges


class Challenged(StrEnum):
    NO_PASSWORD = "no_password"
    UNSUPPORTED = "unsupported"
    REJECTED = "rejected"  # the password is wrong: BAD_CREDENTIALS
    STALE = "stale"  # answer again, not a failure
    ANSWER = "answer"  # answer the challenge


class Credentials:
    def __init__(self, auth_user: str, password: str | None, rng: random.Random, max_rounds: int) -> None:
        self._digest = DigestClient(
            auth_user, password or "", cnonce_source=lambda: f"{rng.getrandbits(64):016x}"
        )
        self._has_password = password is not None
        self._max_rounds = max_rounds
        self._rounds = 0

    def authorization(self, uri: str) -> list[tuple[str, str]]:
        """The Authorization/Proxy-Authorization headers for a SUBSCRIBE to ``uri`` (none yet: [])."""
        return self._digest.authorization("SUBSCRIBE", uri) if self._has_password else []

    def challenged(self, response: SipResponse) -> tuple[Challenged, str]:
        """What to do about a 401/407, and the realm it named (for the admin's words)."""
        try:
            parsed = [
                parse_challenge(value, proxy=name == "Proxy-Authenticate")
                for name, value in auth_challenges(response)
            ]
            challenges = [c for c in parsed if c is not None]
        except DigestError:
            challenges = []
        realm = challenges[0].realm if challenges else ""
        if not self._has_password:
            return Challenged.NO_PASSWORD, realm
        verdict = self._digest.challenged(challenges)
        if verdict is Verdict.STALE:
            return Challenged.STALE, realm
        self._rounds += 1
        if verdict is Verdict.UNSUPPORTED:
            return Challenged.UNSUPPORTED, realm
        if verdict is Verdict.REJECTED or self._rounds > self._max_rounds:
            self._digest.forget()
            return Challenged.REJECTED, realm
        return Challenged.ANSWER, realm

    def reset(self) -> None:
        """Accepted, or a fresh dialog: the rounds start again."""
        self._rounds = 0
