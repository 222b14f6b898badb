"""Record operations on both engines, through real servers: a DuckDB workspace held by one `serve`, and the same
workspace moved to PostgreSQL (`migrate`) and served by two `serve` processes sharing it and one lake.

1. Latency, one request at a time through the HTTP API: adding a risk, a vote (with its password), listing the
   reviews, the release gate. p50 and p95 per engine.
2. Write throughput: concurrent writers adding risks for a fixed time, 100 on the DuckDB server, 2 × 50 on the
   two PostgreSQL servers; acknowledged writes per second, and `verify` afterwards on each.

PostgreSQL runs durably here (fsync on, as an operator runs it), started from Debian's packages in a temporary
folder.

    python benchmarks/record_engines.py [--rows 20000] [--ops 30] [--writers 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from governance.record import postgres_server  # noqa: E402
from tests.api.concurrent_writers import MEMBERS, prepare  # noqa: E402
from tests.api.conftest import (LEADER, MEMBER_PASSWORD, RISK_OWNER, VIEWER, cli_here, must,  # noqa: E402
                                serve)
from tests.servers import stop_server  # noqa: E402


def _percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})"


def _timed(call) -> float:
    began = time.perf_counter()
    answer = call()
    elapsed = time.perf_counter() - began
    assert answer.status in (200, 202), answer.text
    return elapsed


def _risk(server, writer: str, n: int):
    return server.command("risks add", {"title": f"Benchmark risk {writer} {n}", "category": "operational",
                                        "owner": RISK_OWNER, "likelihood": 1 + n % 5, "impact": 1 + n % 3},
                          as_user=writer, timeout=120)


def latencies(server, review_ids: list[str], *, ops: int) -> dict[str, list[float]]:
    found = {"add a risk": [], "vote": [], "list reviews": [], "release gate": []}
    for n in range(ops):
        found["add a risk"].append(_timed(lambda: _risk(server, LEADER, n)))
        found["list reviews"].append(_timed(lambda: server.command("signoff list", as_user=VIEWER)))
        found["release gate"].append(_timed(lambda: server.command(
            "gate", {"model": "german-credit", "version": "v1", "stage": "production", "caller": "bench"},
            as_user=VIEWER)))
    for review_id in review_ids:
        for n, member in enumerate(MEMBERS, 1):
            found["vote"].append(_timed(lambda: server.command(
                "signoff vote", {"review_id": review_id, "vote": "approve", "reason": "benchmark"},
                as_user=member, secrets={"QUORUM_PASSWORD": MEMBER_PASSWORD.format(n=n)})))
    return found


def throughput(servers: list, *, writers_each: int, seconds: float) -> tuple[float, int]:
    """Acknowledged risk additions per second with `writers_each` writers on each server, and how many failed."""
    stop = threading.Event()
    done, failed = [0], [0]
    lock = threading.Lock()

    def writer(server, n: int):
        k = 0
        while not stop.is_set():
            answer = _risk(server, LEADER, n * 100_000 + k)
            with lock:
                if answer.status == 200:
                    done[0] += 1
                else:
                    failed[0] += 1
            k += 1

    with ThreadPoolExecutor(max_workers=writers_each * len(servers)) as pool:
        began = time.perf_counter()
        for i, server in enumerate(servers):
            for n in range(writers_each):
                pool.submit(writer, server, i * writers_each + n)
        time.sleep(seconds)
        stop.set()
    return done[0] / (time.perf_counter() - began), failed[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--ops", type=int, default=30)
    parser.add_argument("--writers", type=int, default=50, help="concurrent writers per PostgreSQL server")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    os.environ.setdefault("QUORUM_LEDGER_KEY", secrets.token_hex(32))   # a throwaway workspace's own key

    work = Path(tempfile.mkdtemp(prefix="quorum-bench-engines-"))
    work.chmod(0o755)   # PostgreSQL runs as its own user when this runs as root
    started = []
    pg = None
    try:
        duck = work / "duck.duckdb"
        must(cli_here("init", "--demo", "--db", duck, "--rows", args.rows))
        review_ids, tokens = prepare(duck, work)
        pg = postgres_server.start(data_dir=work / "pg")
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        lake = work / "lake"
        began = time.perf_counter()
        must(cli_here("--db", duck, "migrate", "--to", url, "--lake", lake, "--json"))
        print(f"migrate: {time.perf_counter() - began:.1f} s for a {args.rows:,}-row demo")

        duck_server = serve(duck, work, tokens=tokens)
        started.append(duck_server)
        pg_servers = [serve(url, work, tokens=tokens, env={"QUORUM_LAKE": str(lake)}) for _ in range(2)]
        started += pg_servers

        print("\nlatency, one request at a time through the API")
        for name, server in (("DuckDB", duck_server), ("PostgreSQL", pg_servers[0])):
            for op, seconds in latencies(server, review_ids, ops=args.ops).items():
                print(f"  {name:<10} {op:<13} {_percentiles(seconds)}")

        print(f"\nwrite throughput: risks added by concurrent writers for {args.seconds:.0f} s")
        rate, failed = throughput([duck_server], writers_each=2 * args.writers, seconds=args.seconds)
        print(f"  DuckDB,     1 server  x {2 * args.writers} writers: {rate:6.1f} writes/s ({failed} failed)")
        rate, failed = throughput(pg_servers, writers_each=args.writers, seconds=args.seconds)
        print(f"  PostgreSQL, 2 servers x {args.writers} writers: {rate:6.1f} writes/s ({failed} failed)")
        for name, server in (("DuckDB", duck_server), ("PostgreSQL", pg_servers[1])):
            checked = server.result("verify", as_user=VIEWER)
            print(f"  verify on {name}: {'intact' if checked['result']['ok'] else checked['result']['problems']}")
    finally:
        for server in started:
            stop_server(server.process)
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
