"""Telemetry source locations: only under the folders and URI prefixes an admin allows ($QUORUM_TELEMETRY_ROOTS;
by default the workspace's folder and Quorum's data folder), with symbolic links and '..' resolved first, one
message for every refused location (so a refusal never tells whether a path exists), and the check made again at
every read. Real workspaces and real Parquet datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from governance.errors import InvalidInputError
from governance.monitoring import telemetry_setup, telemetry_sources
from governance.monitoring.telemetry_sources import OUTSIDE_ROOTS, ROOTS_ENV, Source, check_location
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

MODEL = "german-credit"


@pytest.fixture
def places(demo_copy, tmp_path_factory, monkeypatch):
    """The demo in its own folder with german-credit's telemetry exported beside it (inside the default roots) and
    into a folder elsewhere (outside them)."""
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    outside = tmp_path_factory.mktemp("outside")
    with GovernanceStore(demo_copy) as store:
        telemetry_setup.export_parquet(store, model=MODEL, out=demo_copy.parent / "german")
        telemetry_setup.export_parquet(store, model=MODEL, out=outside / "german")
        rows = store.query_value("SELECT count(*) FROM telemetry WHERE model = ?", [MODEL])
    return {"db": demo_copy, "inside": demo_copy.parent / "german", "outside": outside, "rows": rows}


def test_every_refused_location_gets_one_message_and_nothing_is_recorded(places):
    inside, outside = places["inside"], places["outside"]
    link = inside.parent / "link"
    link.symlink_to(outside / "german", target_is_directory=True)
    climbing = f"{inside.parent}/../{outside.name}/german"
    refused = {"parquet": [
        str(outside / "german"),                 # a real dataset, outside
        str(outside / "no-such-folder"),         # nothing there
        "/etc", "/no/such/quorum/path",
        str(link),                               # inside by its name, outside once the link is followed
        climbing,                                # inside by its prefix, outside once '..' is resolved
        str(outside / "german" / "telemetry" / "date=*" / "*.parquet"),
        f"{inside.parent}/*/../../{outside.name}/german/telemetry/date=*/*.parquet",   # a glob that climbs out
        "file:///etc/", "s3a://bucket/lake",
    ], "spark": [str(outside / "german"), "s3a://bucket/lake/adult", "parquet.`/etc`", str(link)]}
    assert Path(climbing).exists() and link.exists()   # they exist: refused for where they lead, not for absence
    with GovernanceStore(places["db"]) as store:
        before = store.query_value("SELECT count(*) FROM telemetry_source")
        for kind, locations in refused.items():
            for location in locations:
                with pytest.raises(InvalidInputError) as error:
                    telemetry_setup.set_source(store, model=MODEL, kind=kind, location=location, actor=LEADER)
                assert str(error.value) == OUTSIDE_ROOTS, (kind, location)
        assert store.query_value("SELECT count(*) FROM telemetry_source") == before
        # under the workspace's folder: read in place, every row
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=str(inside), actor=LEADER)
        assert telemetry_sources.row_count(store, model=MODEL) == places["rows"]


def test_the_admin_setting_replaces_the_default_and_is_checked_at_every_read(places, monkeypatch):
    inside, outside = places["inside"], places["outside"]
    with GovernanceStore(places["db"]) as store:
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=str(inside), actor=LEADER)
        monkeypatch.setenv(ROOTS_ENV, f"s3a://lake/quorum,{outside}{os.pathsep}/no/such/root")
        with pytest.raises(InvalidInputError) as error:   # recorded before, outside the roots now: not read
            telemetry_sources.row_count(store, model=MODEL)
        assert str(error.value) == OUTSIDE_ROOTS
        telemetry_setup.set_source(store, model=MODEL, kind="parquet", location=str(outside / "german"),
                                     actor=LEADER)
        assert telemetry_sources.row_count(store, model=MODEL) == places["rows"]
        # storage URIs: under the prefix, a whole segment at a time, with no '..'
        check_location(store, Source(model=MODEL, kind="spark", location="s3a://lake/quorum/adult"))
        check_location(store, Source(model=MODEL, kind="spark", location="adult_telemetry"))   # a catalog table
        for location in ("s3a://lake/quorum-other/adult", "s3a://lake/quorum/../secrets", "s3a://lake/"):
            with pytest.raises(InvalidInputError, match="read only from under"):
                check_location(store, Source(model=MODEL, kind="spark", location=location))
