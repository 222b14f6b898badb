"""The HTTP API of one real Quorum server under load, and the command line through it, against the same work done
without HTTP in the same run.

    python benchmarks/api_latency.py [--db artifacts/bench-demo.duckdb] [--requests 200] [--cell-seconds 90]

The demo workspace (1 million telemetry rows) is built once if missing (`python -m governance init --demo`, about
a minute) and kept; the benchmark works on a copy of it in a temporary folder. Before the server starts, an admin
of the demo issues an API token for the demo's engineering leader (`tokens create`). Then
`python -m governance serve` runs on a free port, bound to 127.0.0.1, and for each command

    status                                                 (table sizes and models: small reads)
    kpis --model adult-income                              (90 days of daily KPIs over 584k rows, 39 kB of JSON)
    gate --model german-credit --version v1 --stage production   (the release gate: reads, and one ledger entry)

1, 10 and 50 client threads (urllib, a new connection per request, as the CLI makes) send
`POST /api/v1/commands/<command>` until --requests answers have come back (or --cell-seconds have passed): the
latency p50 and p95 and the throughput are printed per cell. `GET /api/v1/whoami` (authentication only) is
the floor of a request.

Baselines, on a second copy of the workspace that no server holds:
- the same handlers called in this process on the open workspace (`cli.run_on_store`, no HTTP, no token), after
  the server stopped: the work itself; the API's cost is the difference;
- the command line end to end, fresh process, best of 5: `QUORUM_SERVER=… python -m governance kpis --model
  adult-income --json` through the (idle) server, against the same command on the workspace file, in alternating
  rounds so that other work on the machine weighs on both alike. Both print the same bytes (checked before any
  timing is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # the in-process baseline imports governance
PYTHON = sys.executable
ADMIN, LEADER = "grace.lindqvist", "farid.haddad"   # the demo's admin and engineering leader
COMMANDS = {
    "status": ("status", {}),
    "kpis --model adult-income": ("kpis", {"model": "adult-income"}),
    "gate --model german-credit --version v1 --stage production":
        ("gate", {"model": "german-credit", "version": "v1", "stage": "production"}),
}
CLIENTS = (1, 10, 50)
CLI_RUNS = 5
IN_PROCESS_RUNS = 30


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any Quorum server or workspace, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("QUORUM_SERVER", "QUORUM_TOKEN", "QUORUM_DB")}
    return {**env, **extra}


def run(command: list[str], *, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall-clock seconds of one fresh process, start to exit, and what it printed."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env or environment())
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):   # `gate` exits 1 when the version may not run at the stage
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    """Linear interpolation between order statistics (as numpy's default)."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Client:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def whoami(self) -> dict:
        status, answer = self.call("GET", "/api/v1/whoami")
        if status != 200:
            raise RuntimeError(f"whoami: HTTP {status} {str(answer)[:300]}")
        return answer

    def command(self, words: str, arguments: dict) -> dict:
        status, answer = self.call("POST", f"/api/v1/commands/{words}", {"arguments": arguments})
        if status != 200 or "result" not in answer:
            raise RuntimeError(f"{words}: HTTP {status} {str(answer)[:300]}")
        return answer


def load(action, *, clients: int, requests: int, seconds: float) -> tuple[list[float], float]:
    """`clients` threads call `action` until `requests` answers are in or `seconds` have passed (no new request
    starts after that). Returns each request's latency and the wall time of the cell."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds
    issued = 0

    def worker() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= requests or time.perf_counter() >= deadline or failures:
                    return
                issued += 1
            begun = time.perf_counter()
            try:
                action()
            except BaseException as exc:  # noqa: BLE001 - reported after the cell
                with lock:
                    failures.append(exc)
                return
            elapsed = time.perf_counter() - begun
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return latencies, time.perf_counter() - started


def start_server(db: Path, port: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    return subprocess.Popen([PYTHON, "-m", "governance", "serve", "--db", str(db), "--port", str(port),
                             "--address", "127.0.0.1"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=environment())


def wait_ready(client: Client, server: subprocess.Popen, log_path: Path, *, timeout: float = 120) -> float:
    """Seconds until the API answers as the token's account (the lifespan has opened the workspace)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            status, _ = client.call("GET", "/api/v1/whoami")
            if status == 200:
                return time.perf_counter() - started
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.1)
    sys.exit(f"the server did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process(db: Path) -> dict[str, list[float]]:
    """The same handlers on the open workspace in this process: the work without HTTP, JSON over the wire or a
    token. The store is opened once, as the server holds it."""
    from governance.cli import main as cli
    from governance.record.store import GovernanceStore

    parser = cli.build_parser()
    found: dict[str, list[float]] = {}
    with GovernanceStore(db) as store:
        for name, (words, arguments) in COMMANDS.items():
            argv = [words, *[f"--{k}={v}" for k, v in arguments.items()]]
            args = parser.parse_args(argv)
            command = cli.command_for(args)
            cli.run_on_store(command, args, store)   # warm, as the server is after its first request
            times = []
            for _ in range(IN_PROCESS_RUNS):
                started = time.perf_counter()
                cli.run_on_store(command, args, store)
                times.append(time.perf_counter() - started)
            found[name] = times
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="artifacts/bench-demo.duckdb")
    parser.add_argument("--requests", type=int, default=200, help="answers per cell (command x clients)")
    parser.add_argument("--cell-seconds", type=float, default=90, help="no new request in a cell after this")
    args = parser.parse_args()
    source = Path(args.db) if Path(args.db).is_absolute() else ROOT / args.db
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {source} with the demo's 1,000,000 telemetry rows (once; about a minute) ...", flush=True)
        run([PYTHON, "-m", "governance", "init", "--demo", "--db", str(source), "--json"])

    with tempfile.TemporaryDirectory(prefix="quorum-bench-api-") as folder:
        db, stopped = Path(folder) / "served.duckdb", Path(folder) / "stopped.duckdb"
        for copy in (db, stopped):   # the served copy, and a copy no server ever holds, for the baselines
            shutil.copyfile(source, copy)
            anchor = source.with_name(source.name + ".anchor")
            if anchor.exists():
                shutil.copyfile(anchor, copy.with_name(copy.name + ".anchor"))
        cli = [PYTHON, "-m", "governance"]
        _, issued = run([*cli, "tokens", "create", "bench-api", "--user", LEADER, "--by", ADMIN, "--json",
                         "--db", str(db)])
        token = json.loads(issued)["token"]

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        client = Client(url, token)
        log_path = Path(folder) / "server.log"
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        server = start_server(db, port, log_path)
        try:
            ready = wait_ready(client, server, log_path)
            for words, arguments in COMMANDS.values():   # first requests: caches filled, as in a running server
                client.command(words, arguments)

            cells: dict[tuple[str, int], tuple[list[float], float]] = {}
            for clients in CLIENTS:
                cells[("whoami (authentication only)", clients)] = load(
                    client.whoami, clients=clients, requests=args.requests,
                    seconds=args.cell_seconds)
            for name, (words, arguments) in COMMANDS.items():
                for clients in CLIENTS:
                    cells[(name, clients)] = load(lambda w=words, a=arguments: client.command(w, a), clients=clients,
                                                  requests=args.requests, seconds=args.cell_seconds)
                    print(f"  measured {name} with {clients} clients", file=sys.stderr, flush=True)

            # The command line both ways, in alternating rounds while the server idles, so that a busy machine
            # weighs on both alike; the local side reads the copy no server holds.
            remote_env = environment(QUORUM_SERVER=url, QUORUM_TOKEN=token)
            kpis = [*cli, "kpis", "--model", "adult-income", "--json"]
            local = [*kpis, "--db", str(stopped)]
            run(kpis, env=remote_env)   # warm starts: bytecode compiled, the file in the page cache
            run(local)
            remote_times, local_times = [], []
            for _ in range(CLI_RUNS):
                remote_times.append(run(kpis, env=remote_env))
                local_times.append(run(local))
            server_memory = peak_rss_mb(server.pid)
        finally:
            stop_server(server)
        served_for = time.perf_counter() - started
        if db.with_name(db.name + ".server.json").exists():
            sys.exit("the server left its server file behind after a clean shutdown")

        if remote_times[-1][1] != local_times[-1][1]:
            sys.exit("kpis through the server printed something else than kpis on the workspace file")
        handlers = in_process(stopped)
        status = json.loads(run([*cli, "status", "--json", "--db", str(stopped)])[1])

    print(f"one server (python -m governance serve, 127.0.0.1:{port}) on a copy of {source.name}: "
          f"{status['tables']['telemetry']:,} telemetry rows; ready in {ready:.1f} s; "
          f"peak memory {server_memory:,.0f} MB; {served_for:.0f} s in all")
    print(f"{os.cpu_count()} cores; 1-minute load average {load_before:.1f} before the server started (other work "
          f"on the machine)")
    print(f"API latency, POST /api/v1/commands/..., {args.requests} requests per cell (at most "
          f"{args.cell_seconds:.0f} s), a new connection per request; p50 / p95 in ms, throughput in requests/s")
    header = f"{'command':<60}" + "".join(f"{f'{c} client' + ('s' if c > 1 else ''):>26}" for c in CLIENTS)
    print(header)
    names = ["whoami (authentication only)", *COMMANDS]
    for name in names:
        line = f"{name:<60}"
        for clients in CLIENTS:
            cell = cells.get((name, clients))
            if cell is None:
                line += f"{'':>26}"
                continue
            latencies, wall = cell
            line += (f"{percentile(latencies, 0.5) * 1000:>8.0f} /{percentile(latencies, 0.95) * 1000:>6.0f}"
                     f"  {len(latencies) / wall:>6.1f}/s")
        print(line)
    print(f"baseline: the same handlers in this process on the open workspace (no HTTP, no token), "
          f"{IN_PROCESS_RUNS} calls one after another; p50 / p95 in ms, beside the API's at 1 client")
    for name, times in handlers.items():
        api = cells[(name, 1)][0]
        print(f"  {name:<58}{percentile(times, 0.5) * 1000:>8.0f} /{percentile(times, 0.95) * 1000:>6.0f}"
              f"   API {percentile(api, 0.5) * 1000:>5.0f} /{percentile(api, 0.95) * 1000:>6.0f}")
    remote_best = min(t for t, _ in remote_times)
    local_best = min(t for t, _ in local_times)
    print(f"the command line end to end, `kpis --model adult-income --json`, fresh process, best of {CLI_RUNS} "
          f"(same output, checked):")
    print(f"  through the server (QUORUM_SERVER)      {remote_best:.3f} s   "
          f"{', '.join(f'{t:.2f}' for t, _ in remote_times)}")
    print(f"  on the workspace file (no server)       {local_best:.3f} s   "
          f"{', '.join(f'{t:.2f}' for t, _ in local_times)}")
    print(f"  through the server is {local_best / remote_best:.1f}x faster")


if __name__ == "__main__":
    main()
