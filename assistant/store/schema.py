"""Table definitions of the conversation store, shared by `Store` and its query mixins.

The schema itself is created and changed only by `assistant.store.migrations`; these objects describe it
for SQLAlchemy Core queries.
"""

from __future__ import annotations

import sqlalchemy as sa

md = sa.MetaData()
conversations = sa.Table(
    "conversations",
    md,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("source", sa.String(32)),
    sa.Column("meta", sa.JSON),
    sa.Column("last_activity_at", sa.DateTime(timezone=True)),
    sa.Column("import_run", sa.String(36)),
)
turns = sa.Table(
    "turns",
    md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.String(36)),
    sa.Column("role", sa.String(16)),
    sa.Column("text", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
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
    sa.Column("spool_key", sa.String(32)),
    sa.Column("reply_to", sa.Integer),
)
feedback = sa.Table(
    "feedback",
    md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("turn_id", sa.Integer),
    sa.Column("rating", sa.Integer),
    sa.Column("comment", sa.Text),
    sa.Column("correction", sa.Text),
    sa.Column("source", sa.String(16)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("actor", sa.String(64)),
)

answer_memory = sa.Table(
    "answer_memory",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("question", sa.Text),
    sa.Column("answer", sa.Text),
    sa.Column("source", sa.String(255)),
    sa.Column("status", sa.String(16)),
    sa.Column("origin", sa.String(32)),
    sa.Column("turn_id", sa.Integer),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("approved_by", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
    sa.Column("uses", sa.Integer),
    sa.Column("downvotes", sa.Integer),
)

imports = sa.Table(
    "imports",
    md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("conversation_id", sa.String(36)),
    sa.Column("source_file", sa.String(500)),
    sa.Column("intent", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)
import_runs = sa.Table(
    "import_runs",
    md,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("source_file", sa.String(500)),
    sa.Column("state", sa.String(16)),  # loading | done | failed
    sa.Column("rows", sa.Integer),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
labels = sa.Table(
    "labels",
    md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("turn_id", sa.Integer),
    sa.Column("task", sa.String(16)),
    sa.Column("value", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("actor", sa.String(64)),
)

operators = sa.Table(
    "operators",
    md,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    sa.Column("role", sa.String(16)),  # admin | agent (migration 13)
    sa.Column("status", sa.String(8)),  # online | away, set in the console (migration 15)
)
handoffs = sa.Table(
    "handoffs",
    md,
    sa.Column("conversation_id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(16)),
    sa.Column("reason", sa.String(32)),
    sa.Column("operator", sa.String(64)),
    sa.Column("contact_email", sa.String(254)),
    sa.Column("requested_at", sa.DateTime(timezone=True)),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("assigned_to", sa.String(64)),  # who should answer a queued item (migration 15)
)
deployment = sa.Table(
    "deployment",
    md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
api_keys = sa.Table(
    "api_keys",
    md,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
handoff_events = sa.Table(
    "handoff_events",
    md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.String(36)),
    sa.Column("kind", sa.String(32)),
    sa.Column("actor", sa.String(64)),
    sa.Column("detail", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


def last_customer_message(conversation_id):
    """Scalar subquery: the newest customer message of the conversation `conversation_id` names."""
    return (
        sa.select(turns.c.text)
        .where(turns.c.conversation_id == conversation_id, turns.c.role == "user")
        .order_by(turns.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def first_customer_message(conversation_id):
    """Scalar subquery: the first customer message of the conversation `conversation_id` names."""
    return (
        sa.select(turns.c.text)
        .where(turns.c.conversation_id == conversation_id, turns.c.role == "user")
        .order_by(turns.c.id)
        .limit(1)
        .scalar_subquery()
    )


def unfinished_imports():
    """Conversations of an import that is not `done` (loading, failed, or crashed before cleaning up):
    no reader sees them, so an import appears whole or not at all."""
    runs = sa.select(import_runs.c.id).where(import_runs.c.state != "done")
    return sa.select(conversations.c.id).where(conversations.c.import_run.in_(runs))


def visible_conversation():
    """Condition on `conversations`: not part of an unfinished import."""
    runs = sa.select(import_runs.c.id).where(import_runs.c.state != "done")
    return sa.or_(conversations.c.import_run.is_(None), conversations.c.import_run.not_in(runs))


def visible_turn(table=None):
    """Condition on `turns` (or an alias of it): not in a conversation of an unfinished import."""
    t = turns if table is None else table
    return t.c.conversation_id.not_in(unfinished_imports())


# --- team features of the console (migration 16) -------------------------------------------------
saved_replies = sa.Table(
    "saved_replies",
    md,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("text", sa.Text),
    sa.Column("created_by", sa.String(64)),
    sa.Column("updated_by", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
conversation_notes = sa.Table(  # internal: never a turn, so no customer view, API or export reads them
    "conversation_notes",
    md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("conversation_id", sa.String(36)),
    sa.Column("author", sa.String(64)),
    sa.Column("text", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)
conversation_tags = sa.Table(
    "conversation_tags",
    md,
    sa.Column("conversation_id", sa.String(36), primary_key=True),
    sa.Column("tag", sa.String(32), primary_key=True),
    sa.Column("added_by", sa.String(64)),
    sa.Column("added_at", sa.DateTime(timezone=True)),
)
satisfaction = sa.Table(
    "satisfaction",
    md,
    sa.Column("conversation_id", sa.String(36), primary_key=True),  # one answer per conversation
    sa.Column("rating", sa.Integer),  # 1 good, -1 bad
    sa.Column("operator", sa.String(64)),  # who had the conversation when it was closed
    sa.Column("answered_at", sa.DateTime(timezone=True)),
)

settings = sa.Table(  # a store owner's overrides of config values (migration 17; `assistant.settings`)
    "settings",
    md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON),  # NULL: the config file's value again (the row keeps who reset it)
    sa.Column("updated_by", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
