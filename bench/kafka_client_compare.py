"""The processor's Kafka loop on kafka-python beside confluent-kafka (librdkafka), one run.

Standalone (the processor is not touched): a commands topic is filled with real encoded
commands (ClaimTask envelopes), then each client runs the processor's consume-decide-
produce loop against the local Kafka, in its own process, with the processor's settings
(broker/processor/service.py: read_committed, no auto commit, up to 1,000 records a
poll, fetch wait 50 ms, linger 1 ms, transactional id, retry backoff 5 ms, 512 KiB
batches): per poll, begin a transaction, decode each command (schemas.codec), write an
events record and a reply for it, send the consumed offsets to the transaction
(send_offsets_to_transaction with the consumer's group metadata, KIP-447) and commit.
The "decision" is the decode and re-encode only, so the figures are the client's cost.

Two shapes: `backlog` (N commands waiting: big transactions, as under ingest) and
`one-by-one` (a transaction per command, as under claims at low rate). The process's CPU
(every thread: kafka-python's sender and IO, librdkafka's) per command and the wall time
are reported, medians of `--repeat` alternating runs, with confluent/kafka-python ratios.

    .venv/bin/python -m bench.kafka_client_compare [--commands 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from bench.common import KAFKA, ROOT, console, tag

CLIENT_SCRIPT = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
client, bootstrap, src, dst, group, n, per_txn = sys.argv[2:9]
n, per_txn = int(n), int(per_txn)
from schemas.codec import decode_command, encode_event_records, encode_reply
from schemas.envelope import EventEnvelope, Reply
from schemas.events import TaskClaimed

def decide(raw):
    env = decode_command(raw)
    cmd = env.command
    event = TaskClaimed(cmd.task_id, f"{cmd.task_id}:c1", cmd.worker_id, 1_700_000_900_000)
    (record,) = encode_event_records([EventEnvelope(f"{env.command_id}/0", f"task:{cmd.task_id}",
        2, 1_700_000_000_000, env.command_id, env.correlation_id, env.command_id, env.actor_id,
        event)])
    return record, encode_reply(Reply(env.command_id, True, event_ids=(f"{env.command_id}/0",),
                                      result={"claim_id": f"{cmd.task_id}:c1"}, decided_at=1))

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

done = 0
if client == "kafka-python":
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    consumer = KafkaConsumer(src, bootstrap_servers=bootstrap, group_id=group,
        enable_auto_commit=False, isolation_level="read_committed", auto_offset_reset="earliest",
        max_poll_records=per_txn, fetch_max_wait_ms=50, session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{group}-txn",
        transaction_timeout_ms=15_000, linger_ms=1, retry_backoff_ms=5,
        batch_size=512 * 1024, max_request_size=16 * 1024 * 1024)
    producer.init_transactions()
    started = None
    while done < n:
        polled = consumer.poll(timeout_ms=1_000, max_records=per_txn)
        if not polled:
            continue
        if started is None:
            started, cpu0 = time.perf_counter(), cpu()
        producer.begin_transaction()
        offsets = {}
        for tp, records in polled.items():
            for r in records:
                record, reply = decide(r.value)
                producer.send(dst, record, key=r.key, partition=tp.partition)
                producer.send(dst, reply, key=r.key, partition=tp.partition)
                done += 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    producer.close()
    consumer.close()
else:
    from confluent_kafka import Consumer, Producer
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
        "enable.auto.commit": False, "isolation.level": "read_committed",
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50,
        "session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{group}-txn",
        "transaction.timeout.ms": 15_000, "linger.ms": 1, "retry.backoff.ms": 5,
        "batch.size": 512 * 1024, "message.max.bytes": 16 * 1024 * 1024,
        "enable.idempotence": True, "acks": "all"})
    producer.init_transactions()
    consumer.subscribe([src])
    started = None
    while done < n:
        msgs = consumer.consume(num_messages=per_txn, timeout=1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        if started is None:
            started, cpu0 = time.perf_counter(), cpu()
        producer.begin_transaction()
        for m in msgs:
            record, reply = decide(m.value())
            producer.produce(dst, record, key=m.key(), partition=m.partition())
            producer.produce(dst, reply, key=m.key(), partition=m.partition())
            done += 1
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata())
        producer.commit_transaction()
    consumer.close()
elapsed, used = time.perf_counter() - started, cpu() - cpu0
print(json.dumps({"client": client, "commands": done, "wall_s": elapsed, "cpu_s": used,
                  "cpu_us_per_command": used / done * 1e6, "commands_s": done / elapsed}))
"""


