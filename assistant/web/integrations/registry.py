"""Where help-desk integrations plug in: Chatwoot today; Zendesk or Freshdesk would be one more.

An integration is one module that defines `INTEGRATION = Integration(...)` and one line in
`_BUILTIN` below. `mount(api, assistant, cfg, client)` adds its routes to the FastAPI app
(`assistant.web.http_api` calls every registered one); `client` is the HTTP client it answers the
help desk with (None: its own; tests pass a recorder).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

_BUILTIN: dict[str, str] = {
    "chatwoot": "assistant.web.integrations.chatwoot",
}
_REGISTERED: dict[str, "Integration"] = {}


@dataclass(frozen=True)
class Integration:
    name: str
    mount: Callable[[Any, Any, Any, Any], None]  # (FastAPI app, Assistant, Config, HTTP client or None)


def register(integration: Integration) -> Integration:
    _REGISTERED[integration.name] = integration
    return integration


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def integrations() -> dict[str, Integration]:
    out = {n: _REGISTERED.get(n) or importlib.import_module(m).INTEGRATION for n, m in _BUILTIN.items()}
    out.update(_REGISTERED)
    return out
