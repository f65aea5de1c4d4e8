"""Money is an integer count of micro-units (10^-6 of a currency unit), never a float.

The seed article's 0.03 euro-cent task is 300 micro-units: representable exactly.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICRO = 1_000_000
# Large enough for any marketplace, small enough to stay inside msgpack's int64.
MAX_AMOUNT = 10**15
CURRENCIES = frozenset({"EUR", "USD", "GBP"})


def parse_amount(text: str) -> int:
    """'0.0003' -> 300 micro-units, exactly; refuses more than 6 decimals."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {text!r}") from exc
    micro = value * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"{text!r} has more than 6 decimals")
    return int(micro)


def format_amount(micro: int, currency: str) -> str:
    """300, 'EUR' -> '0.000300 EUR' (for people; storage stays integer)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d} {currency}"


def percent_of(amount: int, basis_points: int) -> int:
    """Share of an amount in basis points (2000 = 20 %), rounded half up to the micro-unit."""
    return (amount * basis_points + 5_000) // 10_000
