"""Sentiment tagger: negative / neutral / positive with calibrated probabilities.

Runs the `sentiment` LoRA adapter and head on the shared MiniLM backbone
(`assistant.taggers.network.TaggerBackbone`). Probabilities are softmax(s * logits + b + prior): scales s
and biases b calibrate what the text says, `prior` is what customer traffic is like (more complaints
than praise); all fitted at training time on real customer messages (`finetune.taggers.fit_calibration`).
`policy.sentiment_prior = false` tags the text without the traffic prior. With the upset model
(`policy.upset_model`, `assistant.taggers.upset`) the scores also carry `upset`: P(the customer is upset).

    loopdesk tag "my parcel never arrived and nobody answers" --json
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

from assistant.errors import AdapterError, ConfigError
from assistant.types import Sentiment
from assistant.taggers.registry import TaggerKind

LABELS = ("negative", "neutral", "positive")
log = logging.getLogger("loopdesk.taggers")


_MENTION = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+")


def normalize_social(text: str) -> str:
    """Replace @handles and links by placeholders (they carry no sentiment); training does the same."""
    return _URL.sub("http", _MENTION.sub("@user", text)).strip()


def apply_calibration(logits, cal: dict, prior: bool = True):
    """Calibrated logits (numpy): logits * scale + bias, plus the traffic prior unless `prior=False`.
    The one formula for tagging, eval and calibration fitting (`finetune.taggers`)."""
    import numpy as np

    z = np.asarray(logits, dtype="float32")
    scale = np.asarray(cal.get("scale") or [1.0 / float(cal.get("temperature", 1.0))] * z.shape[1])
    z = z * scale + np.asarray(cal.get("bias") or [0.0] * z.shape[1])
    if prior and cal.get("prior"):
        z = z + np.asarray(cal["prior"])
    return z


def _three(values) -> list[float]:
    """Three finite numbers (one per label), or ValueError."""
    out = [float(v) for v in values]
    if len(out) != len(LABELS) or not all(math.isfinite(v) for v in out):
        raise ValueError(f"expected {len(LABELS)} finite numbers, got {values!r}")
    return out


class TransformerSentiment:
    name = "sentiment"

    def __init__(self, backbone, meta: dict, use_prior: bool = True) -> None:
        self.backbone = backbone
        self.meta = meta
        cal = meta.get("calibration") or {}
        try:
            # Scales + biases (older files carry one temperature instead) and an optional traffic prior.
            self.scale = _three(cal.get("scale") or [1.0 / float(cal.get("temperature", 1.0))] * 3)
            self.bias = _three(cal.get("bias", [0.0, 0.0, 0.0]))
            self.prior = _three(cal.get("prior") or [0.0, 0.0, 0.0])
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            # Checked here, at load time: a bad file must not crash the first customer turn.
            raise AdapterError(f"sentiment tagger calibration in tagger.json is corrupt: {exc}") from exc
        self.use_prior = use_prior
        self.upset: Any = None  # `assistant.taggers.upset.UpsetModel`, set by `open_upset`
        self.problems: list[str] = []
        self.max_length = int(meta.get("max_length", 128))

    @classmethod
    def from_dir(cls, directory: str | Path, backbone_path: str) -> "TransformerSentiment":
        from assistant.taggers.network import TaggerBackbone

        bb = TaggerBackbone(backbone_path)
        return cls(bb, bb.attach(cls.name, directory))

    def raw_logits(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        """Head logits per text. A text longer than `max_length` tokens is read in overlapping windows
        and their logits averaged, so a complaint at the end of a long message is not cut off."""
        import torch

        out: list[list[float]] = []
        tok = self.backbone.tokenizer
        for i in range(0, len(texts), batch_size):
            chunk = [normalize_social(t) or "." for t in texts[i : i + batch_size]]
            enc = tok(
                chunk,
                truncation=True,
                max_length=self.max_length,
                stride=self.max_length // 4,
                return_overflowing_tokens=True,
                padding=True,
                return_tensors="pt",
            )
            owner = enc.pop("overflow_to_sample_mapping")
            logits = torch.cat(
                [
                    self.backbone.logits(self.name, {k: v[j : j + batch_size] for k, v in enc.items()})
                    for j in range(0, len(owner), batch_size)
                ]
            )
            total = torch.zeros(len(chunk), logits.shape[1]).index_add_(0, owner, logits)
            out += (total / torch.bincount(owner, minlength=len(chunk)).unsqueeze(1)).tolist()
        return out

    def calibrated(self, logits, prior: bool | None = None) -> list[dict[str, float]]:
        """Probabilities from `raw_logits`; `prior` (default: `use_prior`) adds the customer-traffic prior.
        Separate from `probabilities` so one model pass can be scored with and without the prior."""
        import numpy as np

        cal = {"scale": self.scale, "bias": self.bias, "prior": self.prior}
        z = apply_calibration(
            np.asarray(logits, dtype="float32").reshape(-1, len(LABELS)),
            cal,
            self.use_prior if prior is None else prior,
        )
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return [dict(zip(LABELS, map(float, row))) for row in p]

    def probabilities(self, texts: list[str], prior: bool | None = None) -> list[dict[str, float]]:
        """Calibrated probabilities of `texts` (see `calibrated`)."""
        return self.calibrated(self.raw_logits(texts), prior)

    def tag_batch(self, texts: list[str]) -> list[Sentiment]:
        """Label and scores of each text; with an upset model, `scores["upset"]` is its P(upset)."""
        out = []
        for text, p in zip(texts, self.probabilities(texts)):
            scores = {k: round(v, 4) for k, v in p.items()}
            if self.upset is not None:
                scores["upset"] = round(self.upset.prob(text, p), 4)
            out.append(Sentiment(max(p, key=lambda k: p[k]), scores))
        return out

    def tag(self, text: str) -> Sentiment:
        if not text.strip():
            calm = {"negative": 0.0, "neutral": 1.0, "positive": 0.0}
            return Sentiment("neutral", {**calm, "upset": 0.0} if self.upset is not None else calm)
        return self.tag_batch([text])[0]


def open_upset(cfg) -> tuple[Any, list[str]]:
    """(the upset model or None, problems): a configured model that does not load is a problem the
    console shows; the turn then reads "upset" from the negative probability alone (`policy.upset`)."""
    from assistant.config import local_path
    from assistant.taggers.upset import UpsetModel

    path = local_path(cfg.policy.upset_model)
    if path is None:
        return None, []
    try:
        return UpsetModel.load(path), []
    except ConfigError as exc:
        log.warning("%s: upset read from the negative probability alone", exc)
        return None, [f"{exc}: upset is read from the sentiment tagger's negative probability alone"]


def _make(backbone, meta: dict, cfg) -> "TransformerSentiment":
    tagger = TransformerSentiment(backbone, meta, cfg.policy.sentiment_prior)
    tagger.upset, tagger.problems = open_upset(cfg)
    return tagger


KIND = TaggerKind(
    "sentiment",
    "sentiment tagger",
    directory=lambda cfg: cfg.models.sentiment,
    make=_make,
)
