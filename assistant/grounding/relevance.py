"""Learned relevance: does the knowledge base answer this question, and which evidence units do.

Two small logistic models over features of the turn's retrieval, trained by `loopdesk finetune relevance`
(`finetune/relevance.py`) leave-one-knowledge-base-out on the dev knowledge bases:

- **answerability** — P(the passages answer the question) from the best passage and unit cosines, the
  gaps to the runners-up, and how much of the question's *known* vocabulary (words the knowledge base
  uses) the best unit's section shares. Words the knowledge base never uses are not a feature: an
  everyday word ("my sister", "Leeds", "blender") never decides a decline.
- **unit relevance** — P(this unit carries the answer) for each picked unit, from its cosine, its rank and
  gap to the best, whether it sits in the best unit's passage, and its share of the known vocabulary.
  The reply quotes the closest unit, the next ones of the same passage, and a unit of another passage
  only when the model finds it likely: fewer sentences from another topic.

The weights, thresholds and how they were chosen live in one JSON file (`retrieval.relevance_model`,
default `models/relevance/relevance.json`); a missing or broken file is reported and the turn falls
back to the passages' cosine alone (`Relevance.unavailable`), never silently.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from assistant.errors import ConfigError
from assistant.grounding.words import content_words, stem

QUESTION_FEATURES = (
    "passage_top",
    "passage_gap",
    "unit_top",
    "unit_gap",
    "unit_mean3",
    "known_cover",
    "ce_top",
    "ce_gap",
)
UNIT_FEATURES = ("sim", "gap", "rank", "same_passage", "passage_score", "known_cover", "is_row", "ce", "ce_gap")


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def known_stems(vocabulary: Any) -> frozenset[str]:
    """Stems of every word the knowledge base uses (cached on the vocabulary object)."""
    cached = getattr(vocabulary, "_loopdesk_stems", None)
    if cached is None:
        cached = frozenset(stem(w) for w in getattr(vocabulary, "df", {}))
        try:
            object.__setattr__(vocabulary, "_loopdesk_stems", cached)
        except (AttributeError, TypeError):
            pass
    return cached


def known_cover(question: str, text: str, known: frozenset[str] | None) -> float:
    """Share of the question's content stems that the knowledge base knows and `text` uses (0 when
    the question has no known word). Unknown words are left out on both sides."""
    asked = _stems(question)
    if known is not None:
        asked &= known
    if not asked:
        return 0.0
    return len(asked & _stems(text)) / len(asked)


def question_features(
    question: str,
    passage_scores: Sequence[float],
    unit_sims: Sequence[float],
    best_text: str,
    known: frozenset[str] | None,
    ce: Sequence[float] = (),
) -> dict[str, float]:
    """`ce`: the reranker's scores of the picked units (empty without a reranker: those features are 0)."""
    ps = sorted(passage_scores, reverse=True) or [0.0]
    us = sorted(unit_sims, reverse=True) or [0.0]
    return {
        **reranker_features(ce)[0],
        "passage_top": ps[0],
        "passage_gap": ps[0] - (ps[1] if len(ps) > 1 else 0.0),
        "unit_top": us[0],
        "unit_gap": us[0] - (us[1] if len(us) > 1 else 0.0),
        "unit_mean3": sum(us[:3]) / len(us[:3]),
        "known_cover": known_cover(question, best_text, known),
    }


