"""Which asyncio event loop the API, the views and the webhook sender run on.

uvloop (libuv) replaces asyncio's pure-Python selector loop; whether it pays is decided by
bench/uvloop_compare.py (docs/DESIGN.md "uvloop"), so it is a setting, not a given.
"""

from __future__ import annotations

import asyncio

EVENT_LOOPS = ("asyncio", "uvloop")


def install(name: str) -> None:
    """Make `name` the loop every later asyncio.run / get_event_loop creates."""
    if name == "uvloop":
        import uvloop  # a dependency; imported here so the asyncio setting never needs it

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)  # asyncio's default policy
