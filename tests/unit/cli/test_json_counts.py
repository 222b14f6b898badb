"""Counts are integers in every `--json` output: `"n": 10523`, never `10523.0`. Every command's JSON on a demo
workspace is walked, and each count-named field (n, rows, count, labelled, failures, votes, *_n, n_*, *_rows,
*_count, ...) must hold an int (or null), as must the values of a count-named list or map (group sizes)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from governance.cli.main import as_json_values

# written here, apart from the CLI's own pattern, so a field the CLI forgets is still caught
COUNT = re.compile(r"^(n|rows|count|labelled|failures|votes|tests|requests|errors|sizes|evaluation_rows|"
                   r"telemetry_rows|rows_explained|rows_available|open_conditions)$"
                   r"|^n_|_n$|^rows_|_rows$|_count$|_counts$|_requests$|_failures$|_labelled$")

COMMANDS = [
    ["status"],
    ["kpis", "--model", "adult-income"],
    ["kpis", "--model", "german-credit", "--grain", "day"],
    ["drift", "--model", "adult-income", "--version", "v1"],
    ["compare", "--model", "adult-income", "--a", "v1", "--b", "v2"],
    ["robustness", "list"],
    ["alerts", "list"],
    ["gate", "--model", "german-credit", "--version", "v1", "--stage", "production", "--by", "hugo.tanaka"],
    ["checklist", "show", "--model", "german-credit", "--version", "v1"],
    ["retraining", "check"],
    ["audit", "list"],
    ["audit", "show", "FA-0001"],
    ["audit", "verify", "FA-0001"],
    ["audit", "compare", "FA-0001", "FA-0002"],
    ["explain", "--model", "german-credit", "--version", "v1", "--row", "3"],
    ["risks", "list"],
    ["risks", "coverage", "--framework", "nist"],
    ["risks", "verify"],
    ["users", "list"],
    ["tokens", "list"],
    ["signoff", "list"],
    ["quality", "--model", "german-credit"],
    ["telemetry", "show"],
    ["verify"],
]


def count_fields_that_are_not_integers(value, path: str = "", count: bool = False) -> list[str]:
    if isinstance(value, dict):
        return [bad for key, item in value.items()
                for bad in count_fields_that_are_not_integers(
                    item, f"{path}.{key}",
                    bool(COUNT.search(str(key))) or (count and not isinstance(item, (dict, list))))]
    if isinstance(value, list):
        return [bad for i, item in enumerate(value)
                for bad in count_fields_that_are_not_integers(item, f"{path}[{i}]", count)]
    if count and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        return [f"{path} = {value!r}"]
    return []


def test_every_commands_json_holds_its_counts_as_integers(demo_copy, tmp_path, cli):
    bad, seen = {}, 0
    for command in COMMANDS:
        done = cli("--db", demo_copy, *command, "--json")
        assert done.returncode in (0, 1), (command, done.stderr)   # 1: a gate or a check said no, as JSON
        result = json.loads(done.stdout)
        seen += len(re.findall(r'"(?:n|rows|count|labelled|votes)":', done.stdout))
        found = count_fields_that_are_not_integers(result)
        if found:
            bad[" ".join(command)] = found[:5]
    report = tmp_path / "report.json"
    done = cli("--db", demo_copy, "report", "--model", "adult-income", "--version", "v1", "--format", "json",
               "--out", report, "--by", "farid.haddad", "--json")
    assert done.returncode == 0, done.stderr
    in_file = count_fields_that_are_not_integers(json.loads(report.read_text()))
    if in_file:
        bad["report (its JSON file)"] = in_file[:5]
    assert not bad, bad
    assert seen > 50   # the walk met counts: a test over outputs without any would prove nothing


@pytest.mark.parametrize("value", [10523.0, np.float64(10523.0), np.int64(10523)])
def test_a_count_read_as_a_float_leaves_as_an_integer(value):
    frame = pd.DataFrame({"group": ["a", "b"], "n": [value, None]})    # a gap turns an int column into floats
    records = frame.to_dict("records")
    assert isinstance(records[0]["n"], float)
    out = as_json_values({"groups": records, "sizes": {"a": float(value)}, "rate": 3.0, "rows_explained": 300.0})
    assert out["groups"][0]["n"] == 10523 and type(out["groups"][0]["n"]) is int
    assert out["sizes"] == {"a": 10523} and type(out["sizes"]["a"]) is int
    assert type(out["rows_explained"]) is int and type(out["rate"]) is float   # a rate stays a float
    assert out["groups"][1]["n"] != out["groups"][1]["n"]                     # NaN is not made a count
    assert count_fields_that_are_not_integers(out) == [".groups[1].n = nan"]
