"""A component that could not be made, standing in its place and carrying why.

The composition root (`assistant.build`, `assistant.taggers.loader.load_taggers`) returns one instead of
None, so whoever meets it can say exactly what is missing and why — no reason strings matched by
prefix. It is falsy (`if assistant.ner:` reads as "is there an NER tagger"), `str()` is the reason
to show, and any other use raises `ComponentUnavailable` with that reason instead of an
AttributeError on None far from the cause.
"""

from __future__ import annotations

from assistant.errors import LoopdeskError


class ComponentUnavailable(LoopdeskError, AttributeError):
    """Something used a component that is not there; the message says which and why. Also an
    AttributeError, so `getattr(component, name, default)` and `hasattr` read it as absent."""


class Unavailable:
    __slots__ = ("what", "reason")

    def __init__(self, what: str, reason: str) -> None:
        object.__setattr__(self, "what", what)
        object.__setattr__(self, "reason", reason)

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str):
        if name.startswith("__"):  # copy, pickle and friends probe for dunders: a plain "no"
            raise AttributeError(name)
        raise ComponentUnavailable(str(self))

    def __str__(self) -> str:
        return f"{self.what} unavailable: {self.reason}"

    def __repr__(self) -> str:
        return f"Unavailable({self.what!r}, {self.reason!r})"


def available(component: object) -> bool:
    """There is a component and it is not a stand-in."""
    return component is not None and not isinstance(component, Unavailable)


def why(component: object, what: str) -> str:
    """The reason a component is missing ("<what> unavailable: not configured" for a plain None)."""
    return str(component) if isinstance(component, Unavailable) else f"{what} unavailable: not configured"
