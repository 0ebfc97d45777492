"""The shared tagger network: one MiniLM backbone, one LoRA adapter and one small head per task.

A tagger directory holds `adapter_config.json` + `adapter_model.safetensors` (peft LoRA),
`head.safetensors` (the task head) and `tagger.json` (task, labels, calibration, training info).
`TaggerBackbone` loads the backbone once and switches peft adapters per task, so sentiment and NER
share the 22M backbone weights in memory. Used by `assistant.taggers.sentiment` and `assistant.taggers.ner`
at chat time and by `finetune.taggers` for training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from assistant.errors import AdapterError

# Word shape categories: the bundled MiniLM is uncased, and capitalisation is the strongest
# single cue for names, so the NER head receives it as an extra embedding.
SHAPES = ("pad", "lower", "title", "upper", "mixed", "digit", "punct")


def word_shape(word: str) -> int:
    if not word:
        return 0
    if any(c.isdigit() for c in word):
        return 5
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 6
    if all(c.islower() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 2
    return 4


_WORD = re.compile(r"\S+")
_EDGE = "\"'()[]{}<>,.;:!?«»“”‘’…"


def split_words(text: str) -> list[tuple[str, int, int]]:
    """CoNLL-like words with character offsets: whitespace split, edge punctuation peeled off."""
    words: list[tuple[str, int, int]] = []
    for m in _WORD.finditer(text):
        s, e = m.start(), m.end()
        tail: list[tuple[str, int, int]] = []
        while s < e and text[s] in _EDGE:
            words.append((text[s], s, s + 1))
            s += 1
        # Keep a final "." on abbreviations such as "U.S." or "Inc." (CoNLL does too).
        while e > s and text[e - 1] in _EDGE and not (text[e - 1] == "." and "." in text[s : e - 1]):
            tail.insert(0, (text[e - 1], e - 1, e))
            e -= 1
        if s < e:
            words.append((text[s:e], s, e))
        words.extend(tail)
    return words


def build_heads(task: str, hidden: int, n_labels: int):
    """The task head as a torch module (imported lazily)."""
    import torch
    from torch import nn

    class SequenceHead(nn.Module):
        """Mean-pooled sentence vector -> label logits."""

        def __init__(self) -> None:
            super().__init__()
            self.dropout = nn.Dropout(0.1)
            self.out = nn.Linear(hidden, n_labels)

        def forward(self, hidden_states, attention_mask, shapes=None):
            mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.out(self.dropout(pooled))

    class TokenHead(nn.Module):
        """Per sub-token: hidden state + word-shape embedding -> a small MLP -> IOB logits."""

        def __init__(self) -> None:
            super().__init__()
            self.shape = nn.Embedding(len(SHAPES), 32)
            self.dropout = nn.Dropout(0.1)
            self.mix = nn.Linear(hidden + 32, hidden)
            self.out = nn.Linear(hidden, n_labels)

        def forward(self, hidden_states, attention_mask, shapes=None):
            if shapes is None:
                shapes = torch.zeros(hidden_states.shape[:2], dtype=torch.long, device=hidden_states.device)
            x = torch.cat([hidden_states, self.shape(shapes)], dim=-1)
            return self.out(self.dropout(torch.nn.functional.gelu(self.mix(self.dropout(x)))))

    return SequenceHead() if task == "sentiment" else TokenHead()


class TaggerBackbone:
    """The MiniLM backbone, read once, with any number of task adapters and heads.

    Each task's LoRA adapter is merged into its own copy of the backbone weights (22M parameters,
    ~90 MB each): unmerged LoRA layers cost a third more time per message on the CPU, and the taggers
    must stay under ~30 ms a message for both tasks. Each copy is read from disk when its task is
    attached; no unmerged copy is kept (90 MB less in the serving process).
    """

    def __init__(self, backbone_path: str) -> None:
        from transformers import AutoConfig, AutoTokenizer

        self.backbone_path = backbone_path
        self.tokenizer = AutoTokenizer.from_pretrained(backbone_path)
        self.hidden_size = int(AutoConfig.from_pretrained(backbone_path).hidden_size)
        self.models: dict = {}
        self.heads: dict = {}
        self.meta: dict[str, dict] = {}

    def attach(self, name: str, directory: str | Path) -> dict:
        """Load a tagger directory under a task name; raise AdapterError if it is unusable."""
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel

        d = Path(directory)
        missing = [
            f
            for f in ("adapter_config.json", "adapter_model.safetensors", "head.safetensors", "tagger.json")
            if not (d / f).is_file()
        ]
        if missing:
            raise AdapterError(f"tagger {d} is missing {', '.join(missing)}")
        try:
            meta = json.loads((d / "tagger.json").read_text())
            head = build_heads(meta["task"], self.hidden_size, len(meta["labels"]))
            head.load_state_dict(load_file(str(d / "head.safetensors")))
            # No pooler: heads pool the hidden states themselves.
            base = AutoModel.from_pretrained(self.backbone_path, add_pooling_layer=False)
            model = PeftModel.from_pretrained(base, str(d)).merge_and_unload()
        except Exception as exc:  # peft and safetensors raise many types for broken files
            raise AdapterError(f"tagger {d} is corrupt: {exc}") from exc
        head.eval()
        self.models[name], self.heads[name], self.meta[name] = model.eval(), head, meta
        return meta

    def logits(self, name: str, batch: dict, shapes=None):
        """Run backbone+adapter `name` and its head on a tokenized batch (no grad)."""
        import torch

        with torch.inference_mode():
            out = self.models[name](
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                token_type_ids=batch.get("token_type_ids"),
            )
            return self.heads[name](out.last_hidden_state, batch["attention_mask"], shapes)


def encode_words(tokenizer, batch_words: list[list[str]], max_length: int = 256):
    """Tokenize pre-split words; return the torch batch, per-token word ids and shape ids.

    Sub-token alignment uses `word_ids()`: only the first sub-token of each word carries its label
    (callers set the rest to -100); every sub-token gets its word's shape.
    """
    import torch

    enc = tokenizer(
        batch_words, is_split_into_words=True, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    word_ids, shapes = [], []
    for i, words in enumerate(batch_words):
        ids = enc.word_ids(i)
        word_ids.append(ids)
        shapes.append([0 if w is None else word_shape(words[w]) for w in ids])
    return enc, word_ids, torch.tensor(shapes, dtype=torch.long)
