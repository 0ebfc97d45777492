"""Is the customer upset? A small logistic model over the sentiment tagger's scores and the message's form.

The sentiment tagger was trained on airline tweets and film reviews: it reads plain support questions
about problems ("How do I return it?", "What if my parcel is lost?") as negative, so an apology keyed
on its negative probability alone opened one calm question in five. This model adds what tells a
question about a problem from a customer who has one, none of it tied to a domain's words: the
tagger's negative log-odds and positive probability, exclamation marks, words in capitals, repeated
"?!", whether the message ends in "?" and opens like a question, and its length.

It is trained by `loopdesk finetune upset` on the labelled customer messages in
`benchmarks/upset_sets/` (two sets written blind by different writers, different businesses): the
model fitted on one set is scored on the other (both directions reported), and the shipped model is
fitted on both. Its probability goes into the turn's sentiment scores as `upset`; `policy.upset_score`
is the threshold on it (`assistant.turn.policy.upset`).

    loopdesk finetune upset --json
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ConfigError

FEATURES = (
    "neg_logit",
    "positive",
    "exclaim",
    "caps",
    "repeated_marks",
    "ends_question",
    "opens_question",
    "log_words",
)
_QUESTION_WORDS = "how|what|when|where|which|who|why|can|could|do|does|did|is|are|will|would|should|may|if|hi|hello|hey"
_OPENS_QUESTION = re.compile(rf"^\W*({_QUESTION_WORDS})\b", re.I)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def features(text: str, scores: dict[str, float]) -> dict[str, float]:
    """The model's inputs for one message and the sentiment tagger's scores of it."""
    words = _WORD.findall(text)
    neg = min(max(float(scores.get("negative", 0.0)), 1e-6), 1 - 1e-6)
    return {
        "neg_logit": math.log(neg / (1 - neg)),
        "positive": float(scores.get("positive", 0.0)),
        # Per 100 characters: one "!" in a long message says less than in a short one.
        "exclaim": 100.0 * text.count("!") / max(1, len(text)),
        "caps": sum(1 for w in words if len(w) >= 3 and w.isupper()) / max(1, len(words)),
        "repeated_marks": float(bool(re.search(r"[!?]{2,}", text))),
        "ends_question": float(text.rstrip().endswith("?")),
        "opens_question": float(bool(_OPENS_QUESTION.match(text))),
        "log_words": math.log(len(words) + 1),
    }


@dataclass
class UpsetModel:
    """P(upset) = sigmoid(bias + sum(weight * (x - mean) / scale))."""

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    meta: dict

    def prob(self, text: str, scores: dict[str, float]) -> float:
        x = features(text, scores)
        z = self.bias + sum(
            w * (x[f] - m) / (s or 1.0) for f, w, m, s in zip(FEATURES, self.weights, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    @classmethod
    def load(cls, path: str | Path) -> "UpsetModel":
        """The model at `path`; a missing or broken file is a ConfigError naming it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if list(data["features"]) != list(FEATURES):
                raise ValueError(f"features {data['features']} are not {list(FEATURES)}")
            n = len(FEATURES)
            model = cls(
                [float(v) for v in data["weights"]],
                float(data["bias"]),
                [float(v) for v in data["mean"]],
                [float(v) for v in data["scale"]],
                dict(data.get("meta", {})),
            )
            if not (len(model.weights) == len(model.mean) == len(model.scale) == n):
                raise ValueError("weights, mean and scale must each have one value per feature")
            # json accepts NaN, and a NaN weight would make every message "upset" (min(60, nan) is 60).
            if not all(math.isfinite(v) for v in [*model.weights, model.bias, *model.mean, *model.scale]):
                raise ValueError("weights, bias, mean and scale must be finite numbers")
            return model
        except FileNotFoundError as exc:
            raise ConfigError(f"no upset model at {path} (train one with `loopdesk finetune upset`)") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"upset model {path} is unreadable ({type(exc).__name__}: {exc})") from exc

    def save(self, path: str | Path) -> None:
        body = {
            "features": list(FEATURES),
            "weights": self.weights,
            "bias": self.bias,
            "mean": self.mean,
            "scale": self.scale,
            "meta": self.meta,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
