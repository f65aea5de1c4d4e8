"""SyncClient wraps every public Client method; its wrappers say what the Client says.
(Its behaviour against a running API: tests/e2e/test_sync_client.py.)"""

from __future__ import annotations

import inspect

from broker.client import Client
from broker.client_sync import CALLS, ITERATORS, SyncClient

# The transport's own parts, not API calls: a SyncClient has its own close().
NOT_WRAPPED = {"close", "auth", "command", "pages", "session"}


def test_every_public_client_method_is_wrapped_once():
    public = {name for name in dir(Client) if not name.startswith("_")}
    assert set(CALLS).isdisjoint(ITERATORS)
    assert len(CALLS) == len(set(CALLS)) and len(ITERATORS) == len(set(ITERATORS))
    assert public - NOT_WRAPPED == set(CALLS) | set(ITERATORS)


def test_iterators_are_the_async_iterators_of_the_client():
    for name in ITERATORS:
        method = getattr(Client, name)
        returns = inspect.signature(method).return_annotation
        assert inspect.isasyncgenfunction(method) or "AsyncIterator" in str(returns), name
    for name in CALLS:
        assert inspect.iscoroutinefunction(getattr(Client, name)), name


def test_wrappers_keep_the_signature_and_the_docstring():
    deposit = inspect.signature(SyncClient.deposit)
    assert list(deposit.parameters) == ["self", "amount", "currency", "idempotency_key"]
    assert SyncClient.deposit.__doc__ == Client.deposit.__doc__
    assert SyncClient.deposit.__qualname__ == "SyncClient.deposit"
    assert "Iterator" in str(inspect.signature(SyncClient.events).return_annotation)
    assert "Async" not in str(inspect.signature(SyncClient.events).return_annotation)


def test_every_command_takes_a_caller_chosen_idempotency_key():
    commands = [name for name in CALLS
                if name not in ("get", "call", "batch", "list_tokens", "events_page",
                                "webhooks", "webhook", "scorecard", "statement",
                                "statement_csv", "ready", "checkpoint")]  # fmt: skip
    for name in commands:
        assert "idempotency_key" in inspect.signature(getattr(Client, name)).parameters, name
