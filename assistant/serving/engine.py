"""What an engine is to the rest of loopdesk: a name, how to open a generator, and what it needs
written before a promoted adapter goes live. Engine modules define `ENGINE = Engine(...)`;
`assistant.serving.registry` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.types import Generator


@dataclass(frozen=True)
class Engine:
    """One way to generate. `unavailable(cfg)` says why it cannot run here ("" when it can);
    `owns(ref)` claims a `models.generator` reference outright (a model server URL);
    `prepare_adapter(cfg)` returns what a promotion runs on an adapter directory before it goes live
    (None when the engine loads peft adapters as they are)."""

    name: str
    open: Callable[[Config, str], Generator]  # (config, why it was chosen) -> a generator saying so
    unavailable: Callable[[Config], str] = lambda cfg: ""
    owns: Callable[[str], bool] | None = None  # engines chosen only by their model reference
    prepare_adapter: Callable[[Config], Callable[[Path], Path] | None] = lambda cfg: None
    gpu: bool = False  # the engine `auto` picks when a CUDA device is present
    runs_because: str = "it runs here"  # what `auto` says when it picks this engine first
