"""The exception hierarchy of loopdesk.

Everything the UI or the CLI should turn into a clear message derives from `LoopdeskError`;
anything else is a bug. Run nothing here: import it.
"""


class LoopdeskError(Exception):
    """Base class: an error a user or operator can act on."""


class ConfigError(LoopdeskError):
    """The configuration is invalid; the message lists every problem at once."""


class ModelNotFoundError(LoopdeskError):
    """A model reference could not be resolved (not installed, not cached, offline)."""


class IndexUnavailableError(LoopdeskError):
    """The knowledge index is missing or corrupt."""


class StoreError(LoopdeskError):
    """The conversation store could not complete a write or a read."""


class AdapterError(LoopdeskError):
    """An adapter directory is missing files, corrupt, or built for another base model."""


class InputError(LoopdeskError):
    """User input that cannot be processed (for example a file that is not a dataset)."""


class GenerationError(LoopdeskError):
    """The generator could not produce a reply (a model server down or refusing)."""
