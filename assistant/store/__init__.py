"""The conversation store: turns, ratings, handoffs, accounts and shared replica state, in SQL.

`store.Store` is the one entry (SQLAlchemy Core: SQLite by default, PostgreSQL by URL) with its
query mixins (`console`, `handoff`, `assignment`, `shared`, contract in `mixin`); `schema` and `migrations` define
the tables; `spool` keeps turns the database could not take; `accounts` signs operators in.
Nothing here imports the turn, the web or the engines.
"""
