"""Invariant 4: replaying the log rebuilds views identical to the live ones.

Both sides are digested per registered view (consumers.engine.runner.digests) at the same
positions: the replay stops, per partition, where the live view's stored position says it
stopped.
"""

from __future__ import annotations

from collections.abc import Mapping


def check(replayed: Mapping[str, str], live: Mapping[str, str]) -> list[str]:
    found = []
    for view in sorted(set(replayed) | set(live)):
        mine, theirs = replayed.get(view), live.get(view)
        if mine != theirs:
            found.append(f"view {view}: replay digest {str(mine)[:12]} != live {str(theirs)[:12]}")
    return found
