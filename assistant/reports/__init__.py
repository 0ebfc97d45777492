"""Reports over the store that need more than SQL: knowledge gaps (questions the assistant could not
answer, grouped by topic with the retrieval embedder). The daily numbers stay in
`assistant.web.console.stats` (SQL counts)."""
