"""assistant: the loopdesk chat pipeline and the pieces every package shares.

Importing this package is cheap: heavy libraries (torch, transformers, faiss) load lazily inside
the modules that need them. Entry points: `assistant.turn.pipeline.Assistant`, `assistant.cli.main:app`.
"""

__version__ = "0.1.0"
