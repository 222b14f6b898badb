"""The Explanations page in a real browser (Debian's Chromium through Playwright) against a real server
(`python -m governance serve`), with its explanation stored: how long until the page has settled, and how many
websocket bytes it took.

    python benchmarks/explanations_page_browser.py [--db artifacts/bench-demo.duckdb] [--visits 7]
                                                   [--baseline 9544371 | --baseline none]

"Settled" is what the browser tests wait for (tests/browser/conftest.py, DRAWN_AND_STILL): the script has finished,
every visible chart and table has drawn, no skeleton is left, and the main area has not changed for 750 ms. The
figures here are the moment of the last change (the page was settled from then on); the test's wait ends 750 ms
later, so that figure is printed too.

Two measurements per server (after one session that warms the server up):
- a new session: a new browser context opens /explanations, signs in as a demo person and waits for the page to
  settle (time from `goto`; includes loading the app's JavaScript and the sign-in screen). Measured twice: the first
  finds the server's caches cold (the explanation's values read, its pictures drawn), the second warm. The same for
  /reports, a light page, gives the part that is not the Explanations page's;
- visits: in that signed-in session, a click on Explanations in the sidebar (after Reports), --visits times; the time
  from the click, the websocket bytes received, and the browser main thread's busy time (CDP TaskDuration).

Baseline in the same run: a second server runs the same code with pages/explanations.py and
components/explanation_charts.py as they were at --baseline (a git revision: before issue 20 the beeswarm's ~20,000
dots and the dependence plot's 2,000 were SVG elements), on its own copy of the workspace. `--baseline none` skips it.

The demo workspace (1 million telemetry rows) is built once if missing (`python -m governance init --demo`) and kept;
each server works on a copy in a temporary folder. Target (issue 20): under 1.5 s to settle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_LEDGER_KEY = os.environ.get("QUORUM_LEDGER_KEY")

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS, DRAWN_AND_STILL, sign_in_as_demo_user  # noqa: E402

# The test fixtures set a test ledger key when none is set: the servers here use the same key as the workspace's
# builder (`init --demo` below, or whoever built --db), so the key is put back as it was.
if _LEDGER_KEY is None:
    os.environ.pop("QUORUM_LEDGER_KEY", None)

PYTHON = sys.executable
PAGE_FILES = ("pages/explanations.py", "components/explanation_charts.py")
BASELINE = "9544371"     # the last commit before issue 20's change to the page
TARGET_SECONDS = 1.5
QUIET_SECONDS = 0.75     # DRAWN_AND_STILL's "unchanged for 750 ms"
VIEWPORT = {"width": 1440, "height": 2200}
SKIP = {".git", ".venv", "artifacts", "__pycache__", ".pytest_cache"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_demo(db: Path) -> None:
    if db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the demo workspace {db} (about a minute) …", flush=True)
    subprocess.run([PYTHON, "-m", "governance", "init", "--demo", "--db", str(db)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def copy_workspace(db: Path, folder: Path) -> Path:
    target = folder / "workspace.duckdb"
    shutil.copyfile(db, target)
    anchor = Path(f"{db}.anchor")
    if anchor.exists():
        shutil.copyfile(anchor, f"{target}.anchor")
    return target


def baseline_tree(revision: str, folder: Path) -> Path | None:
    """This tree with the page's two files as they were at `revision`; None (and why) if git cannot give them."""
    tree = folder / "baseline-tree"
    shutil.copytree(ROOT, tree, ignore=lambda _, names: [n for n in names if n in SKIP or n.endswith(".duckdb")])
    for path in PAGE_FILES:
        shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True)
        if shown.returncode != 0:
            print(f"baseline skipped: git cannot show {revision}:{path} ({shown.stderr.decode().strip()})")
            return None
        (tree / path).write_bytes(shown.stdout)
    return tree


class Server:
    def __init__(self, *, tree: Path, db: Path, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"server-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("QUORUM_SERVER", "QUORUM_TOKEN")}
        env.update(QUORUM_DB=str(db), QUORUM_AUTO_DEMO="0", QUORUM_DEMO_MODE="1")   # signs in as a demo person
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "governance", "serve", "--db", str(db), "--port", str(self.port), "--address",
                 "127.0.0.1"], cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the server did not become healthy:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def settle(page) -> float:
    """Wait as the browser tests do; the epoch seconds of the main area's last change."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
    page.wait_for_function(DRAWN_AND_STILL, polling=100, timeout=120_000)
    return page.evaluate("window.__quorumSince") / 1000


def first_visit(browser, url: str, path: str, title: str) -> tuple[float, float, int]:
    """A new session: goto, sign in, settled. Seconds to the last change, to the end of the wait, and bytes."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    started = time.time()
    page.goto(url + path)
    sign_in_as_demo_user(page)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=120_000)
    last_change = settle(page)
    waited = time.time() - started
    context.close()
    return last_change - started, waited, sum(received)


