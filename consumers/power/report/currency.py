"""Who belongs in a report in one currency. Pure.

The power view keeps a requester's reviews and work across currencies and its money per
currency, so a requester that only ever posted in USD would show in the EUR report with a
spend of 0.00 and its reviews mixed into the EUR platform rate. The report keeps the
requesters with money in its currency: terms posted in it, or spend in it.
"""

from __future__ import annotations

import dataclasses

from consumers.power.snapshot import PowerData, Requester


def has_currency(r: Requester) -> bool:
    return r.spend > 0 or r.offered > 0


def in_currency(data: PowerData) -> PowerData:
    """`data` without the requesters that have nothing in its currency."""
    return dataclasses.replace(data, requesters=[r for r in data.requesters if has_currency(r)])
