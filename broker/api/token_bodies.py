"""Request bodies of the token endpoints (kept apart from bodies.py, which others edit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenBody:
    # True: the new token becomes the actor's only one (rotation), all others are revoked.
    revoke_existing: bool = False
