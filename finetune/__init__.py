"""finetune: turning logs and labelled data into adapters.

Present: tagger training (`finetune.taggers`, `loopdesk finetune taggers`) and the tagger data
readers. Coming with the learning-loop issue: export/import of conversations, LoRA SFT of the
generator, held-out evaluation, the adapter registry and promotion.
"""
