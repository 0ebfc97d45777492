"""One registry shape for every place a kind plugs in (engines, tagger kinds, help-desk integrations).

Built-in entries are module paths, imported on first use (so `import assistant` stays light); each
such module defines one object under a known name (`ENGINE`, `KIND`, `INTEGRATION`). `register`
adds or replaces one at run time (tests register fakes); registered entries come after the built-in
ones, in order.
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, builtin: dict[str, str], attribute: str) -> None:
        self.builtin, self.attribute = builtin, attribute
        self.registered: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        self.registered[name] = item
        return item

    def unregister(self, name: str) -> None:
        self.registered.pop(name, None)

    def all(self) -> dict[str, T]:
        out: dict[str, T] = {}
        for name, module in self.builtin.items():
            out[name] = self.registered.get(name) or getattr(importlib.import_module(module), self.attribute)
        out.update(self.registered)
        return out
