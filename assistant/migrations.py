"""Numbered schema migrations of the conversation store (SQLite and PostgreSQL alike).

Each migration is (number, description, function(connection)); `migrate(engine)` applies the
missing ones in order, each in its own transaction, and records it in `schema_migrations`.
Never edit an applied migration: add a new one.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa


def _m001_initial(conn) -> None:
    md = sa.MetaData()
    sa.Table("conversations", md,
             sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
             sa.Column("source", sa.String(32), nullable=False),
             sa.Column("meta", sa.JSON))
    sa.Table("turns", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False),
             sa.Column("role", sa.String(16), nullable=False),
             sa.Column("text", sa.Text, nullable=False),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
             sa.Column("language", sa.String(16)),
             sa.Column("sentiment", sa.String(16)),
             sa.Column("sentiment_scores", sa.JSON),
             sa.Column("entities", sa.JSON),
             sa.Column("passages", sa.JSON),
             sa.Column("model_id", sa.String(255)),
             sa.Column("adapter_id", sa.String(255)),
             sa.Column("latency_ms", sa.Float),
             sa.Column("first_token_ms", sa.Float),
             sa.Column("escalation", sa.String(32)),
             sa.Column("notes", sa.JSON))
    sa.Table("feedback", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
             sa.Column("rating", sa.Integer, nullable=False),
             sa.Column("comment", sa.Text),
             sa.Column("correction", sa.Text),
             sa.Column("source", sa.String(16), nullable=False),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    md.create_all(conn)


def _m002_indexes(conn) -> None:
    conn.execute(sa.text("CREATE INDEX ix_turns_conversation ON turns (conversation_id, id)"))
    conn.execute(sa.text("CREATE INDEX ix_feedback_turn ON feedback (turn_id)"))
    conn.execute(sa.text("CREATE INDEX ix_turns_escalation ON turns (escalation)"))


def _m003_learning_loop(conn) -> None:
    """Imports (idempotent by key), operator labels for tagger retraining, adapter look-ups."""
    md = sa.MetaData()
    # Stubs of existing tables so the foreign keys resolve; only the new tables are created.
    sa.Table("conversations", md, sa.Column("id", sa.String(36), primary_key=True))
    sa.Table("turns", md, sa.Column("id", sa.Integer, primary_key=True))
    new_imports = sa.Table("imports", md,
             sa.Column("key", sa.String(64), primary_key=True),
             sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False),
             sa.Column("source_file", sa.String(500)),
             sa.Column("intent", sa.String(100)),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    new_labels = sa.Table("labels", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
             sa.Column("task", sa.String(16), nullable=False),
             sa.Column("value", sa.JSON, nullable=False),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    md.create_all(conn, tables=[new_imports, new_labels])
    conn.execute(sa.text("CREATE INDEX ix_turns_adapter ON turns (adapter_id)"))
    conn.execute(sa.text("CREATE INDEX ix_labels_turn ON labels (turn_id)"))


MIGRATIONS = [
    (1, "conversations, turns, feedback", _m001_initial),
    (2, "indexes for history, feedback and escalation look-ups", _m002_indexes),
    (3, "imports, operator labels, adapter index", _m003_learning_loop),
]

_versions = sa.Table("schema_migrations", sa.MetaData(),
                     sa.Column("version", sa.Integer, primary_key=True),
                     sa.Column("description", sa.String(200)),
                     sa.Column("applied_at", sa.DateTime(timezone=True)))


def applied(engine) -> list[int]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        return [r[0] for r in conn.execute(sa.select(_versions.c.version).order_by(_versions.c.version))]


def migrate(engine) -> list[int]:
    """Apply missing migrations; return the numbers applied now."""
    with engine.begin() as conn:
        _versions.metadata.create_all(conn)
    done = set(applied(engine))
    new = []
    for number, description, fn in MIGRATIONS:
        if number in done:
            continue
        with engine.begin() as conn:
            fn(conn)
            conn.execute(_versions.insert().values(version=number, description=description,
                                                   applied_at=datetime.now(timezone.utc)))
        new.append(number)
    return new
