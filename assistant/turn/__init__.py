"""The turn: one customer message from arrival to logged reply, read top to bottom in `pipeline`.

Owns the eight steps' order (`pipeline.Assistant.respond`), the escalation policy (`policy`), the
one prompt format (`prompts`), the fixed messages in the customer's language (`messages`),
language detection (`language`), cleaning raw input (`sanitize`), the line turns wait in
(`admission`), follow-up context (`context`), who answers a conversation (`handoff`) and how a team shares the
queue (`assignment`).
It receives its generator, retriever and taggers by injection (`assistant.types` protocols);
`assistant.build` makes them.
"""
