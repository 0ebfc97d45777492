"""The answer memory: approved answers from the team (console corrections, operator replies that an
operator approved, `loopdesk memory add`), matched against each customer question before the
knowledge base. A question close enough to an entry's question (cosine of the retrieval embedder,
threshold `memory.min_similarity`, chosen leave-one-KB-out by `benchmarks/memory_match.py`) gets the
approved answer as written, cited as from the support team. Records live in the store
(`assistant.store.memory`), so replicas serve the same entries; this package only matches.
"""
