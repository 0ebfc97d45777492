"""Where help-desk integrations plug in: Chatwoot today; Zendesk or Freshdesk would be one more.

An integration is one module that defines `INTEGRATION = Integration(...)` and one line in
`_BUILTIN` below. `mount(api, assistant, cfg, client)` adds its routes to the FastAPI app
(`assistant.web.http_api` calls every registered one); `client` is the HTTP client it answers the
help desk with (None: its own; tests pass a recorder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from assistant.plugins import Registry

_BUILTIN: dict[str, str] = {
    "chatwoot": "assistant.web.integrations.chatwoot",
}
_REGISTRY: Registry["Integration"] = Registry(_BUILTIN, "INTEGRATION")


@dataclass(frozen=True)
class Integration:
    name: str
    mount: Callable[[Any, Any, Any, Any], None]  # (FastAPI app, Assistant, Config, HTTP client or None)


def register(integration: Integration) -> Integration:
    """Add (or replace) one; tests register fakes this way."""
    return _REGISTRY.register(integration.name, integration)


def unregister(name: str) -> None:
    _REGISTRY.unregister(name)


def integrations() -> dict[str, Integration]:
    return _REGISTRY.all()
