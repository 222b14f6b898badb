"""200 API writers at once against one server (see concurrent_writers: risks, votes, audits as jobs, ingests).
Every write the server acknowledged is there afterwards, exactly once, no id is issued twice, and both hash chains
(the ledger, the risk register) verify.
"""

from __future__ import annotations

import pytest

from tests.api.concurrent_writers import prepare, two_hundred_writers
from tests.api.conftest import fresh_copy, serve
from tests.servers import stop_server


@pytest.fixture(scope="module")
def served(demo_workspace, module_dir):
    db = fresh_copy(demo_workspace, module_dir)
    review_ids, tokens = prepare(db, module_dir)
    server = serve(db, module_dir, tokens=tokens)
    server.review_ids = review_ids
    yield server
    stop_server(server.process)


def test_two_hundred_concurrent_writers_lose_nothing_and_duplicate_nothing(served, module_dir):
    elapsed = two_hundred_writers([served], served.review_ids, module_dir)
    print(f"200 concurrent writes in {elapsed:.1f} s")
