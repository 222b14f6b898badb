"""Two `python -m governance serve` processes sharing one PostgreSQL database and one telemetry lake, as a team
deploys Quorum behind a load balancer. The demo workspace is moved there with `migrate`, then the 200 concurrent
writers of concurrent_writers hit both servers at once: nothing acknowledged is lost, no id is issued twice, no
chain forks, and `verify` is intact on both. What one server writes, the other reads at its next request (the pages' cache keys: tests/unit/components/
test_cache_keys_across_servers.py).
"""

from __future__ import annotations

import uuid

import pytest

from tests.api.concurrent_writers import INGEST_ROWS, INGESTS, prepare, two_hundred_writers
from tests.api.conftest import LEADER, VIEWER, cli, cli_here, fresh_copy, must, serve
from tests.servers import stop_server


@pytest.fixture(scope="module")
def servers(demo_workspace, module_dir, postgres_server):
    db = fresh_copy(demo_workspace, module_dir)
    review_ids, tokens = prepare(db, module_dir)
    url = postgres_server.create_database(f"two_servers_{uuid.uuid4().hex[:8]}")
    lake = module_dir / "lake"
    must(cli_here("--db", db, "migrate", "--to", url, "--lake", lake, "--json"))
    env = {"QUORUM_LAKE": str(lake)}
    pair = [serve(url, module_dir, tokens=tokens, env=env) for _ in range(2)]
    for server in pair:
        server.review_ids = review_ids
        server.lake = lake
    yield pair
    for server in pair:
        stop_server(server.process)


def test_telemetry_ingested_through_one_server_is_read_on_the_other_at_once(servers, module_dir):
    first, second = servers
    before = second.result("status", as_user=VIEWER)["result"]["tables"]["telemetry"]
    path = module_dir / "one-more.csv"
    path.write_text("ts,segment,prediction,score,label,latency_ms,is_error\n"
                    + "".join(f"2026-10-01T0{i}:00:00Z,web,1,0.9,1,{30 + i},false\n" for i in range(7)))
    done = cli("ingest", "telemetry", path, "--model", "adult-income", "--version", "v2", "--json",
               env=first.through(LEADER))
    assert done.returncode == 0, done.stderr
    assert second.result("status", as_user=VIEWER)["result"]["tables"]["telemetry"] == before + 7


def test_two_hundred_writers_on_two_servers_lose_nothing_and_fork_nothing(servers, module_dir):
    elapsed = two_hundred_writers(servers, servers[0].review_ids, module_dir)
    # Each write names its files (one per day it covers) with a UUID of its own: the move of the demo, the ingest
    # of the test above, and these ingests, from two servers at once.
    # (the rollups each ingest writes beside the partitions it touched, under _rollup/, are not rows)
    names = {f.name for f in (servers[0].lake / "telemetry").rglob("*.parquet") if "_rollup" not in f.parts}
    assert len(names) == 1 + 1 + INGESTS
    print(f"200 concurrent writes on two servers in {elapsed:.1f} s; {INGEST_ROWS} rows per ingest")
