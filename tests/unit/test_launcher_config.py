"""The launcher's pure parts: settings from the environment, rendered config, pid handling."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy import kafka_config, processes, redis_launcher, stack
from deploy.cli import build_parser
from deploy.settings import for_settings, parse_host_port
from runtime.settings import Settings
from schemas.topics import Topics

REPO = Path(__file__).resolve().parents[2]


def from_env(env: dict[str, str]):
    """The local stack of exactly these variables (HOME and XDG_CACHE_HOME included)."""
    return for_settings(Settings.from_env(env), env)


def test_defaults_point_at_loopback_and_repo_var():
    cfg = from_env({"HOME": "/home/u"})
    assert (cfg.kafka_host, cfg.kafka_port, cfg.controller_port) == ("127.0.0.1", 9092, 9093)
    assert (cfg.redis_host, cfg.redis_port) == ("127.0.0.1", 6379)
    assert cfg.data_dir == REPO / "var"
    assert cfg.jar_dir == Path("/home/u/.cache/piecework/kafka-3.9.1/libs")
    assert cfg.partitions == 8
    assert cfg.kafka_is_local and cfg.redis_is_local


def test_environment_overrides(tmp_path):
    cfg = from_env(
        {
            "PIECEWORK_KAFKA": "localhost:19092,other:9092",
            "PIECEWORK_REDIS": "redis://10.0.0.5:6380/2",
            "PIECEWORK_DATA_DIR": str(tmp_path / "d"),
            "PIECEWORK_PARTITIONS": "3",
            "XDG_CACHE_HOME": "/c",
        }
    )
    assert (cfg.kafka_host, cfg.kafka_port, cfg.controller_port) == ("localhost", 19092, 19093)
    assert (cfg.redis_host, cfg.redis_port, cfg.redis_is_local) == ("10.0.0.5", 6380, False)
    assert cfg.data_dir == tmp_path / "d"
    assert cfg.jar_dir == Path("/c/piecework/kafka-3.9.1/libs")
    assert cfg.partitions == 3


def test_relative_data_dir_is_made_absolute():
    assert from_env({"PIECEWORK_DATA_DIR": "rel/var"}).data_dir.is_absolute()


def test_zero_partitions_is_refused():
    with pytest.raises(ValueError):
        from_env({"PIECEWORK_PARTITIONS": "0"})


@pytest.mark.parametrize(
    ("address", "expected"),
    [("h:1", ("h", 1)), ("h", ("h", 9092)), ("[::1]:5", ("::1", 5)), (" h:2 ", ("h", 2))],
)
def test_parse_host_port(address, expected):
    assert parse_host_port(address, 9092) == expected


def test_server_properties_hold_the_single_node_essentials(tmp_path):
    cfg = from_env({"PIECEWORK_DATA_DIR": str(tmp_path), "PIECEWORK_KAFKA": "127.0.0.1:9192"})
    props = kafka_config.server_properties(cfg)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9193"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9192"
    assert Path(props["log.dirs"]).is_absolute()
    assert Path(props["log.dirs"]).is_relative_to(tmp_path)
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.cleaner.dedupe.buffer.size"] == str(32 * 1024 * 1024)
    assert props["num.partitions"] == "8"


def test_rendered_properties_parse_back():
    text = kafka_config.render_properties({"a.b": "1", "c": "x,y"})
    assert text == "a.b=1\nc=x,y\n"


def test_log4j_writes_to_the_given_file(tmp_path):
    text = kafka_config.log4j_properties(tmp_path / "kafka.log")
    assert f"log4j.appender.file.File={tmp_path / 'kafka.log'}\n" in text
    assert "ConsoleAppender" not in text


def test_java_command_has_heap_classpath_and_log_config(tmp_path):
    cmd = kafka_config.java_command(tmp_path, "kafka.Kafka", "s.props", log4j=tmp_path / "l.p")
    assert cmd[0] == "java" and "-Xms512m" in cmd and "-Xmx512m" in cmd
    assert cmd[cmd.index("-cp") + 1] == f"{tmp_path}/*"
    assert f"-Dlog4j.configuration=file:{tmp_path / 'l.p'}" in cmd
    assert cmd[-2:] == ["kafka.Kafka", "s.props"]


def test_cluster_id_is_found_among_log_noise():
    noisy = "SLF4J: something\nWARN stuff\nq1Sh-9_OQFqIzYlr2bIsgA\n"
    assert kafka_config.parse_cluster_id(noisy) == "q1Sh-9_OQFqIzYlr2bIsgA"
    with pytest.raises(ValueError):
        kafka_config.parse_cluster_id("log4j:WARN No appenders could be found\n")


def test_redis_runs_in_foreground_without_persistence(tmp_path):
    cfg = from_env(
        {"PIECEWORK_DATA_DIR": str(tmp_path), "PIECEWORK_REDIS": "redis://127.0.0.1:6390"}
    )
    args = redis_launcher.server_args(cfg)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs == {
        "--port": "6390",
        "--bind": "127.0.0.1",
        "--save": "",
        "--appendonly": "no",
        "--dir": str(tmp_path / "redis"),
        "--daemonize": "no",
        **{f"--{name}": value for name, value in redis_launcher.LISTPACK.items()},
    }


def test_docker_compose_redis_uses_the_launchers_listpack_thresholds():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    pairs = dict(zip(command[1::2], command[2::2], strict=True))
    assert {k: pairs[f"--{k}"] for k in redis_launcher.LISTPACK} == redis_launcher.LISTPACK


def test_topic_catalogue_keeps_events_and_dead_letters_forever():
    configs = Topics().creation_configs()
    assert set(configs) == {
        "piecework.commands",
        "piecework.events",
        "piecework.replies",
        "piecework.dead-letter",
        "piecework.checkpoints",
    }
    assert configs["piecework.events"] == {"retention.ms": "-1"}
    assert configs["piecework.dead-letter"] == {"retention.ms": "-1"}


def test_pid_file_round_trip_and_stale_record(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = processes.PidRecord(int(done.stdout), None, "python")
    path = tmp_path / "run" / "x.pid"
    processes.write_pid(path, stale)
    assert processes.read_pid(path) == stale
    assert processes.live_record(path) is None and not path.exists()


def test_recycled_pid_is_not_ours():
    pid = os.getpid()
    assert processes.is_running(processes.PidRecord(pid, processes.start_ticks(pid), ""))
    # Same pid, another start time: a different process that got our old number.
    assert not processes.is_running(processes.PidRecord(pid, processes.start_ticks(pid) + 1, ""))


def test_stop_terminates_a_detached_process(tmp_path):
    record = processes.spawn_detached(["sleep", "60"], tmp_path / "sleep.log")
    assert processes.is_running(record)
    assert processes.stop(record, grace_seconds=5) == "stopped"
    assert not processes.is_running(record)
    assert processes.stop(record) == "not running"


def test_stack_subcommands_are_registered():
    parser = build_parser()
    for name in ("up", "down", "status"):
        assert callable(parser.parse_args([name]).func)


def test_docker_compose_file_validates():
    # No skip: .ci/run installs docker-compose; a missing binary must fail here.
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not installed (apt-get install -y docker-compose)"
    # The API has no default operator token: compose needs one (tests/unit/test_compose.py).
    env = {**os.environ, "PIECEWORK_OPERATOR_TOKEN": "t" * 32}
    result = subprocess.run([binary, "config", "-q"], cwd=REPO, capture_output=True, text=True,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_prometheus_config_validates():
    # No skip: .ci/run installs Debian's prometheus package, which ships promtool.
    binary = shutil.which("promtool")
    assert binary, "promtool not installed (apt-get install -y prometheus)"
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    result = subprocess.run([binary, "check", "config", config], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_service(answering: set[str], started: list[str]) -> stack.Service:
    """A service whose readiness is a set of addresses, so up's decisions run without I/O."""

    def start(cfg):
        started.append(cfg.redis_url)
        return processes.PidRecord(
            os.getpid(), processes.start_ticks(os.getpid()), "x", cfg.redis_url
        )

    return stack.Service(
        "redis",
        lambda s: s.redis_url,
        lambda s: s.redis_is_local,
        lambda address: address in answering,
        start,
        lambda s, r: None,
        lambda s: (),
    )