def reranker_features(ce: Sequence[float]) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The reranker's features: of the question (best score, gap to the second) and of each unit (its
    score, gap to the best); zeros without scores. Training adds them to stored rows with this too."""
    cs = sorted(ce, reverse=True) or [0.0]
    top = cs[0]
    question = {"ce_top": top, "ce_gap": top - (cs[1] if len(cs) > 1 else top)}
    return question, [{"ce": c, "ce_gap": top - c} for c in ce]


def unit_features(
    question: str,
    units: Sequence[tuple[str, int, float]],
    passage_scores: Sequence[float],
    headings: Sequence[str],
    known: frozenset[str] | None,
    ce: Sequence[float] = (),
) -> list[dict[str, float]]:
    """Features of each picked unit, given as (text, passage index, cosine) best first; `ce` as above."""
    if not units:
        return []
    best_sim, best_passage = units[0][2], units[0][1]
    per_unit = reranker_features(ce)[1]
    out = []
    for rank, (text, passage, sim) in enumerate(units):
        heading = headings[passage] if passage < len(headings) else ""
        out.append(
            {
                "sim": sim,
                "gap": best_sim - sim,
                "rank": float(rank),
                "same_passage": float(passage == best_passage),
                "passage_score": passage_scores[passage] if passage < len(passage_scores) else 0.0,
                "known_cover": known_cover(question, f"{heading} {text}", known),
                "is_row": float(text.count(": ") >= 2 and "; " in text),
                **(per_unit[rank] if rank < len(per_unit) else {"ce": 0.0, "ce_gap": 0.0}),
            }
        )
    return out


@dataclass
class Logistic:
    """P(y=1) = sigmoid(bias + sum(weight * (x - mean) / scale)); `threshold` on that probability."""

    features: tuple[str, ...]
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    threshold: float

    def prob(self, x: dict[str, float]) -> float:
        z = self.bias + sum(
            w * ((x.get(f, 0.0) - m) / (s or 1.0))
            for f, w, m, s in zip(self.features, self.weights, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "weights": self.weights,
            "bias": self.bias,
            "mean": self.mean,
            "scale": self.scale,
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Logistic":
        n = len(d["features"])
        if not all(len(d[k]) == n for k in ("weights", "mean", "scale")):
            raise ValueError("features, weights, mean and scale differ in length")
        return cls(
            tuple(d["features"]),
            [float(v) for v in d["weights"]],
            float(d["bias"]),
            [float(v) for v in d["mean"]],
            [float(v) for v in d["scale"]],
            float(d["threshold"]),
        )


@dataclass
class Relevance:
    """The two models, or the reason they are missing (`problem`)."""

    answerable: Logistic | None = None
    unit: Logistic | None = None
    meta: dict = field(default_factory=dict)
    problem: str = ""
    reranker: Any = None
    """`assistant.grounding.reranker.Reranker` whose scores the models were trained with (None: none)."""
    configured: bool = True
    """False only for the stand-in of an assistant built without one (unit tests): nothing to report."""
    unit_encoder_dir: Path | None = None
    """The LoRA adapter the unit scores were computed with (`assistant.grounding.unit_encoder`; None:
    the retrieval embedder ranks units). Loaded at the first turn that ranks units (`unit_scorer`)."""
    _unit_encoder: Any = None
    _encoder_problem: str = ""
    _encoder_lock: Any = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> "Relevance":
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            model = cls(Logistic.from_json(data["answerable"]), Logistic.from_json(data["unit"]), data.get("meta", {}))
            if data.get("reranker"):
                from assistant.grounding.reranker import Reranker

                folder = p.parent / data["reranker"]
                if not (folder / "config.json").is_file():
                    raise ValueError(f"its reranker {folder} is missing")
                model.reranker = Reranker(folder)
            if data.get("unit_encoder"):
                from assistant.grounding.unit_encoder import check_folder

                folder = p.parent / data["unit_encoder"]
                why = check_folder(folder)
                if why:
                    raise ValueError(f"its unit encoder is missing: {why}")
                model.unit_encoder_dir = folder
            return model
        except FileNotFoundError:
            return cls.unavailable(f"no relevance model at {p} (train one with `loopdesk finetune relevance`)")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return cls.unavailable(f"relevance model {p} is unreadable ({type(exc).__name__}: {exc})")

    @classmethod
    def unavailable(cls, why: str, configured: bool = True) -> "Relevance":
        return cls(problem=why, configured=configured)

    def save(self, path: str | Path, reranker: str = "", unit_encoder: str = "", replay: str = "") -> None:
        """`reranker`, `unit_encoder`: their folders relative to `path`'s folder ("" when the models use none);
        `replay`: the unit encoder's training rows beside it (read by a learning-loop round, not here)."""
        if self.answerable is None or self.unit is None:
            raise ConfigError(f"nothing to save: {self.problem}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        body = {
            "answerable": self.answerable.to_json(),
            "unit": self.unit.to_json(),
            "reranker": reranker,
            "unit_encoder": unit_encoder,
            "replay": replay,
            "meta": self.meta,
        }
        Path(path).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")

    def unit_scorer(self, make_embedder: Callable[[], Any]):
        """The unit encoder (loaded once, on first use, onto `make_embedder()`, a fresh retrieval
        embedder), or None when the models use none. Raises ModelNotFoundError when it cannot load (the
        caller reports it and ranks with the retrieval embedder)."""
        if self.unit_encoder_dir is None:
            return None
        from assistant.errors import ModelNotFoundError

        with self._encoder_lock:
            if self._encoder_problem:  # tried once; a broken adapter is not reloaded at every turn
                raise ModelNotFoundError(self._encoder_problem)
            if self._unit_encoder is None:
                from assistant.grounding.unit_encoder import load_unit_encoder

                try:
                    self._unit_encoder = load_unit_encoder(self.unit_encoder_dir, make_embedder)
                except ModelNotFoundError as exc:
                    self._encoder_problem = str(exc)
                    raise
        return self._unit_encoder

    def rerank(self, question: str, texts: Sequence[str]) -> list[float]:
        """The reranker's scores of `texts` for `question` (empty without a reranker)."""
        return self.reranker.score(question, texts) if self.reranker is not None and texts else []

    def answer_prob(self, features: dict[str, float], min_score: float) -> tuple[float, bool]:
        """(P(answerable), answerable?). Without a model: the best passage's cosine against
        `retrieval.min_score` (what retrieval already applies), so nothing is declined on words."""
        if self.answerable is None:
            top = features.get("passage_top", 0.0)
            return top, top >= min_score
        p = self.answerable.prob(features)
        return p, p >= self.answerable.threshold

    def keep_units(self, features: list[dict[str, float]], without_model: int = 2) -> list[int]:
        """Indexes of the picked units that carry the answer, closest first (the closest always);
        without a model, the `without_model` closest (`retrieval.fallback_units`)."""
        if not features:
            return []
        if self.unit is None:
            return list(range(min(without_model, len(features))))
        return keep(self.unit, features, self.unit.threshold)


def keep(model: Logistic, features: list[dict[str, float]], threshold: float, most: int = 3) -> list[int]:
    """The closest unit, then each next one (closest first) that sits in the same passage as the closest
    (one topic; not a table row) or that the model finds likely enough, up to `most`."""
    kept = [0]
    for i, f in enumerate(features[1:], 1):
        if len(kept) >= most:
            break
        # Sentences of the closest unit's passage go with it; a table row stands alone (another row
        # is another option: "How much is Express?" is not asking about Standard).
        if (f.get("same_passage") and not f.get("is_row")) or model.prob(f) >= threshold:
            kept.append(i)
    return kept
