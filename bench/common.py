"""What every bench shares: settings, a realistic task, percentiles, /proc readings, py-spy.

Benches run on the shared Kafka and Redis with their own topic prefixes and Redis DB 9
(`PIECEWORK_BENCH_REDIS_DB`). Every figure a bench returns is a plain dict, so run.py can
print it and write BENCHMARKS.md from it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _message in ("read_text is deprecated", "open_text is deprecated"):
    warnings.filterwarnings("ignore", message=_message, category=DeprecationWarning)

from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from runtime.settings import Settings  # noqa: E402

console = Console(stderr=True)
SETTINGS = Settings.from_env()  # once, for every bench of this process
KAFKA = SETTINGS.kafka
REDIS_BASE = SETTINGS.redis
REDIS_DB = SETTINGS.bench_redis_db
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Per-actor API rate limit for bench stacks: the default (500/s per actor) would measure
# the limiter, not the broker.
BENCH_ENV = {"PIECEWORK_RATE_LIMIT": "1000000", "PIECEWORK_RATE_BURST": "1000000",
             "PIECEWORK_LOG_LEVEL": "WARNING"}  # fmt: skip


def redis_url(db: int = REDIS_DB) -> str:
    return urlunsplit(urlsplit(REDIS_BASE)._replace(path=f"/{db}"))


def tag() -> str:
    return uuid.uuid4().hex[:8]


# --- a realistic task ---------------------------------------------------------------

CHOICES = ["cat", "dog", "bird", "horse", "other"]


def task_spec(i: int, qualification: str | None = None) -> dict[str, Any]:
    """One image-labelling task as a requester would post it (JSON form of TaskSpec).

    Each bench gives its tasks its own qualification, so benches sharing one stack never
    see each other's tasks in the queue (a worker holding it sees only those).
    """
    return {
        "kind": "image_labelling",
        "title": "Which animal is this?",
        "reward": 30_000,  # 3 euro-cents
        "currency": "EUR",
        "estimated_seconds": 15,
        "assignments": 1,
        "qualifications": [qualification] if qualification else [],
        "payload": {"url": f"https://cdn.example.org/b/img-{i:08d}.jpg", "choices": CHOICES},
    }  # fmt: skip


def encoded_spec_size() -> int:
    """Bytes of one TaskSpec as the codec packs it inside a PostTasks command."""
    import msgpack

    from schemas.commands import TaskSpec
    from schemas.fields import from_plain, to_plain

    return len(msgpack.packb(to_plain(from_plain(TaskSpec, task_spec(1))), use_bin_type=True))


# --- statistics ---------------------------------------------------------------------


def quantiles_ms(samples_s: list[float]) -> dict[str, float]:
    if len(samples_s) < 2:
        one = samples_s[0] * 1000 if samples_s else float("nan")
        return {"p50": one, "p90": one, "p99": one, "max": one, "n": len(samples_s)}
    q = statistics.quantiles(samples_s, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p90": q[89] * 1000, "p99": q[98] * 1000,
            "max": max(samples_s) * 1000, "n": len(samples_s)}  # fmt: skip


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --- processes ----------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def infra_pids() -> dict[str, int]:
    """The Kafka broker and the Redis server on 6379, found by their command lines."""
    found: dict[str, int] = {}
    redis_port = str(urlsplit(REDIS_BASE).port or 6379)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(argv).decode(errors="replace")
        if "kafka.Kafka" in text and "kafka broker" not in found:
            found["kafka broker"] = int(entry.name)
        elif "redis-server" in text and f":{redis_port}" in text:
            found["redis server"] = int(entry.name)
    return found


def system_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU seconds each named process spent between enter and exit, and everyone else's.

    'other processes' is the machine's busy time minus ours: the noise of a shared box.
    """

    def __init__(self, pids: dict[str, int], infra: bool = True) -> None:
        self.pids = {**pids, **(infra_pids() if infra else {})}
        self.before: dict[str, float] = {}
        self.spent: dict[str, float] = {}
        self.wall = 0.0

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            try:
                out[name] = cpu_seconds(pid)
            except OSError:
                out[name] = 0.0
        out["(system busy)"] = system_busy_seconds()
        return out

    def __enter__(self) -> CpuMeter:
        self.before = self._read()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.started
        after = self._read()
        spent = {n: after[n] - self.before[n] for n in after}
        busy = spent.pop("(system busy)")
        spent["other processes"] = max(0.0, busy - sum(spent.values()))
        self.spent = spent

    def summary(self, units: int) -> dict[str, dict[str, float]]:
        """Per process: CPU seconds, cores busy on average, CPU ms per 1,000 units."""
        return {n: {"cpu_s": s, "cores": ratio(s, self.wall), "ms_per_1k": 1e6 * ratio(s, units)}
                for n, s in self.spent.items()}  # fmt: skip


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "memory_gib": mem_kb / 1024 / 1024, "cpu": cpu,
            "kernel": os.uname().release}  # fmt: skip


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import redis

    found = {"Python": sys.version.split()[0]}
    for name in ("kafka-python", "faust-streaming", "aiokafka", "redis", "aiohttp", "msgpack"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    from deploy.settings import KAFKA_VERSION

    found["Kafka"] = KAFKA_VERSION
    try:
        found["Redis server"] = redis.Redis.from_url(redis_url()).info("server")["redis_version"]
    except Exception:
        found["Redis server"] = "?"
    return found


# --- progress -----------------------------------------------------------------------


def progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)  # fmt: skip


