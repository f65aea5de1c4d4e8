"""`piecework lag`: how far the processor and the views are behind the log."""

from __future__ import annotations

import argparse
import json
import time

from kafka.admin import KafkaAdminClient

from broker.config import Settings
from broker.consumer_lag import group_lag, groups


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lag", help="consumer lag of the processor and views groups")
    p.add_argument("--wait", type=float, default=0, help="wait up to N seconds for lag 0")
    p.set_defaults(func=show_lag)


def current_lag(admin: KafkaAdminClient, settings: Settings) -> dict[str, int]:
    return {label: group_lag(admin, g, t) for label, (g, t) in groups(settings).items()}


def show_lag(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    deadline = time.monotonic() + args.wait
    with KafkaAdminClient(bootstrap_servers=settings.kafka, client_id="piecework-lag") as admin:
        lags = current_lag(admin, settings)
        while any(lags.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            lags = current_lag(admin, settings)
    print(json.dumps(lags))
    return 0 if not args.wait or not any(lags.values()) else 1
