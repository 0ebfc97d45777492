"""Taggers: sentiment, named entities and personal data, each behind `Tagger.tag(text)`.

`network` is the shared MiniLM backbone with one LoRA adapter and head per task; `sentiment` and
`ner` are the tasks; `entity_patterns` the exact support-entity patterns; `pii` finds payment and
personal data to redact. `registry` is where a tagger kind plugs in (a new kind, such as an intent
classifier, is one module plus one `register` line); `loader` opens the shipped ones.
"""
