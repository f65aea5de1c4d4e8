"""A deployment's platform Policy: the knobs come from the settings, the rules from the
domain. Built here, in the composition layer, because runtime (the settings) sits below
broker (the Policy) and must not import it."""

from __future__ import annotations

from broker.domain.policy import Policy
from runtime.settings import Settings


def policy_for(settings: Settings) -> Policy:
    return Policy(**settings.policy_knobs())