def _cfg(tmp_path, url):
    return from_env({"PIECEWORK_DATA_DIR": str(tmp_path), "PIECEWORK_REDIS": url})


def test_up_uses_what_answers_and_starts_what_does_not(tmp_path):
    started: list[str] = []
    cfg = _cfg(tmp_path, "redis://127.0.0.1:7000/0")
    external = stack._up_one(cfg, _fake_service({cfg.redis_url}, started))
    assert (external.ours, external.up, started) == (False, True, [])
    assert stack._up_one(cfg, _fake_service(set(), started)).action == "started"
    assert started == [cfg.redis_url]


def test_up_refuses_a_second_instance_for_the_same_data_dir(tmp_path):
    me = processes.PidRecord(
        os.getpid(), processes.start_ticks(os.getpid()), "x", "redis://127.0.0.1:7000/0"
    )
    processes.write_pid(tmp_path / "run" / "redis.pid", me)
    other = _cfg(tmp_path, "redis://127.0.0.1:7001/0")
    with pytest.raises(RuntimeError, match="piecework down"):
        stack._up_one(other, _fake_service(set(), []))
    same = stack._up_one(_cfg(tmp_path, me.address), _fake_service({me.address}, []))
    assert (same.ours, same.pid, same.action) == (True, me.pid, "already running")


def test_up_does_not_start_a_remote_address(tmp_path):
    with pytest.raises(RuntimeError, match="not local"):
        stack._up_one(_cfg(tmp_path, "redis://10.1.2.3:6379/0"), _fake_service(set(), []))
