"""The views' Faust app: read committed, and positioned by the view store, not the group.

faust-streaming 0.15 seeks stream partitions in one place, `Consumer.perform_seek`: after
every rebalance (tables/recovery.py, `_resume_streams` / `on_recovery_completed`, once
recovery is done and just before the flow resumes) and whenever a fetch returns while the
flow is stopped (`Consumer.getmany`). Both seek to the group's committed offsets; a seek
made earlier (an `on_partitions_assigned` or `on_rebalance_complete` handler) would be
overwritten, so this consumer overrides `perform_seek` itself.

The group's committed offsets are then moved to the store's positions, so the consumer
lag seen by the broker (`piecework lag`, the Prometheus gauge) stays truthful, e.g. it
jumps up while the views are rebuilt after a flush. They are never read back as a
position.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from faust.types import TP

from consumers.engine.faust_transport import ReadCommittedApp, ReadCommittedTransport

log = logging.getLogger(__name__)
# Given the assignment: the next offset to read for each partition the store positions
# (None: from the log start). Partitions left out keep the group's committed offset.
Positions = Callable[[Iterable[TP]], Awaitable[dict[TP, int | None]]]


class _StorePositionedConsumer(ReadCommittedTransport.Consumer):  # type: ignore[name-defined]
    async def perform_seek(self) -> None:
        positions: Positions | None = getattr(self.app, "store_positions", None)
        if positions is None:
            raise RuntimeError("ViewsApp.store_positions is not set")
        # Faust's own seek first: it keeps partitions the store does not position (Faust's
        # assignor leader topic) where the group left them.
        await super().perform_seek()
        wanted = await positions(self.assignment())
        start = [tp for tp, offset in wanted.items() if offset is None]
        earliest = await self.earliest_offsets(*start) if start else {}
        targets: dict[TP, int] = {}
        moved: dict[TP, tuple[int, int]] = {}
        for tp, offset in sorted(wanted.items()):
            target = int(earliest[tp]) if offset is None else offset
            was = self._committed_offset.get(tp) or 0
            if was != target:
                moved[tp] = (was, target)
            await self.seek(tp, target)
            # Faust's ack bookkeeping starts over from the store's position.
            self._committed_offset[tp] = target or None
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
            self._gap.pop(tp, None)
            targets[tp] = target
        if moved:
            log.info("views resume from the store, not the group: %s", _show(moved))
            try:
                await self._commit({tp: targets[tp] for tp in moved})
            except Exception as exc:  # only the lag gauge depends on it
                log.warning("could not move the group's offsets to the store's: %r", exc)

    async def commit_past_markers(self, topic: str) -> None:
        """Commit the log end of idle partitions whose last records are markers.

        Faust commits one past the last record it acked, so a transactional log's closing
        marker keeps every idle partition one offset behind for ever, and the broker-side
        lag (`piecework lag --wait`) never reads 0. When no delivered record of a partition
        waits for its ack or its commit and the consumer's position is the log end, what
        lies between is markers (or, for an instant, a fetched record on its way to the
        stream: only the lag gauge could be early, never a view, whose position is in the
        store).
        """
        waiting = {message.tp for message in list(self._unacked_messages)}
        for tp in self.assignment():
            if tp.topic != topic or tp in waiting or self._acked.get(tp):
                continue
            committed = self._committed_offset.get(tp) or 0
            position = await self.position(tp)
            if position is not None and position > committed and position == self.highwater(tp):
                self._committed_offset[tp] = position
                await self._commit({tp: position})

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Faust 0.15 records the offsets a read skipped (transaction markers, aborted
        # records) as [previous + 1, offset], the received offset included; acked once more
        # it is a duplicate, and `_new_offset` (consecutive_numbers) stops there: each
        # commit then advances one transaction only and the group lags thousands of
        # records behind a transactional log. The gap is what was skipped, nothing more.
        await super()._add_gap(tp, offset_from, offset_to - 1)


def _show(moved: dict[TP, tuple[int, int]]) -> str:
    return ", ".join(f"p{tp.partition} {a}->{b}" for tp, (a, b) in sorted(moved.items()))


class ViewsTransport(ReadCommittedTransport):
    Consumer = _StorePositionedConsumer


class ViewsApp(ReadCommittedApp):
    """Set `store_positions` before the worker starts; the consumer asks it on every seek."""

    store_positions: Positions | None = None

    def _new_transport(self):  # type: ignore[no-untyped-def]
        return ViewsTransport(self.conf.broker_consumer, self)