# --- a stack of piecework processes -------------------------------------------------


@contextmanager
def bench_stack(roles: tuple[str, ...], partitions: int = 4, **extra: str) -> Iterator[Any]:
    """testkit.stack_processes.running_stack on DB 9 with bench settings; yields the Stack."""
    from testkit.stack_processes import running_stack

    workdir = Path(tempfile.mkdtemp(prefix="pw-bench-"))
    try:
        with running_stack(KAFKA, REDIS_BASE, workdir, redis_db=REDIS_DB, roles=roles,
                           partitions=partitions, extra_env={**BENCH_ENV, **extra}) as stack:
            yield stack
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def actors(url: str, operator_token: str, requesters: int, workers: int,
                 deposit: int = 10**12, prefix: str = "",
                 qualification: str | None = None) -> tuple[list[str], list[str]]:
    """Create requesters (funded, in EUR) and workers; return their tokens."""
    import asyncio

    from broker.client import Client

    prefix = prefix or tag()
    async with Client(url, operator_token) as op:
        req = await asyncio.gather(*(op.create_actor(f"r{prefix}{i}", "requester")
                                     for i in range(requesters)))  # fmt: skip
        quals = [qualification] if qualification else []
        wrk = await asyncio.gather(*(op.create_actor(f"w{prefix}{i}", "worker", quals)
                                     for i in range(workers)))  # fmt: skip
    for token in req:
        async with Client(url, token, retries=10, timeout=15) as requester:
            await requester.deposit(deposit, "EUR")
    return list(req), list(wrk)


async def wait_processor(url: str, operator_token: str, timeout: float = 90) -> None:
    """Until the processor answers commands (group join and partition rebuild done)."""
    import asyncio

    from broker.client import ApiError, Client

    async with Client(url, operator_token) as op:
        token = await op.create_actor(f"ready{tag()}", "requester")
    deadline = time.monotonic() + timeout
    async with Client(url, token, retries=0, timeout=15) as requester:
        while True:
            try:
                await requester.deposit(1, "EUR")
                return
            except (ApiError, OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


# --- py-spy -------------------------------------------------------------------------


def pyspy_start(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy in raw (collapsed stack) form, non-blocking; None when py-spy is missing."""
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        return None
    cmd = [str(exe), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
           "--rate", "200", "--format", "raw", "--nonblocking", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def pyspy_finish(proc: subprocess.Popen | None, out: Path, top: int = 15) -> dict[str, Any]:
    if proc is None:
        return {"error": "py-spy not installed"}
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": "py-spy did not finish"}
    if not out.exists():
        return {"error": (err or b"").decode(errors="replace").strip()[-300:]}
    return collapse(out.read_text(), top)


def _short(frame: str) -> str:
    # "fn (/abs/path/to/pkg/mod.py:123)" -> "fn (pkg/mod.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif str(ROOT) in path:
        parts = Path(path).relative_to(ROOT).parts
    else:
        parts = parts[-2:]
    return f"{name} ({'/'.join(parts)}:{line})" if path else name


def _file_of(frame: str) -> str:
    _, _, where = frame.partition(" (")
    return where.rstrip(")").rpartition(":")[0]


def collapse(raw: str, top: int) -> dict[str, Any]:
    """Top frames by self and by inclusive samples, and samples per source file (self)."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    files: Counter[str] = Counter()
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")
                  and not f.startswith("thread ")]  # fmt: skip
        if not frames:
            continue
        if _idle(frames[-1]):
            idle += n
            continue
        total += n
        leaf = _short(frames[-1])
        own[leaf] += n
        files[_short_file(_file_of(frames[-1]))] += n
        for frame in {_short(f) for f in frames}:
            incl[frame] += n

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, 100 * n / total) for f, n in c.most_common(top)]

    return {"samples": total, "idle_samples": idle, "self": pct(own), "inclusive": pct(incl),
            "files": pct(files)}  # fmt: skip


IDLE_LEAVES = {("selectors.py", "select"), ("threading.py", "wait"), ("queue.py", "get"),
               ("threading.py", "_wait_for_tstate_lock"), ("selector_events.py", "select")}


def _idle(frame: str) -> bool:
    """A thread blocked in select/wait: py-spy may count it as active, it is not work."""
    name = frame.partition(" (")[0].rsplit(".", 1)[-1]
    return (Path(_file_of(frame)).name, name) in IDLE_LEAVES


def _short_file(path: str) -> str:
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]  # the package
    if str(ROOT) in path:
        return "/".join(Path(path).relative_to(ROOT).parts)
    return "/".join(parts[-2:]) or "?"
