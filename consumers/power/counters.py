"""Power as counters and a histogram that PromQL can window.

The power view's sums only grow (a rebuild from the log starts them again, which
Prometheus takes for a counter reset), so they are exported as they are: all-time totals
whose increase() over a window is that window's pay, work, reviews and rejections. The
ratios are recording rules (deploy/prometheus/recording.yml), over a window and over all
time; over all time the ratio of two counters is the report's own figure.

Labels only where the data splits: money per currency; work time, reviews and
rejections are not per currency in the view, so they carry none. Per requester: the top
K by reviews plus every requester the report flags as a rejection outlier (at most K
more), the rest summed as requester="other", so each family sums to the platform's total
and the label set stays bounded. Platform totals are families of their own: a requester
entering the top K moves its counts out of "other", which PromQL would read as a reset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from consumers.power.histogram import bucket_bounds
from consumers.power.snapshot import PowerData, Requester
from schemas.money import MICRO

OTHER = "other"
# Upper bounds (s) of the time-to-pay histogram: a minute to the default auto-approval
# delay (3 days) and beyond. A view bucket (4 per doubling) is counted under the first
# bound its upper edge does not pass, so a bound reads at most 25 % late.
TTP_BOUNDS = (60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 259200, 345600,
              604800)  # fmt: skip

# name -> (kind, help, labels), every family this module can yield
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "piecework_pay": ("counter", "Worker pay owed (rewards, bonuses, overturned rewards),"
                      " currency units", ("currency",)),
    "piecework_requester_pay": ("counter", "Worker pay owed by requester, currency units",
                                ("currency", "requester")),
    "piecework_fees": ("counter", "Platform fees charged, currency units", ("currency",)),
    "piecework_work_seconds": ("counter", "Work time of finished claims (submitted, released,"
                               " expired)", ()),
    "piecework_requester_work_seconds": ("counter", "Work time of finished claims on a"
                                         " requester's tasks", ("requester",)),
    "piecework_abandoned_work_seconds": ("counter", "Work time of released and expired"
                                         " claims: unpaid", ()),
    "piecework_rejected_work_seconds": ("gauge", "Work time of rejected submissions not"
                                        " overturned: unpaid (an overturn lowers it)", ()),
    "piecework_reviews": ("counter", "Submissions reviewed (approved, also automatically,"
                          " or rejected)", ()),
    "piecework_rejections": ("counter", "Submissions rejected (overturned ones included)",
                             ()),
    "piecework_requester_reviews": ("counter", "Submissions reviewed, by requester",
                                    ("requester",)),
    "piecework_requester_rejections": ("counter", "Submissions rejected, by requester",
                                       ("requester",)),
    "piecework_time_to_pay_seconds": ("histogram", "From submission to approval", ()),
}  # fmt: skip


def labelled(requesters: Sequence[Requester], flagged: Sequence[str], k: int) -> list[str]:
    """The requesters named in labels: the top k by reviews, then up to k flagged ones."""
    by_reviews = sorted(requesters, key=lambda r: (-r.reviewed, r.id))
    top = [r.id for r in by_reviews[:k] if r.reviewed]
    return top + [r for r in flagged if r not in top][:k]


def empty() -> dict[str, Metric]:
    """A family per name, with no sample: what describe() yields."""
    kinds = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily,
             "histogram": HistogramMetricFamily}  # fmt: skip
    return {name: kinds[kind](name, text, labels=list(labels))
            for name, (kind, text, labels) in FAMILIES.items()}  # fmt: skip


def platform_families(data: PowerData, names: Sequence[str]) -> list[Metric]:
    """What does not depend on the currency: work time, reviews, time to pay."""
    f = empty()
    reqs = data.requesters
    work_ms = sum(w.work_ms for w in data.workers)
    abandoned_ms = sum(r.unpaid_ms for r in reqs)  # released and expired claims
    f["piecework_work_seconds"].add_metric((), work_ms / 1000)
    f["piecework_abandoned_work_seconds"].add_metric((), abandoned_ms / 1000)
    unpaid_ms = sum(w.unpaid_ms for w in data.workers)  # abandoned + rejected
    f["piecework_rejected_work_seconds"].add_metric((), max(unpaid_ms - abandoned_ms, 0) / 1000)
    f["piecework_reviews"].add_metric((), sum(r.reviewed for r in reqs))
    f["piecework_rejections"].add_metric((), sum(r.rejected for r in reqs))
    for name, field, scale in (("piecework_requester_reviews", "reviewed", 1),
                               ("piecework_requester_rejections", "rejected", 1),
                               ("piecework_requester_work_seconds", "work_ms", 1000)):
        for requester, value in _split(reqs, names, field):
            f[name].add_metric((requester,), value / scale)  # fmt: skip
    buckets, total = ttp_buckets(data.ttp)
    f["piecework_time_to_pay_seconds"].add_metric((), buckets, total)
    return [f[name] for name in FAMILIES if name not in MONEY]


MONEY = ("piecework_pay", "piecework_requester_pay", "piecework_fees")


def money_families(data: PowerData, names: Sequence[str]) -> list[Metric]:
    """Pay and fees in `data.currency`; add them to the families of the other currencies."""
    f = empty()
    c = data.currency
    f["piecework_pay"].add_metric((c,), sum(w.paid for w in data.workers) / MICRO)
    f["piecework_fees"].add_metric((c,), sum(r.fees for r in data.requesters) / MICRO)
    for requester, value in _split(data.requesters, names, "paid"):
        f["piecework_requester_pay"].add_metric((c, requester), value / MICRO)
    return [f[name] for name in MONEY]


def merge(parts: Iterable[list[Metric]]) -> list[Metric]:
    """One family per name, with the samples of every part (e.g. every currency)."""
    found: dict[str, Metric] = {}
    for part in parts:
        for family in part:
            if family.name in found:
                found[family.name].samples.extend(family.samples)
            else:
                found[family.name] = family
    return list(found.values())


def _split(reqs: Sequence[Requester], names: Sequence[str], field: str) -> list[tuple[str, int]]:
    wanted = set(names)
    named = {r.id: getattr(r, field) for r in reqs if r.id in wanted}
    other = sum(getattr(r, field) for r in reqs if r.id not in wanted)
    return [(n, named.get(n, 0)) for n in names] + [(OTHER, other)]


def ttp_buckets(ttp: dict[int, int]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) from the view's log-linear buckets, and an approximate sum
    (each approval at its bucket's midpoint), in seconds."""
    edges = {index: bucket_bounds(index) for index in ttp}
    cumulative = [(str(float(le)), float(sum(n for i, n in ttp.items()
                                             if edges[i][1] <= le * 1000)))
                  for le in TTP_BOUNDS]  # fmt: skip
    cumulative.append(("+Inf", float(sum(ttp.values()))))
    total = sum(n * (edges[i][0] + edges[i][1]) / 2000 for i, n in ttp.items())
    return cumulative, total
