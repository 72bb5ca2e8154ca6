"""Alembic environment: runs on the connection handed over by db.migrate (or a URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from db import models
from db.base import Base

assert models  # the models register their tables on Base.metadata

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        assert url, "set sqlalchemy.url or pass a connection"
        with create_engine(url).begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
