"""`make bench` baseline: Kafka's own perf tools give the broker's physical limit on this machine.

Any piecework figure is read against these: Python cannot beat the JVM client on the same broker.
"""

from __future__ import annotations

import argparse
import subprocess

from deploy import kafka_config, kafka_launcher
from deploy import settings as stack_settings
from deploy.topics import create_topics
from runtime.settings import Settings

BENCH_TOPIC = "piecework.bench"


def run_tool(cfg: stack_settings.StackSettings, main_class: str, *args: str) -> str:
    log4j = cfg.data_dir / "kafka" / "perf-log4j.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(kafka_config.log4j_properties(cfg.log_dir / "kafka-perf.log"))
    cmd = kafka_config.java_command(cfg.jar_dir, main_class, *args, log4j=log4j)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--record-size", type=int, default=100)
    args = parser.parse_args(argv)
    cfg = stack_settings.for_settings(Settings.from_env())
    kafka_launcher.ensure_jars(cfg.jar_dir)
    # Kept an hour: each run appends its records and nothing reads them later.
    create_topics(cfg.kafka_bootstrap, {BENCH_TOPIC: {"retention.ms": "3600000"}}, cfg.partitions)
    produced = run_tool(
        cfg, "org.apache.kafka.tools.ProducerPerformance",
        "--topic", BENCH_TOPIC, "--num-records", str(args.records),
        "--record-size", str(args.record_size), "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={cfg.kafka_bootstrap}", "acks=all",
    )
    print("producer (acks=all):", produced.strip().splitlines()[-1])
    consumed = run_tool(
        cfg, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", cfg.kafka_bootstrap, "--topic", BENCH_TOPIC,
        "--messages", str(args.records), "--timeout", "60000",
    )
    # ConsumerPerformance prints a CSV header line and a value line: pair them up.
    header, values = consumed.strip().splitlines()[-2:]
    fields = dict(zip(header.split(", "), values.split(", "), strict=True))
    rate, mb, fetch = (float(fields[k]) for k in ("nMsg.sec", "MB.sec", "fetch.nMsg.sec"))
    print(f"consumer: {rate:.0f} records/sec ({mb:.2f} MB/sec; fetch phase only {fetch:.0f}/s)")


if __name__ == "__main__":
    main()
