"""What the platform owes and has let slip: money owed by stage, reviews past deadline.

A collector the timer role registers (once per deployment), computed when scraped and
cached a few seconds like the power figures:
- piecework_money_owed{currency, stage}: "uncredited" is approved work not yet in a
  wallet (a WorkerCredited away: seconds), "unpaid" is wallet balances not paid out yet
  (the payout run's business); from the ledger view's conservation sums;
- piecework_money_credited_total / piecework_payouts_total{currency}: what has moved, so
  an alert can tell money owed and moving from money owed and stuck;
- piecework_reviews_past_deadline: submissions whose auto-approval instant has passed
  (by the broker's clock) and that are still pending: the timer should have approved
  them; and the age of the oldest one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumers.stores.store import Reader
from consumers.views.deadlines import AUTO_APPROVE
from consumers.views.ledger import ledger_totals
from schemas.money import MICRO

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0
MAX_COUNTED = 10_000  # overdue reviews counted exactly up to this many (one ZRANGEBYSCORE)
OWED = {"uncredited": "owed", "unpaid": "worker_balances"}  # stage -> ledger_totals sum


def families() -> dict[str, Metric]:
    return {
        "owed": GaugeMetricFamily("piecework_money_owed", "Money owed to workers, currency"
                                  " units: uncredited (approved, not in a wallet yet) or"
                                  " unpaid (in wallets, not paid out)",
                                  labels=["currency", "stage"]),
        "credited": CounterMetricFamily("piecework_money_credited", "Money credited to"
                                        " worker wallets, currency units", labels=["currency"]),
        "payouts": CounterMetricFamily("piecework_payouts", "Money paid out to workers,"
                                       " currency units", labels=["currency"]),
        "overdue": GaugeMetricFamily("piecework_reviews_past_deadline", "Pending submissions"
                                     f" past their auto-approval instant (at most {MAX_COUNTED})"),
        "oldest": GaugeMetricFamily("piecework_reviews_past_deadline_oldest_seconds",
                                    "How long the oldest overdue submission has waited past"
                                    " its auto-approval instant (0 when none)"),
    }  # fmt: skip


class BacklogCollector(Collector):
    def __init__(self, reader: Reader, now_ms: Callable[[], int],
                 cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.reader = reader
        self.now_ms = now_ms  # the broker's clock (virtual in the demo), not the host's
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at: float | None = None

    def describe(self) -> Iterable[Metric]:
        yield from families().values()  # names only: registering reads nothing

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.cache_seconds:
                self._cached = self._compute()
                self._at = now
            return list(self._cached)

    def _compute(self) -> list[Metric]:
        f = families()
        try:
            for currency, sums in ledger_totals(self.reader).items():
                for stage, name in OWED.items():
                    f["owed"].add_metric((currency, stage), sums.get(name, 0) / MICRO)
                f["credited"].add_metric((currency,), sums.get("credited", 0) / MICRO)
                f["payouts"].add_metric((currency,), sums.get("payouts", 0) / MICRO)
            now = self.now_ms()
            overdue = self.reader.zrangebyscore(AUTO_APPROVE, now, MAX_COUNTED)
            f["overdue"].add_metric((), len(overdue))
            oldest = min((score for _, score in overdue), default=now)
            f["oldest"].add_metric((), max(now - oldest, 0) / 1000)
        except Exception:  # Redis away: no figures this period, the scrape goes on
            log.exception("backlog figures failed")
            return []
        return list(f.values())
