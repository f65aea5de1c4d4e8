"""`piecework lag`: how far the processor and the views are behind the log."""

from __future__ import annotations

import argparse
import json
import time

from kafka.admin import KafkaAdminClient

from runtime.consumer_lag import groups
from runtime.kafka_io import last_data_offsets, snapshot_consumer
from runtime.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lag", help="records the processor and views have yet to read")
    p.add_argument("--wait", type=float, default=0, help="wait up to N seconds for lag 0")
    p.set_defaults(func=show_lag)


def pending(admin: KafkaAdminClient, reader, settings: Settings) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Per group, how many partitions still hold a record past its committed offset."""
    behind = {}
    for label, (group_id, topic) in groups(settings).items():
        last = last_data_offsets(reader, topic)
        committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
        done = {tp.partition: m.offset for tp, m in committed.items() if tp.topic == topic}
        behind[label] = sum(1 for p, off in last.items() if off >= done.get(p, 0))
    return behind


def show_lag(args: argparse.Namespace, settings: Settings) -> int:
    deadline = time.monotonic() + args.wait
    reader = snapshot_consumer(settings.kafka, "piecework-lag")
    with KafkaAdminClient(bootstrap_servers=settings.kafka, client_id="piecework-lag") as admin:
        behind = pending(admin, reader, settings)
        while any(behind.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            behind = pending(admin, reader, settings)
    reader.close()
    print(json.dumps({"partitions_behind": behind}))
    return 0 if not args.wait or not any(behind.values()) else 1
