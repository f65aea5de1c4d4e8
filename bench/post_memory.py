"""Peak memory (RSS) of `piecework post` on a large JSON-lines file. Goal: <= 100 MB for
any file size.

Generates a file of N realistic tasks (bench.common.task_spec, one JSON object a line),
runs `piecework post FILE` in a child process and reads the child's peak resident set
size from the kernel (os.wait4's ru_maxrss: the high-water mark over its whole life).

Against what it posts (--against):
- `sink` (default): a local HTTP server in another process that reads each POST
  /v1/batches body in full and answers as the API does ({posted, existing, task_ids}),
  at once. It measures the client path alone (file -> chunks -> JSON -> HTTP) at its
  fastest, which is where an unbounded reader would pile up memory; the server's own
  memory is not counted.
- `stack`: a real stack (processor + API on the shared Kafka and Redis DB 9); each task
  really becomes an event. Slower: use a smaller --lines on a loaded machine.

--source DIR runs the `piecework` of another checkout (e.g. `git archive HEAD | tar -x
-C /tmp/old`) for a before/after comparison on the same file.

    .venv/bin/python -m bench.post_memory [--lines 1000000] [--against sink|stack]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, console, task_spec

GOAL_MB = 100.0
SINK = r"""
import json, sys
from aiohttp import web

async def batches(request):
    body = await request.json()  # read in full, as the API does
    n = len(body["tasks"])
    ids = [f"{body['batch_id']}-{i}" for i in range(n)]
    return web.json_response({"posted": n, "existing": 0, "task_ids": ids})

app = web.Application(client_max_size=1 << 30)
app.router.add_post("/v1/batches", batches)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def write_tasks(path: Path, lines: int) -> int:
    """The file, written a line at a time; returns its size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            out.write(json.dumps(task_spec(i)) + "\n")
    return path.stat().st_size


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sink() -> Iterator[tuple[str, str]]:
    """(url, token) of the stand-in API."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    try:
        deadline = time.monotonic() + 30
        import urllib.error
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            except urllib.error.HTTPError:
                break  # 404 on / : it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sink did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", "sink-token"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def stack(lines: int) -> Iterator[tuple[str, str]]:
    from bench.common import actors, bench_stack, wait_processor

    with bench_stack(("processor", "api")) as st:
        asyncio.run(wait_processor(st.url, st.operator_token))
        # 3 euro-cents a task plus fees, with room to spare
        (token,), _ = asyncio.run(actors(st.url, st.operator_token, 1, 0,
                                         deposit=max(10**9, lines * 100_000)))  # fmt: skip
        yield st.url, token


def measure(path: Path, url: str, token: str, source: Path) -> dict[str, Any]:
    """Run `piecework post` from `source`; its peak RSS, wall time and outcome."""
    env = {**os.environ, "PYTHONPATH": str(source), "PIECEWORK_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "deploy.cli", "post", str(path), "--url", url,
           "--token", token, "--batch-id", f"pm{time.time_ns() % 10**9}"]  # fmt: skip
    started = time.perf_counter()
    with open(os.devnull, "wb") as quiet:
        child = subprocess.Popen(cmd, env=env, cwd=source, stdout=subprocess.PIPE,
                                 stderr=quiet)  # fmt: skip
        out = child.stdout.read() if child.stdout else b""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    summary = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(elapsed, 1),
            "exit": child.returncode, "posted": summary.get("posted")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="tasks in the file")
    parser.add_argument("--against", choices=("sink", "stack"), default="sink",
                        help="what the tasks are posted to (see the module's docstring)")
    parser.add_argument("--source", type=Path, action="append", default=[],
                        help="also measure the piecework of this checkout (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pw-post-mem-") as tmp:
        path = Path(tmp) / "tasks.jsonl"
        size = write_tasks(path, args.lines)
        console.print(f"{args.lines:,} tasks, {size / 2**20:.0f} MiB: {path}")
        target = sink() if args.against == "sink" else stack(args.lines)
        rows = []
        with target as (url, token):
            for source in [ROOT, *args.source]:
                figures = measure(path, url, token, source.resolve())
                rows.append({"source": str(source), **figures})
                console.print(rows[-1])
    print(json.dumps({"lines": args.lines, "file_mib": round(size / 2**20, 1),
                      "against": args.against, "goal_mb": GOAL_MB, "runs": rows}, indent=2))
    current = rows[0]["peak_rss_mb"]
    print(f"piecework post: peak RSS {current} MB for {args.lines:,} lines "
          f"({current / GOAL_MB:.2f} of the {GOAL_MB:.0f} MB goal)")
    for row in rows[1:]:
        print(f"{row['source']}: {row['peak_rss_mb']} MB "
              f"(this checkout uses {current / row['peak_rss_mb']:.2f}x of it)")


if __name__ == "__main__":
    main()
