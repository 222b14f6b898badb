"""Alerts inside one process: checks and rule edits that run at the same moment, on real threads and a real
workspace, lose nothing and fail on nothing (every read-decide-write happens inside the one write)."""

from __future__ import annotations

import threading

from governance import alerts
from governance.alerts import delivery
from governance.record.store import GovernanceStore
from tests.conftest import LEADER, forget_alerts

THREADS = 8


def together(calls) -> list:
    """Run the calls on their own threads, released at the same moment; every result or exception, in order."""
    gate = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, call):
        gate.wait()
        try:
            out[i] = call()
        except BaseException as exc:  # noqa: BLE001 -- the test reports every failure
            out[i] = exc
    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def episode_rows(store) -> list[tuple]:
    return sorted(store.query_rows("SELECT alert_key, severity, notified_severity, closed_at IS NULL "
                                   "FROM alert_episode"))


def outbox_rows(store) -> list[tuple]:
    return sorted(store.query_rows("SELECT alert_key, channel, recipient, status FROM alert_delivery"))


def test_checks_at_the_same_moment_open_each_episode_once(demo_copy, tmp_path):
    forget_alerts(demo_copy)
    with GovernanceStore(demo_copy) as store:
        found = alerts.findings(store)   # the slow part, judged once: the race is in deciding and writing
        results = together([lambda: alerts.check(store, actor=LEADER, found=found) for _ in range(THREADS)])
        assert not [r for r in results if isinstance(r, BaseException)], results
        # one check opened every episode; the others found them open
        opened = sorted(k for r in results for k in r["opened"])
        assert opened == sorted(f["alert_key"] for f in found)
        assert len(opened) == len(set(opened))
        concurrent_episodes, concurrent_outbox = episode_rows(store), outbox_rows(store)

    single = tmp_path / "single.duckdb"
    single.write_bytes(demo_copy.read_bytes())
    forget_alerts(single)
    with GovernanceStore(single) as store:
        alerts.check(store, actor=LEADER, found=found)
        assert episode_rows(store) == concurrent_episodes
        assert outbox_rows(store) == concurrent_outbox


def test_concurrent_rule_edits_lose_none(demo_copy):
    changes = [("adult-income", {"drift_act": {"severity": "critical"}}),
               ("adult-income", {"anomaly": {"sensitivity": 6}}),
               ("adult-income", {"slo_breach": {"enabled": False}}),
               ("adult-income", {"fairness_fail": {"recipients": ["ops@example.org"]}}),
               ("adult-income", {"decision_stale": {"days_ahead": 45}}),
               ("adult-income", {"robustness_fail": {"severity": "info"}}),
               ("german-credit", {"drift_act": {"enabled": False}}),
               ("german-credit", {"overdue_control": {"severity": "critical"}})]
    with GovernanceStore(demo_copy) as store:
        results = together([lambda m=m, c=c: alerts.set_rules(store, model=m, changes=c, actor=LEADER)
                            for m, c in changes])
        assert not [r for r in results if isinstance(r, BaseException)], results
        for model, change in changes:
            in_force = alerts.rules(store, model=model)
            for what, rule in change.items():
                for name, value in rule.items():
                    assert in_force[what][name] == value, (model, what, name)
        assert delivery.history(store) is not None
