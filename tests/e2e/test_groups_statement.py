"""Task groups, scorecards and statements against the real stack: a worker sees only the
groups it qualifies for; a scripted history (approved with a bonus, released, expired,
rejected and overturned on dispute, rejected, pending) gives the statement a hand
computation from the worker's own events gives; a scorecard is the power report's figures;
hostile inputs get 4xx JSON. The clock runs 60x so a lease expires in a fraction of a
second. No timing assertions: deadlines only."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from broker.client import Client
from consumers.power.figures import summarize
from consumers.power.snapshot import collect
from consumers.stores.redis_store import RedisStore
from deploy.cli import main
from testkit.stack_processes import Stack, running_stack_on_a_free_db, until_seen

CANDIDATE_DBS = (8, 4, 3)
LONG = {"lease_seconds": 3_600}
PLAIN = {"kind": "survey", "reward": 100_000, "currency": "EUR", "estimated_seconds": 60,
         "payload": {"q": "plain"}, **LONG}
FRENCH = {**PLAIN, "reward": 200_000, "qualifications": ["fr"], "payload": {"q": "fr"}}
SHORT = {**PLAIN, "lease_seconds": 10, "payload": {"q": "expires"}}  # same group as PLAIN
ZETA = {"kind": "survey", "reward": 50_000, "currency": "EUR", "estimated_seconds": 30,
        "payload": {"q": "zeta"}, **LONG}
BONUS = 30_000


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, redis_url, tmp_path_factory) -> Iterator[Stack]:
    with running_stack_on_a_free_db(
            kafka_bootstrap, redis_url, tmp_path_factory.mktemp("groups"), CANDIDATE_DBS,
            clock_speed=60,
            extra_env={"PIECEWORK_RATE_LIMIT": "100000", "PIECEWORK_RATE_BURST": "100000"},
    ) as running:
        yield running


class Market:
    """Two requesters, a French-speaking worker and another one, all with clients."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.tag = stack, uuid.uuid4().hex[:6]
        self.ids = {name: f"{name}-{self.tag}" for name in ("acme", "zeta", "ana", "bob")}
        self.clients: dict[str, Client] = {}

    async def __aenter__(self) -> Market:
        async with Client(self.stack.url, self.stack.operator_token) as op:
            tokens = {
                "acme": await op.create_actor(self.ids["acme"], "requester"),
                "zeta": await op.create_actor(self.ids["zeta"], "requester"),
                "ana": await op.create_actor(self.ids["ana"], "worker", ["fr"]),
                "bob": await op.create_actor(self.ids["bob"], "worker"),
            }
        for name, token in tokens.items():
            self.clients[name] = await Client(self.stack.url, token, timeout=120,
                                              retries=8).__aenter__()  # fmt: skip
        self.tokens = tokens
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            await client.close()

    def __getitem__(self, name: str) -> Client:
        return self.clients[name]


async def raw(stack: Stack, token: str, path: str,
              headers: dict[str, str] | None = None) -> tuple[int, str, str]:  # fmt: skip
    auth = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with aiohttp.ClientSession() as session, session.get(stack.url + path,
                                                               headers=auth) as r:  # fmt: skip
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def groups_of(client: Client, sort: str = "reward_per_hour",
                    limit: int = 100) -> list[dict[str, Any]]:  # fmt: skip
    return [g async for g in client.task_groups(sort, limit=limit)]


def mine(groups: list[dict[str, Any]], m: Market) -> list[dict[str, Any]]:
    return [g for g in groups if g["requester_id"] in (m.ids["acme"], m.ids["zeta"])]


