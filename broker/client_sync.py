"""SyncClient: every Client method, synchronously, for scripts and notebooks.

    with SyncClient("http://127.0.0.1:8080", token) as requester:
        requester.deposit(50_000_000, "EUR", idempotency_key="topup-2024-06")
        for batch in requester.batches():  # fetched a page at a time, as it is read
            print(batch["batch_id"])

The async Client runs on a private event loop in a background thread: a call waits for its
result there. So it also works where the calling thread already runs an event loop
(Jupyter), where asyncio.run would refuse. Listings and streams are plain iterators that
fetch lazily, one page or chunk at a time; leaving one early (break) stops its fetching.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Self, TypeVar

from broker.client import Client

T = TypeVar("T")
_DONE = object()

# The methods are generated from these two lists rather than written out: each is its async
# twin run on the private loop and nothing else, and 40 hand-written copies of the Client's
# signatures would drift from them. A generated method keeps the Client's signature and
# docstring (help(), Jupyter's Tab and Shift-Tab show them); tests/unit/test_client_sync.py
# fails when a public Client method is missing here. The price: static type checkers see
# the generated methods as Any.
CALLS = (
    "create_actor", "payout", "issue_token", "list_tokens", "revoke_token", "revoke_tokens",
    "deposit", "post_batch", "approve", "reject", "review", "overturn", "bonus", "cancel",
    "batch", "claim_next", "claim", "submit", "release", "dispute", "get", "call",
    "events_page", "create_webhook", "webhooks", "webhook", "delete_webhook", "enable_webhook",
    "claim_suite", "submit_many", "release_many", "scorecard", "statement", "statement_csv",
    "ready", "checkpoint",
)  # fmt: skip
# Async iterators on the Client, plain iterators here.
ITERATORS = (
    "batches", "batch_tasks", "review_queue", "results", "events", "follow_events",
    "webhook_deliveries", "task_groups",
)  # fmt: skip


async def _next(items: AsyncIterator[T]) -> T | object:
    try:
        return await items.__anext__()
    except StopAsyncIteration:  # a coroutine must not let it out: the caller stops on _DONE
        return _DONE


def _shut_down(loop: asyncio.AbstractEventLoop, client: Client, thread: threading.Thread) -> None:
    """Close the session, then stop and close the loop (its thread ends with it)."""
    if thread is threading.current_thread():  # collected on its own loop: no waiting here
        loop.call_soon(loop.stop)
        return
    try:
        for work in (client.close(), loop.shutdown_asyncgens()):  # open iterators' finally
            asyncio.run_coroutine_threadsafe(work, loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class SyncClient:
    """Client(base_url, token, retries=3, timeout=30), synchronously. Use it in a `with`
    block, or call close() when done; a client forgotten (a notebook's) is closed when it
    is collected or when Python exits."""

    def __init__(self, base_url: str, token: str | None = None, *, retries: int = 3,
                 timeout: float = 30) -> None:  # fmt: skip
        self.client = Client(base_url, token, retries=retries, timeout=timeout)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="piecework-client", daemon=True)  # fmt: skip
        self._thread.start()
        self._run(self.client.__aenter__())
        self._finalizer = weakref.finalize(self, _shut_down, self._loop, self.client,
                                           self._thread)  # fmt: skip

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session and stop the background thread (once; later calls do nothing)."""
        self._finalizer()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C while waiting: stop the request too, not just the wait
            future.cancel()
            raise

    def _iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        try:
            while (item := self._run(_next(items))) is not _DONE:
                yield item  # type: ignore[misc]
        finally:
            if not self._loop.is_closed():
                # RuntimeError: still running, as a Ctrl-C's cancellation reaches it; the
                # cancellation then closes it.
                with contextlib.suppress(RuntimeError):
                    self._run(items.aclose())  # type: ignore[attr-defined]


def _sync_method(name: str, iterate: bool) -> Callable[..., Any]:
    method = getattr(Client, name)

    @functools.wraps(method)
    def run(self: SyncClient, *args: Any, **kwargs: Any) -> Any:
        work = getattr(self.client, name)(*args, **kwargs)
        return self._iterate(work) if iterate else self._run(work)

    signature = inspect.signature(method)
    returns = signature.return_annotation
    if iterate and isinstance(returns, str):  # postponed annotations: strings
        returns = returns.replace("AsyncIterator", "Iterator")
    run.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
    run.__qualname__ = f"SyncClient.{name}"
    return run


for _name in CALLS:
    setattr(SyncClient, _name, _sync_method(_name, iterate=False))
for _name in ITERATORS:
    setattr(SyncClient, _name, _sync_method(_name, iterate=True))
