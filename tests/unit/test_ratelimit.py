from broker.api.ratelimit import RateLimiter


def test_a_burst_passes_then_the_rate_holds() -> None:
    limiter = RateLimiter(rate_per_second=10, burst=5)
    assert [limiter.allow("a", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.retry_after("a") > 0
    assert limiter.allow("a", 0.1)  # one token back after 1/rate seconds
    assert not limiter.allow("a", 0.1)


def test_actors_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1)
    assert limiter.allow("a", 0.0)
    assert not limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)


def test_the_table_stays_bounded_without_changing_decisions() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=2, max_actors=3)
    for actor in "abcd":
        limiter.allow(actor, 0.0)
    assert len(limiter._buckets) <= 4
    assert limiter.allow("a", 100.0)
