"""Generation through a model server that speaks OpenAI's chat-completions API — vLLM, TGI,
llama.cpp's server, Ollama — so several app replicas can share one GPU server.

    [models]
    generator = "openai:http://gpu-host:8000/v1#HuggingFaceTB/SmolLM2-135M-Instruct"

Replies stream (server-sent events). The live adapter is selected by name: while one is live the
request names it as the model (vLLM serves LoRA adapters by name with `--lora-modules NAME=PATH`;
llama.cpp's server takes one model alias per adapter), so a promotion switches every replica without
loading anything here. Without a local tokenizer the prompt budget is estimated (4 characters a
token, rounded up per message). Connection failures are retried (`retries`) before the first piece;
a server that stays down is a `GenerationError` naming the URL, and the pipeline then answers from
the passages.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Iterator

from assistant.serving.engine import Engine
from assistant.errors import ConfigError, GenerationError

log = logging.getLogger("loopdesk.openai")
PREFIX = "openai:"


def parse_ref(ref: str) -> tuple[str, str]:
    """ "openai:http://host:8000/v1#model" -> (base URL, model name)."""
    rest = ref.removeprefix(PREFIX)
    base, _, model = rest.partition("#")
    if not base.startswith(("http://", "https://")) or not model:
        raise ConfigError(f"models.generator {ref!r}: use openai:http(s)://host:port/v1#model-name")
    return base.rstrip("/"), model


class OpenAIGenerator:
    engine_name = "openai"
    engine_reason = "models.generator names a model server"

    def __init__(self, ref: str, gen_cfg, timeout: float = 60.0, retries: int = 2, http=None) -> None:
        import httpx

        self.base, self.model_id = parse_ref(ref)
        self.cfg, self.retries = gen_cfg, retries
        self.adapter_id: str | None = None
        self.http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))

    def first_text_eta(self, messages: list[dict], tokens: int) -> float | None:
        """Not known for this engine: the pipeline's deadline alone decides."""
        return None

    def set_adapter(self, adapter: str | Path | None, adapter_id: str | None = None) -> None:
        """Select the live adapter by name; None: the base model. A newly promoted adapter is first
        offered to the server's run-time loading (vLLM's /v1/load_lora_adapter, with
        VLLM_ALLOW_RUNTIME_LORA_UPDATING; the path must be the same on both machines, a shared
        volume); a server without it (404) must already serve the name (`--lora-modules`, or one
        llama.cpp server alias per adapter)."""
        name = None if adapter is None else (adapter_id or Path(adapter).name)
        if adapter is not None and name != self.adapter_id:
            self._offer(str(name), str(adapter))
        self.adapter_id = name

    def _offer(self, name: str, path: str) -> None:
        import httpx

        url = f"{self.base}/load_lora_adapter"
        try:
            r = self.http.post(url, json={"lora_name": name, "lora_path": path})
        except httpx.HTTPError as exc:
            log.warning("could not offer adapter %s to %s: %s", name, url, exc)
            return
        if r.status_code in (404, 405):
            return  # no run-time loading on this server: it serves adapters it was started with
        if r.status_code >= 400 and "already" not in r.text.lower():
            log.warning("model server did not load adapter %s (%s): %s", name, r.status_code, r.text[:200])

    def count_tokens(self, messages: list[dict]) -> int:
        return sum(math.ceil(len(m.get("content") or "") / 4) + 4 for m in messages)

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]:
        import httpx

        body = {
            "model": self.adapter_id or self.model_id,
            "messages": messages,
            "stream": True,
            "max_tokens": max_new_tokens or self.cfg.max_new_tokens,
            "temperature": self.cfg.temperature,
        }
        url = f"{self.base}/chat/completions"
        for attempt in range(self.retries + 1):
            try:
                with self.http.stream("POST", url, json=body) as response:
                    if response.status_code >= 400:
                        detail = response.read().decode(errors="replace")[:300]
                        raise GenerationError(f"model server {url} answered {response.status_code}: {detail}")
                    yield from _pieces(response.iter_lines())
                return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == self.retries:
                    raise GenerationError(f"model server {url} is unreachable: {exc}") from exc
                log.warning("model server %s unreachable (attempt %d): %s", url, attempt + 1, exc)
                time.sleep(0.5 * (attempt + 1))
            except httpx.HTTPError as exc:  # a timeout or a broken stream mid-reply: not retried
                raise GenerationError(f"model server {url} failed mid-reply: {type(exc).__name__}: {exc}") from exc


def _pieces(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            choice = json.loads(data)["choices"][0]
        except (ValueError, KeyError, IndexError):
            continue
        piece = (choice.get("delta") or {}).get("content") or ""
        if piece:
            yield piece


def _open(cfg, why: str) -> OpenAIGenerator:
    return OpenAIGenerator(cfg.models.generator, cfg.generation)


ENGINE = Engine("openai", open=_open, owns=lambda ref: ref.startswith(PREFIX))