def visits(browser, url: str, count: int) -> list[dict]:
    """In one signed-in session: Reports, then Explanations from the sidebar, `count` times."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    received: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    page.goto(url + "/reports")
    sign_in_as_demo_user(page)
    page.get_by_role("heading", name="Reports", level=1).wait_for(timeout=120_000)
    settle(page)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def busy() -> float:
        return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")

    nav = page.get_by_test_id("stSidebarNav")
    measured = []
    for _ in range(count):
        nav.get_by_role("link", name="Reports").click()
        page.get_by_role("heading", name="Reports", level=1).wait_for(timeout=120_000)
        settle(page)
        received.clear()
        before = busy()
        started = time.time()
        nav.get_by_role("link", name="Explanations").click()
        page.get_by_role("heading", name="Explanations", level=1).wait_for(timeout=120_000)
        last_change = settle(page)
        waited = time.time() - started
        measured.append({"settled": last_change - started, "waited": waited, "bytes": sum(received),
                         "busy": busy() - before})
    context.close()
    return measured


def measure(browser, name: str, *, tree: Path, db: Path, folder: Path, count: int) -> dict:
    work = folder / name
    work.mkdir()
    server = Server(tree=tree, db=copy_workspace(db, work), folder=work)
    try:
        first_visit(browser, server.url, "/reports", "Reports")   # the server's own first start: not counted
        light = first_visit(browser, server.url, "/reports", "Reports")
        cold = first_visit(browser, server.url, "/explanations", "Explanations")
        first = first_visit(browser, server.url, "/explanations", "Explanations")
        return {"name": name, "light": light, "cold": cold, "first": first,
                "visits": visits(browser, server.url, count)}
    finally:
        server.stop()


def report(result: dict) -> None:
    runs = result["visits"]
    settled = [r["settled"] for r in runs]
    light, cold, first = result["light"], result["cold"], result["first"]
    print(f"\n{result['name']}")
    print(f"  a new session (goto, sign in, settled): Explanations {first[0]:.2f} s (the tests' wait ends "
          f"{first[1]:.2f} s; {first[2]:,} bytes); the very first after the server started {cold[0]:.2f} s; "
          f"Reports, for comparison, {light[0]:.2f} s ({light[2]:,} bytes)")
    print(f"  visits from the sidebar ({len(runs)}): settled median {statistics.median(settled):.2f} s, "
          f"min {min(settled):.2f}, max {max(settled):.2f}; the tests' wait ends "
          f"{statistics.median(r['waited'] for r in runs):.2f} s (median)")
    print(f"    browser main thread busy {statistics.median(r['busy'] for r in runs):.2f} s (median); websocket "
          f"bytes first {runs[0]['bytes']:,}, then {statistics.median(r['bytes'] for r in runs[1:] or runs):,.0f}")
    print("    each visit (s): " + ", ".join(f"{s:.2f}" for s in settled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=ROOT / "artifacts" / "bench-demo.duckdb")
    parser.add_argument("--visits", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the page's old files, or 'none'")
    args = parser.parse_args()
    ensure_demo(args.db)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; chromium {chromium}")
    with tempfile.TemporaryDirectory(prefix="quorum-explanations-bench-") as temporary, sync_playwright() as pw:
        folder = Path(temporary)
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            results = [measure(browser, "this code", tree=ROOT, db=args.db, folder=folder, count=args.visits)]
            tree = None if args.baseline == "none" else baseline_tree(args.baseline, folder)
            if tree is not None:
                results.append(measure(browser, f"baseline: the page's files at {args.baseline}", tree=tree,
                                       db=args.db, folder=folder, count=args.visits))
        finally:
            browser.close()
    for result in results:
        report(result)
    median = statistics.median(r["settled"] for r in results[0]["visits"])
    print(f"\nload average after: {os.getloadavg()[0]:.1f}. Target: settled under {TARGET_SECONDS} s on a visit: "
          f"{'met' if median < TARGET_SECONDS else 'NOT met'} (median {median:.2f} s).")
    if len(results) > 1:
        before = statistics.median(r["settled"] for r in results[1]["visits"])
        print(f"Against the baseline in this run: {before:.2f} s -> {median:.2f} s ({before / median:.1f}x faster).")


if __name__ == "__main__":
    main()
