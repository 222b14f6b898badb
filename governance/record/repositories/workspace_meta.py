"""The workspace's notes about itself (workspace_meta: key -> text, such as the demo's seed and its build marker), and
the catalogue facts needed to empty it table by table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.record.store import GovernanceStore, WriteTransaction


def has_key(store: GovernanceStore, *, key: str) -> bool:
    return bool(store.query_value("SELECT count(*) FROM workspace_meta WHERE key = ?", [key]))


def value_of(store: GovernanceStore, *, key: str) -> str | None:
    rows = store.query_rows("SELECT value FROM workspace_meta WHERE key = ?", [key])
    return rows[0][0] if rows else None


def add_values(tx: WriteTransaction, *, values: dict[str, str]) -> None:
    tx.executemany("INSERT INTO workspace_meta VALUES (?, ?)", [[k, v] for k, v in values.items()])


def remove_key(tx: WriteTransaction, *, key: str) -> None:
    tx.execute("DELETE FROM workspace_meta WHERE key = ?", [key])


def remove_all(tx: WriteTransaction) -> None:
    tx.execute("DELETE FROM workspace_meta")


def record_tables(store: GovernanceStore) -> list[str]:
    """Every table of the workspace but the engine's own (schema_version, data_version) and workspace_meta, by name."""
    return [r[0] for r in store.query_rows(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = current_schema() AND table_type = 'BASE TABLE' "
        "AND table_name NOT IN ('schema_version', 'data_version', 'workspace_meta') ORDER BY table_name")]


def foreign_keys(store: GovernanceStore) -> list[tuple[str, str]]:
    """(table, the table it refers to) for every foreign key."""
    return [(table, referenced) for table, referenced in store.query_rows("""
        SELECT fk.table_name, pk.table_name
        FROM information_schema.referential_constraints r
        JOIN information_schema.table_constraints fk
          ON fk.constraint_schema = r.constraint_schema AND fk.constraint_name = r.constraint_name
        JOIN information_schema.table_constraints pk
          ON pk.constraint_schema = r.unique_constraint_schema AND pk.constraint_name = r.unique_constraint_name
        WHERE fk.table_catalog = current_database() AND fk.table_schema = current_schema()
        ORDER BY fk.table_name, pk.table_name""")]


def empty_table(tx: WriteTransaction, *, table: str) -> None:
    """Delete every row of `table`, a name from record_tables (never user input)."""
    tx.execute(f'DELETE FROM "{table}"')