def _topics(prefix: str) -> tuple[str, str]:
    from kafka.admin import KafkaAdminClient, NewTopic

    src, dst = f"{prefix}.commands", f"{prefix}.events"
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    admin.create_topics([NewTopic(src, 1, 1), NewTopic(dst, 1, 1)])
    admin.close()
    return src, dst


def _drop(prefix: str) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    admin.delete_topics([f"{prefix}.commands", f"{prefix}.events"])
    admin.close()


def _fill(topic: str, n: int) -> None:
    from kafka import KafkaProducer

    from schemas.codec import encode_command
    from schemas.commands import ClaimTask
    from schemas.envelope import CommandEnvelope

    producer = KafkaProducer(bootstrap_servers=KAFKA, linger_ms=5, batch_size=256 * 1024)
    for i in range(n):
        r, w = f"req{i % 50}", f"w{i % 2_000}"
        env = CommandEnvelope(f"claim-{i}", w, "worker", f"claim-{i}",
                              ClaimTask(f"{r}:b{i // 500}:{i % 500}", w, ("fold",)))  # fmt: skip
        producer.send(topic, encode_command(env), key=r.encode())
    producer.flush()
    producer.close()


def _one(client: str, n: int, per_txn: int) -> dict[str, Any]:
    prefix = f"pwbench-kc-{tag()}"
    src, dst = _topics(prefix)
    try:
        _fill(src, n)
        out = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, str(ROOT), client, KAFKA, src,
                              dst, f"{prefix}-group", str(n), str(per_txn)],
                             check=True, capture_output=True, text=True, timeout=900)  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        _drop(prefix)


def run(commands: int = 20_000, one_by_one: int = 500, repeat: int = 3) -> dict[str, Any]:
    shapes = {"backlog": (commands, 1_000), "one-by-one": (one_by_one, 1)}
    clients = ("kafka-python", "confluent-kafka")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {c: [] for c in clients} for s in shapes}
    for r in range(repeat):
        for shape, (n, per_txn) in shapes.items():
            for client in clients if r % 2 == 0 else tuple(reversed(clients)):
                found = _one(client, n, per_txn)
                runs[shape][client].append(found)
                console.print(f"  {shape} {client} #{r + 1}: {found['cpu_us_per_command']:,.0f} "
                              f"us CPU/command, {found['commands_s']:,.0f} commands/s")  # fmt: skip
    med = {s: {c: {k: statistics.median(x[k] for x in rs)
                   for k in ("cpu_us_per_command", "commands_s", "wall_s")}
               for c, rs in by.items()} for s, by in runs.items()}  # fmt: skip
    ratios = {
        s: {
            k: by["confluent-kafka"][k] / by["kafka-python"][k]
            for k in ("cpu_us_per_command", "commands_s")
        }
        for s, by in med.items()
    }
    return {"shapes": {s: {"commands": n, "per_transaction": p} for s, (n, p) in shapes.items()},
            "repeat": repeat, "median": med, "ratio_confluent_to_kafka_python": ratios,
            "runs": runs}  # fmt: skip


def for_run(quick: bool) -> dict[str, Any]:
    """bench/run.py's entry: smaller and once in quick mode."""
    return run(2_000 if quick else 20_000, 50 if quick else 500, 1 if quick else 3)


def section(r: dict[str, Any]) -> str:
    lines = [
        f"## The processor's Kafka loop: kafka-python beside confluent-kafka (median of "
        f"{r['repeat']})",
        "",
        "| shape | client | CPU us/command | commands/s |",
        "|---|---|---|---|",
    ]
    for shape, by in r["median"].items():
        for client, m in by.items():
            lines.append(
                f"| {shape} | {client} | {m['cpu_us_per_command']:,.0f} | {m['commands_s']:,.0f} |"
            )
    for shape, x in r["ratio_confluent_to_kafka_python"].items():
        lines.append(
            f"\n{shape}: confluent-kafka / kafka-python CPU per command "
            f"{x['cpu_us_per_command']:.2f}, throughput {x['commands_s']:.2f}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=20_000)
    parser.add_argument("--one-by-one", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    found = run(args.commands, args.one_by_one, args.repeat)
    print(json.dumps({k: v for k, v in found.items() if k != "runs"}, indent=1))
    print(section(found))
