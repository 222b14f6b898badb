"""Quorum's HTTP API under /api/v1/, served by st.App beside the pages (see server.py).

The routes parse a request, run the same handler as `python -m governance …` on the server's one workspace as
the token's account, and answer with JSON. The OpenAPI document is at /api/v1/openapi.json.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import commands


async def openapi(request: Request):
    from api.openapi import document

    return JSONResponse(document(commands.current().parser))


def routes() -> list[Route]:
    return [
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/whoami", commands.whoami, methods=["GET"]),
        Route("/api/v1/commands/{words:path}", commands.run_command, methods=["POST"]),
        Route("/api/v1/uploads", commands.upload, methods=["POST"]),
        Route("/api/v1/jobs/{job_id}", commands.job, methods=["GET"]),
        Route("/api/v1/jobs/{job_id}/file", commands.job_file, methods=["GET"]),
        Route("/api/v1/{rest:path}", commands.not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/api/v1", commands.not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]


def server_url(*, address: str | None, port: int) -> str:
    """Where a client on this machine reaches the server (a wildcard bind is reached on loopback)."""
    host = address if address and address not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


@asynccontextmanager
async def lifespan(app):
    """Open the workspace once for the process, name the server beside it, start the scheduler; undo on exit."""
    from streamlit import config

    from governance.alerts import scheduler
    from governance.monitoring import sql_sandbox
    from governance.record import ledger_keys, server_file
    from governance.record.shared_stores import shared_store
    from governance.record.workspace import workspace_path

    store = shared_store(workspace_path())
    ledger_keys.initialise_if_new(store)   # a new workspace's key, before the server file is signed with it
    server = commands.open_server(store)
    url = server_url(address=config.get_option("server.address"), port=config.get_option("server.port"))
    # A DuckDB file has one owner, named beside it so that commands go through it. A PostgreSQL workspace is
    # shared by several servers and commands write to it directly: no server owns it, so none is named.
    owns_file = store.engine == "duckdb"
    if owns_file:
        server_file.write(workspace=store.path, url=url)
    os.environ["QUORUM_SERVED_AT"] = url   # alert links' default address
    scheduler.start(store, tick_seconds=float(os.environ.get("QUORUM_SCHEDULER_TICK", scheduler.TICK_SECONDS)))
    try:
        yield {"quorum": server}
    finally:
        scheduler.stop()
        if owns_file:
            server_file.remove(workspace=store.path)
        sql_sandbox.remove_snapshot_folder(store)   # the SQL console's copy of the telemetry, in a temporary folder
        commands.close_server()
