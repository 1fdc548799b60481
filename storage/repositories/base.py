"""What every repository shares: the session and the row → dataclass helpers."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.domain import (
    Person,
)
from storage.errors import StorageError
from storage.models import (
    PersonRow,
    ServiceRow,
)

T = TypeVar("T")
# Bound parameters per statement stay well under SQLite's limit (32,766) and PostgreSQL's (65,535).
CHUNK = 5000
# The person columns read with Core (no ORM objects) on set-based paths.
PERSON_COLUMNS = (
    PersonRow.id,
    PersonRow.platform_id,
    PersonRow.display_name,
    PersonRow.service_id,
    PersonRow.email,
    PersonRow.locale,
    PersonRow.timezone,
    PersonRow.created_at,
)


def _split(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split("\n") if item) if text else ()


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def person_from(row: Any, services: dict[int, str]) -> Person:
    """A :class:`Person` from a Core row of :data:`PERSON_COLUMNS` (in that order)."""
    pid, platform_id, name, service_id, email, locale, timezone, created_at = row[:8]
    return Person(
        id=pid,
        platform_id=platform_id,
        display_name=name,
        service=services.get(service_id) if service_id is not None else None,
        email=email,
        locale=locale,
        timezone=timezone,
        created_at=created_at,
    )


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def pg_pairs(pairs: Sequence[tuple[Any, Any]], key_type: Any, value_type: Any) -> Any:
    """``(key, value)`` pairs as a PostgreSQL derived table ``pairs(key, value)`` made of two
    array parameters (``unnest``): an ``UPDATE … FROM`` it changes many rows in one statement,
    where psycopg's ``executemany`` would send one ``UPDATE`` per row."""
    return (
        func.unnest(
            bindparam(None, [k for k, _ in pairs], type_=postgresql.ARRAY(key_type)),
            bindparam(None, [v for _, v in pairs], type_=postgresql.ARRAY(value_type)),
        )
        .table_valued("key", "value")
        .render_derived(name="pairs")
    )


def _plain(value: Any) -> Any:
    """A value as ``COPY`` writes it: enums by their value (what the ORM stores)."""
    return value.value if isinstance(value, enum.Enum) else value


class _Repo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _service_id(self, name: str, *, create: bool = False) -> int | None:
        found = self.session.scalar(select(ServiceRow.id).where(ServiceRow.name == name))
        if found is None and create:
            row = ServiceRow(name=name)
            self.session.add(row)
            self.session.flush()
            return row.id
        return found

    def _insert(self, table: Any) -> Any:
        """A dialect insert, so callers can add ``on_conflict_do_nothing``/``do_update``."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise StorageError(f"unsupported database {dialect}")  # pragma: no cover

    def _execute_many(self, statement: Any, rows: Iterable[dict[str, Any]]) -> None:
        self.session.flush()  # Core statements do not autoflush pending ORM objects
        batch = list(rows)
        for part in chunks(batch):
            self.session.execute(statement, list(part))

    def _among(self, target: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """``target IN (values)`` for a long list: on PostgreSQL one array parameter
        (``= ANY``), which psycopg sends as is, instead of one placeholder per value."""
        if self.session.get_bind().dialect.name == "postgresql":
            array = bindparam(None, list(values), type_=postgresql.ARRAY(target.type))
            return cast(ColumnElement[bool], target == any_(array))
        return cast(ColumnElement[bool], target.in_(list(values)))

    def _write_rows(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        conflict: Callable[[Any], Any],
        *,
        count: bool = False,
    ) -> int:
        """Insert ``rows`` (dicts with the same keys) into ``table`` with the ``ON CONFLICT``
        clause that ``conflict`` adds to a dialect insert; with ``count``, return how many rows
        were written (inserted, or updated by a ``DO UPDATE``), else 0.

        SQLite: multi-row ``INSERT … VALUES`` in chunks. PostgreSQL: the rows are streamed with
        ``COPY`` into a temporary table, then moved by one ``INSERT … SELECT`` in the given order:
        psycopg parses a large multi-row ``VALUES`` slowly (a quarter of a launch was spent
        there), ``COPY`` is the server's bulk path. Same rows, same conflicts, same result."""
        self.session.flush()  # Core statements do not autoflush pending ORM objects
        if not rows:
            return 0
        if self.session.get_bind().dialect.name != "postgresql":
            statement = conflict(self._insert(table))
            if count:
                statement = statement.returning(literal_column("1"))
            written = 0
            for part in chunks(rows):
                result = self.session.execute(statement, list(part))
                written += len(result.all()) if count else 0
            return written
        return self._copy_rows(table, rows, conflict)

    def _copy_rows(
        self, table: Table, rows: Sequence[dict[str, Any]], conflict: Callable[[Any], Any]
    ) -> int:
        names = list(rows[0])
        scratch = f"bulk_{table.name}"
        columns = ", ".join(f'"{name}"' for name in names)
        self.session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{scratch}"))
        self.session.execute(
            text(
                f"CREATE TEMPORARY TABLE {scratch} ON COMMIT DROP AS "
                f'SELECT {columns}, 0 AS bulk_order FROM "{table.name}" WITH NO DATA'
            )
        )
        cursor = self.session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {scratch} ({columns}, bulk_order) FROM STDIN") as copy:
            for order, row in enumerate(rows):
                copy.write_row([_plain(row[name]) for name in names] + [order])
        source = table_clause(scratch, *(column(name) for name in [*names, "bulk_order"]))
        picked = select(*(source.c[name] for name in names)).order_by(source.c.bulk_order)
        statement = conflict(postgresql.insert(table).from_select(names, picked))
        result: Any = self.session.execute(statement.execution_options(preserve_rowcount=True))
        return max(0, int(result.rowcount or 0))

    def _service_names(self) -> dict[int, str]:
        rows = self.session.execute(select(ServiceRow.id, ServiceRow.name)).all()
        return {service_id: name for service_id, name in rows}

    def _person(self, row: PersonRow, services: dict[int, str] | None = None) -> Person:
        service = None
        if row.service_id is not None:
            if services is None:
                service = self.session.get_one(ServiceRow, row.service_id).name
            else:
                service = services[row.service_id]
        return Person(
            id=row.id,
            platform_id=row.platform_id,
            display_name=row.display_name,
            service=service,
            email=row.email,
            locale=row.locale,
            timezone=row.timezone,
            created_at=row.created_at,
        )
