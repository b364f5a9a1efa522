"""Writing view rows: append-only history by COPY, cumulative values per key, small fact tables;
changes to existing rows in one statement per table; what views remember across batches."""

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor

# Keys a view's memory holds before it starts again empty (and reads what it needs again).
MEMORY_LIMIT = 250_000


class Memory(dict[Any, Any]):
    """The latest row of each key a view has seen, kept across batches while the runner proves
    it is the tables' only writer (View.forget). `complete`: the view started from empty tables
    and saw every row written since, so a key not here has no row, and nothing is read for it."""

    def __init__(self) -> None:
        super().__init__()
        self.complete = False

    def reset(self, complete: bool) -> None:
        self.clear()
        self.complete = complete

    def trim(self) -> None:
        """Called at the start of a batch: a memory grown too large starts again, incomplete."""
        if len(self) > MEMORY_LIMIT:
            self.reset(False)

    def stored(
        self, cur: Cursor[Any], table: str, columns: Sequence[str], key_column: str, key: Any
    ) -> tuple[Any, ...] | None:
        """A key's newest row in its history table, for a key not remembered; None without
        a query when the memory is complete (the key has no row)."""
        if self.complete:
            return None
        cur.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {key_column} = %s"
            " ORDER BY position DESC LIMIT 1",
            (key,),
        )
        return cur.fetchone()


def copy_rows(
    cur: Cursor[Any], table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Appends rows with COPY: history rows are only ever added, and COPY is the fast path."""
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _unnest(columns: Sequence[tuple[str, str]], rows: Sequence[tuple[Any, ...]]) -> tuple[str, Any]:
    """`unnest(%s::type[], ...) AS u(columns)` and its parameters: the rows as one array each."""
    arrays = [list(values) for values in zip(*rows, strict=True)]
    casts = ", ".join(f"%s::{kind}[]" for _, kind in columns)
    return f"unnest({casts}) AS u({', '.join(name for name, _ in columns)})", arrays


def update_rows(
    cur: Cursor[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
    assignments: str | None = None,
) -> None:
    """Updates many rows in one statement: columns are (name, SQL type), the key first; each
    row is its values in that order. assignments: the SET clause (`t` the table, `u` the row),
    by default every other column from the row."""
    if not rows:
        return
    key = columns[0][0]
    source, params = _unnest(columns, rows)
    sets = assignments or ", ".join(f"{name} = u.{name}" for name, _ in columns[1:])
    cur.execute(f"UPDATE {table} AS t SET {sets} FROM {source} WHERE t.{key} = u.{key}", params)


def insert_new(
    cur: Cursor[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Inserts many rows in one statement, leaving alone those whose key is already there."""
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    source, params = _unnest(columns, rows)
    cur.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} ON CONFLICT DO NOTHING",
        params,
    )


def upsert_rows(
    cur: Cursor[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Inserts or replaces many rows (one per key, the key first) in one statement."""
    if not rows:
        return
    names = [name for name, _ in columns]
    source, params = _unnest(columns, rows)
    cur.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(names)} FROM {source}"
        f" ON CONFLICT ({names[0]}) DO UPDATE SET "
        + ", ".join(f"{name} = EXCLUDED.{name}" for name in names[1:]),
        params,
    )


class Cumulative:
    """Latest cumulative values per key, loaded on first touch; one history row per change."""

    def __init__(self, table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> None:
        self.table, self.keys, self.values = table, keys, values
        self.latest = Memory()
        self.rows: list[tuple[Any, ...]] = []
        self.cur: Cursor[Any] | None = None

    def forget(self, empty: bool) -> None:
        self.latest.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur, self.rows = cur, []
        self.latest.trim()

    def get(self, key: tuple[Any, ...]) -> list[int]:
        if key not in self.latest:
            row = None
            if not self.latest.complete:
                assert self.cur is not None
                where = " AND ".join(f"{k} = %s" for k in self.keys)
                self.cur.execute(
                    f"SELECT {', '.join(self.values)} FROM {self.table} WHERE {where}"
                    " ORDER BY position DESC LIMIT 1",
                    key,
                )
                row = self.cur.fetchone()
            self.latest[key] = list(row) if row else [0] * len(self.values)
        return self.latest[key]

    def add(self, key: tuple[Any, ...], position: int, **deltas: int) -> None:
        current = self.get(key)
        for name, delta in deltas.items():
            current[self.values.index(name)] += delta
        self.rows.append((*key, position, *current))

    def flush(self, cur: Cursor[Any]) -> None:
        # One row per (key, position): the last values win if a key changed twice at once.
        width = len(self.keys) + 1
        last = {row[:width]: row for row in self.rows}
        copy_rows(cur, self.table, (*self.keys, "position", *self.values), list(last.values()))


class Facts:
    """A view's own memory of a few facts (orders, cards), kept in a table of its own."""

    def __init__(self, table: str, key: str, columns: tuple[str, ...]) -> None:
        self.table, self.key, self.columns = table, key, columns
        self.cache = Memory()
        self.dirty: set[str] = set()
        self.created: set[str] = set()
        self.cur: Cursor[Any] | None = None

    def forget(self, empty: bool) -> None:
        self.cache.reset(empty)

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur, self.dirty, self.created = cur, set(), set()
        self.cache.trim()

    def put(self, key: str, *, new: bool = False, **values: Any) -> None:
        """Records values of a fact; `new` when the event creates it (nothing to load)."""
        if new:
            self.cache[key] = dict.fromkeys(self.columns)
            self.created.add(key)
        self.get(key).update(values)
        self.dirty.add(key)

    def get(self, key: str) -> dict[str, Any]:
        if key not in self.cache:
            row = None
            if not self.cache.complete:
                assert self.cur is not None
                self.cur.execute(
                    f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {self.key} = %s",
                    (key,),
                )
                row = self.cur.fetchone()
            if row is None:
                raise LookupError(f"{self.table}: nothing known of {key}")
            self.cache[key] = dict(zip(self.columns, row, strict=True))
        return self.cache[key]

    def flush(self, cur: Cursor[Any]) -> None:
        columns = (self.key, *self.columns)
        rows = [(k, *(self.cache[k].get(c) for c in self.columns)) for k in self.dirty]
        copy_rows(cur, self.table, columns, [r for r in rows if r[0] in self.created])
        rows = [r for r in rows if r[0] not in self.created]
        cur.executemany(
            f"INSERT INTO {self.table} ({', '.join(columns)}) VALUES"
            f" ({', '.join(['%s'] * len(columns))}) ON CONFLICT ({self.key}) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in self.columns),
            rows,
        )
