"""Writing view rows: append-only history by COPY, cumulative values per key, small fact tables."""

from typing import Any

from psycopg import Cursor


def copy_rows(
    cur: Cursor[Any], table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Appends rows with COPY: history rows are only ever added, and COPY is the fast path."""
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


class Cumulative:
    """Latest cumulative values per key, loaded on first touch; one history row per change."""

    def __init__(self, table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> None:
        self.table, self.keys, self.values = table, keys, values
        self.latest: dict[tuple[Any, ...], list[int]] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.cur: Cursor[Any] | None = None

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur, self.latest, self.rows = cur, {}, []

    def get(self, key: tuple[Any, ...]) -> list[int]:
        if key not in self.latest:
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
        self.cache: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self.created: set[str] = set()
        self.cur: Cursor[Any] | None = None

    def begin(self, cur: Cursor[Any]) -> None:
        self.cur, self.dirty, self.created = cur, set(), set()
        self.cache = {}  # a rolled-back batch must not leave facts behind

    def put(self, key: str, *, new: bool = False, **values: Any) -> None:
        """Records values of a fact; `new` when the event creates it (nothing to load)."""
        if new:
            self.cache[key] = dict.fromkeys(self.columns)
            self.created.add(key)
        self.get(key).update(values)
        self.dirty.add(key)

    def get(self, key: str) -> dict[str, Any]:
        if key not in self.cache:
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
