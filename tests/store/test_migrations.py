def test_head_revision_constant_matches_alembic_head() -> None:
    """The fast schema check's constant names the newest Alembic migration."""
    from alembic.script import ScriptDirectory

    from medwarden.store.migrate import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]
