"""Figures for people: money to the cent, shares in percent, durations in words."""

from __future__ import annotations

from schemas.money import MICRO


def money(micro: int | None, currency: str, decimals: int = 2) -> str:
    """866_667, 'EUR' -> '0.87 EUR', rounded half up in integers (no float on money)."""
    if micro is None:
        return "n/a"
    unit = 10 ** (6 - decimals)
    sign, cents = ("-" if micro < 0 else ""), (abs(micro) + unit // 2) // unit
    whole, frac = divmod(cents, 10**decimals)
    tail = f".{frac:0{decimals}d}" if decimals else ""
    return f"{sign}{whole:,}{tail} {currency}"


def per_hour(micro: int | None, currency: str) -> str:
    return "n/a" if micro is None else money(micro, currency) + "/h"


def units(micro: int) -> float:
    """Micro-units as a float of currency units: for plot axes only."""
    return micro / MICRO


def pct(share: float | None, digits: int = 1) -> str:
    return "n/a" if share is None else f"{100 * share:.{digits}f} %"


def duration(seconds: int | None) -> str:
    """61 -> '1 min', 5_400 -> '1.5 h', 259_200 -> '3.0 days'."""
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7_200:
        return f"{round(seconds / 60)} min"
    if seconds < 172_800:
        return f"{seconds / 3_600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def number(x: float | int | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"