def test_groups_scorecards_and_a_statement_equal_to_the_hand_computation(
        stack: Stack, capsys: pytest.CaptureFixture) -> None:
    tokens, ids, statement = asyncio.run(scripted_history(stack))
    # the CLI shows the same figures
    at = ["--url", stack.url, "--token", tokens["ana"]]
    capsys.readouterr()
    assert main(["statement", "--json", *at]) == 0
    assert json.loads(capsys.readouterr().out) == statement
    assert main(["statement", "--csv", *at]) == 0
    lines = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["requester_id"] for r in lines] == [ids["acme"], ids["zeta"], ""]
    assert main(["groups", "--json", *at]) == 0
    groups = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {g["requester_id"] for g in groups} >= {ids["acme"]}
    assert main(["scorecard", ids["zeta"], "--json", *at]) == 0
    assert json.loads(capsys.readouterr().out)["overturned"] == 1
    for argv in (["groups"], ["scorecard", ids["zeta"]], ["statement"]):
        assert main([*argv, *at]) == 0  # the tables
    assert ids["zeta"] in capsys.readouterr().out


async def scripted_history(stack: Stack) -> tuple[dict[str, str], dict[str, str], Any]:
    async with Market(stack) as m:
        acme, zeta, ana, bob = m["acme"], m["zeta"], m["ana"], m["bob"]
        await acme.deposit(10**9, "EUR")
        await zeta.deposit(10**9, "EUR")
        plain = (await acme.post_batch("plain", [PLAIN, PLAIN]))["task_ids"]
        french = (await acme.post_batch("fr", [FRENCH]))["task_ids"]
        short = (await acme.post_batch("short", [SHORT]))["task_ids"]
        zs = (await zeta.post_batch("z", [ZETA, ZETA]))["task_ids"]

        # --- groups: each worker sees only what it qualifies for
        last: list[Any] = []

        async def three_groups() -> list[dict[str, Any]]:
            found = mine(await groups_of(ana), m)
            last[:] = [found]
            counts = sorted((g["reward"], g["open_tasks"]) for g in found)
            return found if counts == [(50_000, 2), (100_000, 3), (200_000, 1)] else []

        try:
            seen = await until_seen("ana's three groups", three_groups)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen {last}") from None
        assert [(g["requester_id"], g["reward"]) for g in seen] == [
            (m.ids["acme"], 200_000),  # 12 EUR an hour
            *sorted([(m.ids["acme"], 100_000), (m.ids["zeta"], 50_000)],
                    key=lambda rg: next(g["group_id"] for g in seen  # 6 EUR an hour each:
                                        if (g["requester_id"], g["reward"]) == rg)),  # by id
        ]  # fmt: skip
        by_reward = {g["reward"]: g for g in seen}
        assert by_reward[200_000]["qualifications"] == ["fr"]
        assert by_reward[200_000]["reward_per_hour"] == 12_000_000
        assert (by_reward[100_000]["open_tasks"], by_reward[100_000]["free_assignments"]) == (3, 3)
        assert by_reward[50_000]["requester"]["requester_id"] == m.ids["zeta"]
        assert by_reward[50_000]["requester"]["effective_hourly_wage"]["status"] == \
            "insufficient_data"  # fmt: skip
        bobs = mine(await groups_of(bob), m)
        assert sorted(g["reward"] for g in bobs) == [50_000, 100_000]  # no French for bob
        paged = mine(await groups_of(ana, "newest", limit=1), m)  # one group a page
        assert sorted(g["group_id"] for g in paged) == sorted(g["group_id"] for g in seen)
        assert mine(await groups_of(ana, "newest"), m)[0]["reward"] == 50_000  # posted last

        # --- the scripted history of ana
        c1 = await ana.claim(plain[0])
        s1 = await ana.submit(c1["claim_id"], {"a": 1})
        await acme.approve(s1["submission_id"])
        await acme.bonus(plain[0], m.ids["ana"], BONUS, "well done")
        c2 = await ana.claim(plain[1])
        await ana.release(c2["claim_id"])
        c3 = await ana.claim(short[0])
        await until_seen("the short lease's expiry", lambda: _status_is(
            ana, c3["claim_id"], "expired"))
        c4 = await ana.claim(zs[0])
        s4 = await ana.submit(c4["claim_id"], {"a": 4})
        await zeta.reject(s4["submission_id"], "not convinced")
        await ana.dispute(s4["submission_id"], "it was right")
        await zeta.overturn(s4["submission_id"])
        c5 = await ana.claim(zs[1])
        s5 = await ana.submit(c5["claim_id"], {"a": 5})
        await zeta.reject(s5["submission_id"], "wrong")
        c6 = await ana.claim(french[0])
        await ana.submit(c6["claim_id"], {"a": 6})  # never reviewed: pending

        # --- the statement, once the views have folded it all (the credits included)
        async def settled() -> dict[str, Any]:
            found = await ana.statement()
            overall = found["overall"]
            done = (overall["submitted"], overall["approved"], overall["rejected"],
                    overall["overturned"], overall["released"], overall["expired"],
                    found["money"]["owed"], overall["paid"]) == (
                    4, 1, 2, 1, 1, 1, 0, 100_000 + BONUS + 50_000)  # fmt: skip
            return found if done else {}

        statement = await until_seen("ana's statement", settled)
        expected = await hand_statement(ana, m)
        assert [_times(r) for r in statement["by_requester"]] == \
            [expected[m.ids["acme"]], expected[m.ids["zeta"]]]  # fmt: skip
        acme_row, zeta_row = statement["by_requester"]
        assert (acme_row["pay"], acme_row["bonuses"], acme_row["paid"]) == (100_000, BONUS,
                                                                            130_000)
        assert (zeta_row["pay"], zeta_row["bonuses"], zeta_row["paid"]) == (50_000, 0, 50_000)
        for row in statement["by_requester"]:
            assert row["effective_hourly_wage"] == _wage(row["paid"], row["work_ms"])
        overall = statement["overall"]
        assert overall["work_ms"] == acme_row["work_ms"] + zeta_row["work_ms"]
        assert overall["unpaid_ms"] == acme_row["unpaid_ms"] + zeta_row["unpaid_ms"]
        assert overall["effective_hourly_wage"] == _wage(180_000, overall["work_ms"])
        ledger = await ana.get("/v1/ledger")
        eur = ledger["accounts"]["EUR"]
        assert statement["money"]["earned"] == eur["earned"] == 180_000
        assert statement["money"]["balance"] == eur["balance"] == 180_000
        assert statement["money"]["pending"] == 180_000 and statement["money"]["paid_out"] == 0

        # the same statement as CSV
        text = await ana.statement_csv()
        lines = list(csv.DictReader(io.StringIO(text)))
        assert [(r["line"], r["requester_id"]) for r in lines] == [
            ("requester", m.ids["acme"]), ("requester", m.ids["zeta"]), ("overall", "")]
        assert int(lines[2]["paid"]) == 180_000 and int(lines[2]["earned"]) == 180_000
        assert int(lines[1]["unpaid_rejected_ms"]) == zeta_row["unpaid_by_cause_ms"]["rejected"]
        status, kind, _ = await raw(stack, m.tokens["ana"], "/v1/me/statement",
                                    {"Accept": "text/csv"})  # fmt: skip
        assert status == 200 and kind.startswith("text/csv")

        # --- the same worker's figures in the power report, and each scorecard in it
        report = summarize(collect(RedisStore.from_url(stack.env["PIECEWORK_REDIS"]), "EUR"),
                           6_000_000)  # fmt: skip
        for name in ("acme", "zeta"):
            card = await bob.scorecard(m.ids[name])
            assert card == report["scorecards"][m.ids[name]], name
        card = await bob.scorecard(m.ids["zeta"])
        assert (card["reviewed"], card["rejected"], card["disputed"], card["overturned"]) == \
            (2, 2, 1, 1)  # fmt: skip
        assert card["rejection_rate"]["status"] == "insufficient_data"  # 2 reviews
        assert card["promised_hourly_wage"] == 6_000_000

        # the groups now: the fr and zeta tasks are taken; the plain group has its released
        # and its expired task back
        after = {g["reward"]: g for g in mine(await groups_of(ana), m)}
        assert 200_000 not in after and 50_000 not in after
        assert (after[100_000]["open_tasks"], after[100_000]["free_assignments"]) == (2, 2)
        return m.tokens, m.ids, await ana.statement()


