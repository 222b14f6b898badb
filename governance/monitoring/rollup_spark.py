"""A lake partition's rollup computed by Apache Spark, for lakes too large for one machine.

lake_rollup builds a partition's rollup from telemetry_sql.ROLLUP_SQL, written once in DuckDB's dialect over the
relation `telemetry`. With engine="spark" the same statements run here, in Spark, over the partition's files:
spark_engine.spark_sql translates them (bound values written as literals, `telemetry` read from a view of
the files), and the aggregates come back as pandas frames with the columns and dtypes DuckDB gives for the same
statements. lake_rollup writes them to Parquet itself, so a rollup has the same schema whichever engine made it.

The types are DuckDB's, not Spark's, on purpose: Spark's date_trunc of a timestamp is a timestamp with a time
zone, its ceil a BIGINT, and its rows come back in other Arrow types. So each statement is also planned by
DuckDB over an empty table of the partition's schema (its result's types, without reading a row), and Spark's
rows are cast to those types by DuckDB itself, which converts them to pandas exactly as its own run would.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from governance.errors import InvalidInputError
from governance.monitoring import spark_engine
from governance.monitoring.telemetry_dataset import PARTITION

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

NO_FILES = "a Spark rollup needs the partition's Parquet files: none were given"


def aggregate_on_spark(*, files: list[str], statements: dict[str, str], params: dict,
                       master: str | None = None) -> dict[str, pd.DataFrame]:
    """Each statement (DuckDB dialect over `telemetry`, `$name` parameters from `params`) run in Spark over the
    Parquet `files`, as {name: frame} with the columns and dtypes DuckDB gives for it."""
    import duckdb

    if not files:
        raise InvalidInputError(NO_FILES)
    spark = spark_engine.session(master)
    frame = spark.read.parquet(*files)
    if PARTITION in frame.columns:   # discovered from the date=… folder; the rows have ts
        frame = frame.drop(PARTITION)
    view = f"quorum_rollup_{abs(hash(tuple(files))) % 10**8}"
    frame.createOrReplaceTempView(view)
    planner = duckdb.connect()
    try:
        planner.register("telemetry", _empty_like(files[0]))
        results = {}
        for name, statement in statements.items():
            used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", statement)}   # DuckDB refuses others
            planned = planner.sql(statement, params=used) if used else planner.sql(statement)
            unordered, order = _order_apart(statement, planned.columns)
            rows = spark.sql(spark_engine.spark_sql(unordered, params, relation=view)).toArrow()
            results[name] = _as_duckdb_gives(planner, _naive_utc(rows), columns=planned.columns,
                                             types=planned.types, order=order)
        return results
    finally:
        planner.close()
        spark.catalog.dropTempView(view)


def _empty_like(file: str) -> pa.Table:
    """No rows, with the columns and types of a partition's file (its partition column, if written in, left out)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(file).remove_metadata()
    if PARTITION in schema.names:
        schema = schema.remove(schema.get_field_index(PARTITION))
    return schema.empty_table()


def _naive_utc(table: pa.Table) -> pa.Table:
    """Spark's timestamps with a time zone (date_trunc's results; the session is in UTC) as the UTC wall time, as
    DuckDB's TIMESTAMP holds it: cast in DuckDB, they would be shifted to the machine's zone."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp(field.type.unit)))
    return table


def _order_apart(statement: str, columns: list[str]):
    """The statement (parsed) without its final ORDER BY, and that order over the result's columns, when it orders
    by output columns only (by position or name): DuckDB then sorts Spark's result as it sorts its own (NULLs last,
    where Spark puts them first), and Spark skips a global sort that takes most of its time in local mode."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(statement, read="duckdb")
    order = tree.args.get("order")
    if order is None:
        return tree, None
    keys = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int and 1 <= int(key.this) <= len(columns):
            name = columns[int(key.this) - 1]
        elif isinstance(key, exp.Column) and not key.table and key.name in columns:
            name = key.name
        else:   # an expression: Spark keeps the order
            return tree, None
        keys.append(f'"{name}"' + (" DESC" if ordered.args.get("desc") else ""))
    tree.set("order", None)
    return tree, ", ".join(keys)


def _as_duckdb_gives(planner, rows: pa.Table, *, columns: list[str], types: list,
                     order: str | None = None) -> pd.DataFrame:
    """Spark's rows with DuckDB's column types (and in the statement's order), converted to pandas by DuckDB."""
    if rows.column_names != list(columns):
        raise RuntimeError(f"Spark's columns {rows.column_names} are not DuckDB's {list(columns)}")
    casts = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in zip(columns, types))
    typed = planner.from_arrow(rows).project(casts)
    return (typed.order(order) if order else typed).df()
