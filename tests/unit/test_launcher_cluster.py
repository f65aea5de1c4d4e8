"""`piecework up --brokers N`: the pure parts of a local KRaft quorum, and its bookkeeping."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from deploy import kafka_config, kafka_launcher, kafka_probe, processes, stack
from deploy.cli import build_parser
from deploy.settings import for_settings
from runtime.settings import Settings


def from_env(env: dict[str, str]):
    """The local stack of exactly these variables (HOME and XDG_CACHE_HOME included)."""
    return for_settings(Settings.from_env(env), env)


def _cluster(tmp_path: Path, brokers: int = 3, kafka: str = "127.0.0.1:9092"):
    return from_env({"PIECEWORK_DATA_DIR": str(tmp_path), "PIECEWORK_KAFKA": kafka,
                     "PIECEWORK_BROKERS": str(brokers)})


def test_three_nodes_on_consecutive_port_pairs_with_their_own_files(tmp_path):
    nodes = _cluster(tmp_path).kafka_nodes
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9092, 9093), (2, 9094, 9095), (3, 9096, 9097)]
    assert [n.service for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert len({n.log_dirs for n in nodes}) == 3
    assert len({n.log_files for n in nodes}) == 3
    assert all(n.log_dirs.is_relative_to(tmp_path) for n in nodes)
    assert _cluster(tmp_path).cluster_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"


def test_node_one_keeps_the_single_broker_layout(tmp_path):
    single, cluster = _cluster(tmp_path, 1), _cluster(tmp_path, 3)
    assert single.kafka_nodes[0] == cluster.kafka_nodes[0]
    assert single.kafka_nodes[0].log_dirs == single.kafka_log_dirs
    assert single.kafka_nodes[0].log_files == kafka_launcher.log_files(single)
    assert from_env({"PIECEWORK_DATA_DIR": str(tmp_path)}).brokers is None


def test_listed_addresses_are_used_as_given(tmp_path):
    cfg = _cluster(tmp_path, 3, "127.0.0.1:9200,127.0.0.1:9300,127.0.0.1:9400")
    assert [(n.port, n.controller_port) for n in cfg.kafka_nodes] == [
        (9200, 9201), (9300, 9301), (9400, 9401)]


def test_broker_count_is_bounded():
    with pytest.raises(ValueError):
        from_env({"PIECEWORK_BROKERS": "0"})
    with pytest.raises(ValueError):
        from_env({"PIECEWORK_BROKERS": "10"})


def test_cluster_properties_replicate_three_ways_with_min_isr_two(tmp_path):
    cfg = _cluster(tmp_path, 3, "127.0.0.1:19092")
    props = kafka_config.server_properties(cfg, cfg.kafka_nodes[1])
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097")
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19094"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "node-2" / "data")
    for key in ("default.replication.factor", "offsets.topic.replication.factor",
                "transaction.state.log.replication.factor"):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"


def test_heap_is_smaller_per_node_in_a_cluster(tmp_path):
    assert kafka_config.heap_for(1) == "512m"
    assert kafka_config.heap_for(3) == "384m"
    cmd = kafka_config.java_command(tmp_path, "kafka.Kafka", heap="384m")
    assert "-Xms384m" in cmd and "-Xmx384m" in cmd


def test_cluster_ids_look_like_kafkas():
    for _ in range(200):
        cid = kafka_config.random_cluster_id()
        assert kafka_config.CLUSTER_ID.match(cid) and not cid.startswith("-")


def test_layout_is_recorded_once_and_a_different_size_refused(tmp_path):
    three = _cluster(tmp_path, 3)
    first = kafka_launcher.ensure_layout(three)
    assert kafka_launcher.ensure_layout(three) == first
    assert json.loads(kafka_launcher.layout_file(three).read_text())["brokers"] == 3
    with pytest.raises(RuntimeError, match="3-broker cluster"):
        kafka_launcher.ensure_layout(_cluster(tmp_path, 1))
    # down/status without --brokers read the size from the data dir
    assert stack.resolve(from_env({"PIECEWORK_DATA_DIR": str(tmp_path)})).brokers == 3


def test_a_data_dir_from_before_the_layout_file_is_one_node(tmp_path):
    cfg = _cluster(tmp_path, 1)
    cfg.kafka_log_dirs.mkdir(parents=True)
    (cfg.kafka_log_dirs / "meta.properties").write_text("version=1\ncluster.id=abc\nnode.id=1\n")
    assert kafka_launcher.recorded_layout(cfg) == kafka_launcher.Layout("abc", 1)
    assert stack.resolve(from_env({"PIECEWORK_DATA_DIR": str(tmp_path)})).brokers == 1


def test_probe_parses_the_brokers_of_a_metadata_response():
    def broker(node_id: int, host: bytes, rack: bytes | None) -> bytes:
        head = struct.pack(">ih", node_id, len(host)) + host + struct.pack(">i", 9092)
        return head + (struct.pack(">h", -1) if rack is None else
                       struct.pack(">h", len(rack)) + rack)

    body = struct.pack(">i", 2) + broker(1, b"127.0.0.1", None) + broker(3, b"h", b"r1")
    assert kafka_probe.parse_brokers(body + struct.pack(">i", 1)) == {1, 3}


def test_probe_of_a_closed_port_is_none():
    assert kafka_probe.live_brokers("127.0.0.1", 9, timeout=0.5) is None


def test_stop_all_terminates_every_process_at_once(tmp_path):
    records = [processes.spawn_detached(["sleep", "60"], tmp_path / f"s{i}.log") for i in range(3)]
    gone = processes.PidRecord(2**22 + 1, None, "x")  # above pid_max: never running
    assert processes.stop_all([*records, gone], grace_seconds=5) == ["stopped"] * 3 + [
        "not running"]
    assert not any(processes.is_running(r) for r in records)


def test_up_takes_a_broker_count():
    assert build_parser().parse_args(["up", "--brokers", "3"]).brokers == 3
    assert build_parser().parse_args(["up"]).brokers is None
