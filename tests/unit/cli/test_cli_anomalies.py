"""`python -m governance anomalies [list|accept|levels]` through the CLI entry point (in process), and its place in
the API's command document."""

from __future__ import annotations

import json

import pandas as pd

from governance.cli import main as governance_cli
from governance.cli.anomalies import ACCEPT_NEEDS, ONLY_FOR_ACCEPT
from governance.monitoring.anomalies import ACCEPTED_KIND, kpi_anomalies
from governance.record import ledger, verification
from governance.record.store import GovernanceStore

FIELDS = {"version", "kpi", "period", "value", "expected", "expected_low", "expected_high", "score"}


def test_listing_gives_every_flagged_period_with_its_band(demo_copy, cli):
    listed = cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--grain", "day", "--json")
    assert listed.returncode == 0, listed.stderr
    result = json.loads(listed.stdout)
    with GovernanceStore(demo_copy) as store:
        expected = []
        for kpi in ("latency_p95_ms", "error_rate", "accuracy"):
            points = kpi_anomalies(store, model="adult-income", kpi=kpi, grain="day")["points"]
            expected += [(pd.Timestamp(p).isoformat(), v, kpi) for p, v in
                         points.loc[points["anomalous"], ["period", "version"]].itertuples(index=False)]
    assert sorted((a["period"], a["version"], a["kpi"]) for a in result["anomalies"]) == sorted(expected)
    latency = [a for a in result["anomalies"] if a["kpi"] == "latency_p95_ms"]
    assert len(latency) >= 5 and all(set(a) == FIELDS for a in result["anomalies"])
    assert all(a["expected_low"] <= a["expected"] <= a["expected_high"] < a["value"] for a in latency)

    narrowed = json.loads(cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--kpi", "latency_p95_ms",
                              "--version", "v2", "--since", latency[1]["period"][:10], "--until",
                              latency[1]["period"][:10], "--json").stdout)
    assert [a["period"] for a in narrowed["anomalies"]] == [latency[1]["period"]]

    shown = cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--kpi", "latency_p95_ms")
    assert shown.returncode == 0 and f"{len(latency)} flagged days" in shown.stdout


def test_accept_records_who_when_why_and_the_shift_stops_being_flagged(demo_copy, cli):
    before = json.loads(cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--kpi", "latency_p95_ms",
                            "--json").stdout)["anomalies"]
    start = before[0]["period"]
    missing = cli("anomalies", "accept", "--db", demo_copy, "--model", "adult-income", "--version", "v2",
                  "--kpi", "latency_p95_ms", "--from", start, "--by", "farid.haddad")
    assert missing.returncode == 2 and ACCEPT_NEEDS.format(missing="--reason") in missing.stderr
    refused = cli("anomalies", "accept", "--db", demo_copy, "--model", "adult-income", "--version", "v2",
                  "--kpi", "latency_p95_ms", "--from", start, "--reason", "r", "--by", "hugo.tanaka")
    assert refused.returncode == 2 and "viewer" in refused.stderr
    stray = cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--reason", "r")
    assert stray.returncode == 2 and ONLY_FOR_ACCEPT.format(options="--reason") in stray.stderr

    accepted = cli("anomalies", "accept", "--db", demo_copy, "--model", "adult-income", "--version", "v2",
                   "--kpi", "latency_p95_ms", "--from", start, "--reason", "the new feature store is slower",
                   "--by", "farid.haddad", "--json")
    assert accepted.returncode == 0, accepted.stderr
    level = json.loads(accepted.stdout)["accepted"]
    assert (level["by"], level["role"], level["reason"]) == ("Farid Haddad", "engineering leader",
                                                            "the new feature store is slower")
    assert level["from"] == start
    with GovernanceStore(demo_copy) as store:
        (entry,) = ledger.entries(store, kind=ACCEPTED_KIND)
        assert entry["payload"]["from"] == start and verification.verify(store)["ok"]

    after = json.loads(cli("anomalies", "--db", demo_copy, "--model", "adult-income", "--kpi", "latency_p95_ms",
                           "--json").stdout)
    assert not [a for a in after["anomalies"] if a["version"] == "v2" and a["period"] >= start]
    assert after["accepted"] == [level]
    levels = cli("anomalies", "levels", "--db", demo_copy, "--model", "adult-income")
    assert "accepted by Farid Haddad (engineering leader)" in levels.stdout and "feature store" in levels.stdout


def test_the_api_document_offers_the_command_with_its_fields():
    from api.openapi import document

    operation = document(governance_cli.build_parser())["paths"]["/api/v1/commands/anomalies"]["post"]
    fields = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["arguments"]
    assert {"action", "model", "version", "kpi", "grain", "since", "until", "start", "reason", "by"} <= \
        set(fields["properties"])
    assert fields["properties"]["action"]["enum"] == ["list", "accept", "levels"]
