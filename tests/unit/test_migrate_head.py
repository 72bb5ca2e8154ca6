"""The schema-head constant used at start-up matches the migration scripts."""

from db import migrate


def test_head_constant_matches_scripts() -> None:
    assert migrate.head_revision() == migrate.script_head()
