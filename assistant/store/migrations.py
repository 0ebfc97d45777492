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
    sa.Table(
        "conversations",
        md,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("meta", sa.JSON),
    )
    sa.Table(
        "turns",
        md,
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
        sa.Column("notes", sa.JSON),
    )
    sa.Table(
        "feedback",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("correction", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
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
    new_imports = sa.Table(
        "imports",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("source_file", sa.String(500)),
        sa.Column("intent", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    new_labels = sa.Table(
        "labels",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("turns.id"), nullable=False),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    md.create_all(conn, tables=[new_imports, new_labels])
    conn.execute(sa.text("CREATE INDEX ix_turns_adapter ON turns (adapter_id)"))
    conn.execute(sa.text("CREATE INDEX ix_labels_turn ON labels (turn_id)"))


def _m004_handoff_and_console(conn) -> None:
    """Who answers a conversation (assistant, queue, a named operator), operator accounts, and the
    columns/indexes the console pages and charts by."""
    md = sa.MetaData()
    sa.Table("conversations", md, sa.Column("id", sa.String(36), primary_key=True))
    new = [
        sa.Table(
            "operators",
            md,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("password_hash", sa.String(255), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        ),
        sa.Table(
            "handoffs",
            md,
            sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), primary_key=True),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("reason", sa.String(32)),
            sa.Column("operator", sa.String(64)),
            sa.Column("contact_email", sa.String(254)),
            sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("taken_at", sa.DateTime(timezone=True)),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.Table(
            "handoff_events",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.String(36), sa.ForeignKey("conversations.id"), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("detail", sa.JSON),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        ),
    ]
    md.create_all(conn, tables=new)
    conn.execute(sa.text("ALTER TABLE conversations ADD COLUMN last_activity_at TIMESTAMP WITH TIME ZONE"))
    # Backfill: the last turn's time, or the creation time of a conversation without turns.
    conn.execute(
        sa.text(
            "UPDATE conversations SET last_activity_at = COALESCE((SELECT MAX(t.created_at) FROM turns t "
            "WHERE t.conversation_id = conversations.id), created_at)"
        )
    )
    conn.execute(sa.text("CREATE INDEX ix_conversations_activity ON conversations (last_activity_at)"))
    conn.execute(sa.text("CREATE INDEX ix_turns_created ON turns (created_at)"))
    conn.execute(sa.text("CREATE INDEX ix_handoffs_state ON handoffs (state, requested_at)"))
    conn.execute(sa.text("CREATE INDEX ix_handoff_events_conversation ON handoff_events (conversation_id, id)"))


def _m005_actors(conn) -> None:
    """Who gave a rating or a label (an operator's name; customers' thumbs stay anonymous)."""
    conn.execute(sa.text("ALTER TABLE feedback ADD COLUMN actor VARCHAR(64)"))
    conn.execute(sa.text("ALTER TABLE labels ADD COLUMN actor VARCHAR(64)"))


def _m006_spool_keys(conn) -> None:
    """Turns written from the local spool carry its key, so a replay writes each exactly once."""
    conn.execute(sa.text("ALTER TABLE turns ADD COLUMN spool_key VARCHAR(32)"))
    conn.execute(sa.text("CREATE UNIQUE INDEX ix_turns_spool_key ON turns (spool_key)"))


def _m007_api_keys(conn) -> None:
    """Keys of HTTP API clients (a shop's site, a help desk): only a SHA-256 of each key is kept."""
    md = sa.MetaData()
    sa.Table(
        "api_keys",
        md,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    md.create_all(conn)


def _m008_deployment(conn) -> None:
    """What every replica serves: the live adapter and the current index build, by name."""
    md = sa.MetaData()
    sa.Table(
        "deployment",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    md.create_all(conn)


def _m009_text_search(conn) -> None:
    """PostgreSQL: a trigram index on lower(text), so the console's "text contains" search on millions of
    turns does not scan the table. Needs the pg_trgm extension; where the database user may not create it,
    the search still works (a scan), and the log says why."""
    if conn.dialect.name != "postgresql":
        return
    import logging

    try:
        with conn.begin_nested():  # a refused CREATE EXTENSION must not abort the migration
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        logging.getLogger("loopdesk.store").warning("no trigram index for text search (pg_trgm: %s)", exc.orig)
        return
    conn.execute(sa.text("CREATE INDEX ix_turns_text_trgm ON turns USING gin (lower(text) gin_trgm_ops)"))


def _m010_reply_to(conn) -> None:
    """Each reply points at the customer message it answers, so the console joins by id instead of
    searching for "the user turn before it" per row (seconds at a million turns)."""
    conn.execute(sa.text("ALTER TABLE turns ADD COLUMN reply_to INTEGER"))
    conn.execute(
        sa.text(
            "UPDATE turns SET reply_to = (SELECT MAX(e.id) FROM turns e "
            "WHERE e.conversation_id = turns.conversation_id AND e.role = 'user' AND e.id < turns.id) "
            "WHERE role = 'assistant'"
        )
    )
    conn.execute(sa.text("CREATE INDEX ix_turns_reply_to ON turns (reply_to)"))


def _m011_answer_memory(conn) -> None:
    """Approved answers from the team (corrections, operator replies, `loopdesk memory add`), searched
    before the knowledge base; shared by every replica through the database."""
    md = sa.MetaData()
    sa.Table(
        "answer_memory",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("source", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("turn_id", sa.Integer),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
        sa.Index("ix_answer_memory_status", "status"),
    )
    md.create_all(conn)


def _m012_memory_downvotes(conn) -> None:
    """How many customers rated a memory answer down: it goes back to review after a few, not one."""
    conn.execute(sa.text("ALTER TABLE answer_memory ADD COLUMN downvotes INTEGER NOT NULL DEFAULT 0"))


def _m013_sign_in_and_roles(conn) -> None:
    """Sign-in attempts in the database, so every replica counts the same failures and concurrent
    attempts cannot all pass (each is recorded before its password is checked); operator roles
    (`admin` may promote and roll back adapters, `agent` may not): existing accounts become admins."""
    md = sa.MetaData()
    sa.Table(
        "sign_in_attempts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_sign_in_attempts_name", "name", "at"),
        sa.Index("ix_sign_in_attempts_address", "address", "at"),
        sa.Index("ix_sign_in_attempts_at", "at"),
    )
    md.create_all(conn)
    conn.execute(sa.text("ALTER TABLE operators ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'admin'"))


def _m014_import_runs(conn) -> None:
    """Imports load in short batches, each its own transaction (the write lock is never held long):
    their conversations carry the run's id and no reader sees them until the run is `done`."""
    md = sa.MetaData()
    sa.Table(
        "import_runs",
        md,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_file", sa.String(500)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_import_runs_state", "state"),
    )
    md.create_all(conn)
    conn.execute(sa.text("ALTER TABLE conversations ADD COLUMN import_run VARCHAR(36)"))
    conn.execute(sa.text("CREATE INDEX ix_conversations_import_run ON conversations (import_run)"))


def _m015_queue_assignment(conn) -> None:
    """A support team works the queue: who a handoff is assigned to (anyone may assign; the holder or an
    admin transfers), and each operator's status (online | away) in the database, so every replica tells
    customers the same thing about who is online. Existing accounts start online, as they counted before."""
    conn.execute(sa.text("ALTER TABLE handoffs ADD COLUMN assigned_to VARCHAR(64)"))
    conn.execute(sa.text("ALTER TABLE operators ADD COLUMN status VARCHAR(8) NOT NULL DEFAULT 'online'"))


def _m016_team(conn) -> None:
    """Team features of the console: saved replies (named templates with variables), internal notes and
    tags on conversations, the customer's one-click satisfaction answer after an operator closed the
    conversation, and an index for counting handoffs by time (first-response and resolution times)."""
    md = sa.MetaData()
    sa.Table("conversations", md, sa.Column("id", sa.String(36), primary_key=True))
    conv = "conversations.id"
    new = [
        sa.Table(
            "saved_replies",
            md,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_by", sa.String(64), nullable=False),
            sa.Column("updated_by", sa.String(64), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.Table(
            "conversation_notes",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.String(36), sa.ForeignKey(conv), nullable=False),
            sa.Column("author", sa.String(64), nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("ix_conversation_notes_conversation", "conversation_id", "id"),
        ),
        sa.Table(
            "conversation_tags",
            md,
            sa.Column("conversation_id", sa.String(36), sa.ForeignKey(conv), primary_key=True),
            sa.Column("tag", sa.String(32), primary_key=True),
            sa.Column("added_by", sa.String(64), nullable=False),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("ix_conversation_tags_tag", "tag"),
        ),
        sa.Table(
            "satisfaction",
            md,
            sa.Column("conversation_id", sa.String(36), sa.ForeignKey(conv), primary_key=True),
            sa.Column("rating", sa.Integer, nullable=False),
            sa.Column("operator", sa.String(64)),
            sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        ),
    ]
    md.create_all(conn, tables=new)
    conn.execute(sa.text("CREATE INDEX ix_handoff_events_created ON handoff_events (created_at)"))


def _m017_settings(conn) -> None:
    """A store owner's settings from the console (business name, greeting, colour, languages), in the
    database so every replica serves the same ones; each row says who changed it and when (a NULL value:
    back to the config file's)."""
    md = sa.MetaData()
    sa.Table(
        "settings",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    md.create_all(conn)


MIGRATIONS = [
    (1, "conversations, turns, feedback", _m001_initial),
    (2, "indexes for history, feedback and escalation look-ups", _m002_indexes),
    (3, "imports, operator labels, adapter index", _m003_learning_loop),
    (4, "handoff queue and events, operator accounts, conversation activity", _m004_handoff_and_console),
    (5, "who rated or labelled", _m005_actors),
    (6, "spool keys for exactly-once replay", _m006_spool_keys),
    (7, "HTTP API keys", _m007_api_keys),
    (8, "live adapter and index build shared by replicas", _m008_deployment),
    (9, "trigram index for text search (PostgreSQL)", _m009_text_search),
    (10, "replies point at the message they answer", _m010_reply_to),
    (11, "answer memory", _m011_answer_memory),
    (12, "answer memory downvotes", _m012_memory_downvotes),
    (13, "sign-in attempts shared by replicas, operator roles", _m013_sign_in_and_roles),
    (14, "imports load in batches, unseen until done", _m014_import_runs),
    (15, "handoff assignment, operator status (online | away)", _m015_queue_assignment),
    (16, "saved replies, internal notes, tags, satisfaction answers", _m016_team),
    (17, "settings a store owner changes in the console", _m017_settings),
]

_versions = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200)),
    sa.Column("applied_at", sa.DateTime(timezone=True)),
)


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
            conn.execute(
                _versions.insert().values(
                    version=number, description=description, applied_at=datetime.now(timezone.utc)
                )
            )
        new.append(number)
    return new
