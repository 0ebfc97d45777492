"""Grounding: what in the retrieved passages answers the question, and whether a reply says only that.

`evidence` picks the citable units that answer; `checked_stream` checks a generated reply sentence by
sentence against them before the customer sees it; `claims` finds checkable numbers, prices and
contacts; `kb_terms` and `words` are the vocabulary a knowledge base uses. Pure functions over text
and vectors: no model is loaded here, and nothing here imports the turn, the store or the web.
"""
