"""Serving: the engines that generate replies, behind the `Generator` protocol (`assistant.types`).

`registry` lists the engines: each entry opens a generator from the config and prepares a promoted
adapter for itself, so promotion never imports a particular engine. `llama/` is the CPU engine
(continuous batching over llama.cpp), `transformers_generator` the GPU/fallback engine,
`openai_generator` a model server. `live_adapter` is the file every replica follows to know which
adapter is live; `cpu_turns` shares the two cores between the engine and the rest of a turn.
"""
