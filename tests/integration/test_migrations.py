"""The Alembic migrations and the SQLAlchemy models describe the same schema.

A column added to ``storage/models.py`` without a migration (or the reverse) would work in tests
that build the schema one way and fail on a production database built the other way.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import alembic_config
from storage.models import Base
from storage.uow import Store


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrations_form_one_chain_whose_headers_name_their_parent(store: Store) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(store.database.engine))
    assert len(scripts.get_heads()) == 1
    for script in scripts.walk_revisions():
        header = (script.module.__doc__ or "").splitlines()
        revises = next(line for line in header if line.startswith("Revises:"))
        assert revises.split(":", 1)[1].strip() == (script.down_revision or ""), script.path
