"""Apache Spark for telemetry: one session per master for the process, and DuckDB statements translated to Spark SQL.

Apart from telemetry_sources (which reads a model's telemetry through Spark) because the lake's rollups are also
computed by Spark (rollup_spark), and telemetry_sources reads those rollups: both use the session and translation
here, and neither has to import the other.
"""

from __future__ import annotations

import os
import threading
from datetime import date, datetime

from governance.errors import InvalidInputError
from governance.vocabulary import DEFAULT_SPARK_MASTER as DEFAULT_MASTER

NO_SPARK = "Spark is not available here ({reason}): install pyspark and Java 17, or choose another source"

_sessions: dict[str, object] = {}
_spark_lock = threading.Lock()


def session(master: str | None):
    """One Spark session per master for this process; UTC throughout, as the workspace stores time."""
    master = master or DEFAULT_MASTER
    with _spark_lock:
        if master not in _sessions:
            try:
                from pyspark.sql import SparkSession

                _sessions[master] = (SparkSession.builder.master(master).appName("quorum")
                                     .config("spark.sql.session.timeZone", "UTC")
                                     .config("spark.ui.enabled", "false")
                                     .config("spark.ui.showConsoleProgress", "false")
                                     # aggregates are small: a few shuffle partitions, not Spark's 200
                                     .config("spark.sql.shuffle.partitions", "4")
                                     # local mode runs in the driver: its memory is the engine's
                                     .config("spark.driver.memory", os.environ.get("QUORUM_SPARK_MEMORY", "2g"))
                                     .getOrCreate())
                _sessions[master].sparkContext.setLogLevel("ERROR")
            except Exception as exc:  # noqa: BLE001 -- no pyspark, no Java: say so, in the caller's terms
                raise InvalidInputError(NO_SPARK.format(reason=f"{type(exc).__name__}: {exc}"[:300])) from None
        return _sessions[master]


def spark_sql(sql, params: dict, *, relation: str = "telemetry") -> str:
    """A DuckDB statement (text or parsed) as Spark SQL: values as literals, `telemetry` read from the view
    `relation`, and DuckDB's functions Spark names otherwise: quantile_cont as `percentile` (the same exact,
    interpolated definition), hash as the 64-bit xxhash64, dayname as the full name, isfinite as a test for NaN
    and infinity."""
    import sqlglot
    from sqlglot import exp

    tree = (sqlglot.parse_one(sql, read="duckdb") if isinstance(sql, str) else sql).copy()
    for node in list(tree.find_all(exp.Placeholder)):
        node.replace(_literal(params[node.name]))
    for node in list(tree.find_all(exp.PercentileCont)):
        node.replace(exp.Anonymous(this="percentile", expressions=[node.this, node.expression]))
    for node in list(tree.find_all(exp.Dayname)):   # Spark's dayname() abbreviates ("Mon"); DuckDB's does not
        node.replace(exp.Anonymous(this="date_format", expressions=[node.this, exp.Literal.string("EEEE")]))
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() == "hash":   # 64 bits, as DuckDB's: Spark's hash() has 32 and collides at scale
            node.set("this", "xxhash64")
        if node.name.lower() == "isfinite":
            x = node.expressions[0]
            node.replace(sqlglot.parse_one(f"(NOT isnan({x.sql('spark')}) AND abs({x.sql('spark')}) <> "
                                           "double('infinity'))", read="spark"))
    for table in list(tree.find_all(exp.Table)):
        if table.name == "telemetry" and not table.db:
            table.set("this", exp.to_identifier(relation))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.alias or "telemetry")))
    return tree.sql(dialect="spark")


def _literal(value):
    import pandas as pd
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float):   # a DOUBLE, as DuckDB binds it, to the last digit: sqlglot writes 15 digits, and
        # Spark reads 1.25 as a DECIMAL (the rollup's latency bins need gamma exactly, in double arithmetic)
        return exp.cast(exp.Literal.string(repr(float(value))), "DOUBLE")
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return exp.cast(exp.Literal.string(pd.Timestamp(value).isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))
