"""PIECEWORK_EVENT_LOOP picks the loop every later asyncio.run creates."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from runtime import event_loop
from runtime.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def _default_policy_after():
    yield
    asyncio.set_event_loop_policy(None)


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_the_coroutines() -> None:
    event_loop.install("uvloop")
    assert asyncio.run(_loop_type()) is uvloop.Loop


def test_asyncio_puts_back_the_default_loop() -> None:
    event_loop.install("uvloop")
    event_loop.install("asyncio")
    assert asyncio.run(_loop_type()) is not uvloop.Loop


def test_the_setting_names_the_choices() -> None:
    assert Settings.from_env({"PIECEWORK_EVENT_LOOP": "UVLOOP"}).event_loop == "uvloop"
    with pytest.raises(SettingsError, match="PIECEWORK_EVENT_LOOP must be one of asyncio, uvloop"):
        Settings.from_env({"PIECEWORK_EVENT_LOOP": "trio"})
