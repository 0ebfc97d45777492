"""assistant: the loopdesk chat pipeline and the pieces every package shares.

Importing this package is cheap: heavy libraries (torch, transformers, faiss) load lazily inside
the modules that need them. Entry points: `assistant.pipeline.Assistant`, `assistant.cli:app`.
"""

__version__ = "0.1.0"