async def _status_is(client: Client, claim_id: str, status: str) -> bool:
    return (await client.get(f"/v1/claims/{claim_id}")).get("status") == status


def _wage(paid: int, work_ms: int) -> int:
    return (2 * paid * 3_600_000 + work_ms) // (2 * work_ms)


def _times(row: dict[str, Any]) -> dict[str, int]:
    return {"work_ms": row["work_ms"], **row["unpaid_by_cause_ms"],
            "submitted": row["submitted"], "approved": row["approved"]}  # fmt: skip


async def hand_statement(worker: Client, m: Market) -> dict[str, dict[str, int]]:
    """Per requester: work time of each claim from the worker's own events (its end's instant
    minus when it began), put under the cause its outcome says."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("work_ms", "rejected", "released", "expired", "pending", "submitted", "approved"), 0))
    work_of: dict[str, tuple[str, int]] = {}  # submission -> requester, work ms
    outcome: dict[str, str] = {}
    async for event in worker.events():
        data, kind = event["data"], event["type"]
        requester = data.get("task_id", "").split(":")[0]
        if kind in ("ClaimReleased", "ClaimExpired", "WorkSubmitted"):
            ms = event["at"] - data["claimed_at"]
            rows[requester]["work_ms"] += ms
            if kind == "WorkSubmitted":
                rows[requester]["submitted"] += 1
                work_of[data["submission_id"]] = requester, ms
            else:
                rows[requester]["released" if kind == "ClaimReleased" else "expired"] += ms
        elif kind in ("SubmissionApproved", "SubmissionRejected", "RejectionOverturned"):
            outcome[data["submission_id"]] = kind
            if kind == "SubmissionApproved":
                rows[requester]["approved"] += 1
    for sid, (requester, ms) in work_of.items():
        state = outcome.get(sid)
        if state is None:
            rows[requester]["pending"] += ms
        elif state == "SubmissionRejected":
            rows[requester]["rejected"] += ms
    return dict(rows)


def test_hostile_inputs_are_refused_with_json(stack: Stack):
    asyncio.run(hostile(stack))


async def hostile(stack: Stack) -> None:
    async with Market(stack) as m:
        ana, acme = m.tokens["ana"], m.tokens["acme"]
        cases = [
            (ana, "/v1/task-groups?cursor=not-a-cursor", 422),
            (ana, "/v1/task-groups?cursor=WzEsMl0", 422),  # [1,2]: not ours
            (ana, "/v1/task-groups?sort=cheapest", 422),
            (ana, "/v1/task-groups?limit=0", 422),
            (ana, "/v1/task-groups?limit=100000", 422),
            (acme, "/v1/task-groups", 403),
            (ana, "/v1/requesters/nobody-at-all/scorecard", 404),
            (ana, f"/v1/requesters/{m.ids['bob']}/scorecard", 404),  # a worker, not a requester
            (ana, f"/v1/requesters/{m.ids['acme']}/scorecard?currency=XXX", 422),
            (ana, "/v1/requesters/" + "x" * 300 + "/scorecard", 400),
            (ana, "/v1/me/statement?format=xml", 422),
            (ana, "/v1/me/statement?currency=eur", 422),
            (acme, "/v1/me/statement", 403),
            ("not-a-token", "/v1/me/statement", 401),
            (ana, f"/v1/workers/{m.ids['bob']}/statement", 404),  # no way to name another
        ]
        for token, path, expected in cases:
            status, kind, body = await raw(stack, token, path)
            assert status == expected, (path, status, body)
            assert kind.startswith("application/json") and '"code"' in body, (path, body)
        # a worker id in the query is not read: the statement is always the caller's own
        found = await m["ana"].get(f"/v1/me/statement?worker_id={m.ids['bob']}")
        assert found["worker_id"] == m.ids["ana"]
        status, _, _ = await raw(stack, ana, f"/v1/requesters/{m.ids['acme']}/scorecard")
        assert status == 200
