"""Steps 1-3 of a turn: language, sentiment, entities — the one way a message is tagged.

The pipeline tags every customer message with it, and `loopdesk tag` prints what it finds, so the
command shows exactly what a turn would see: short text keeps the default language (langdetect
guesses wildly on a few words), entities are tagged only in `policy.ner_languages`, and a missing or
failing tagger becomes a note instead of an error.

    loopdesk tag "My order NW-20931 never arrived, I'm furious" --json
"""

from __future__ import annotations

import logging
from typing import Callable

from assistant.config import Config
from assistant.turn.language import detect_language
from assistant.types import Entity, EntityTagger, Sentiment, SentimentTagger, Tags
from assistant.unavailable import Unavailable

log = logging.getLogger("loopdesk.pipeline")


class MessageTagging:
    def __init__(self, cfg: Config, sentiment: SentimentTagger | Unavailable, ner: EntityTagger | Unavailable) -> None:
        self.cfg, self.sentiment, self.ner = cfg, sentiment, ner

    def tag(self, text: str, mark: Callable[[str], None] = lambda step: None) -> Tags:
        """Language, sentiment and entities of one message; `mark(step)` after each (the turn's timer)."""
        tags = Tags(language=self.detect_language(text))
        mark("language")
        tags.sentiment = self.tag_sentiment(text, tags)
        mark("sentiment")
        tags.entities = self.tag_entities(text, tags)
        mark("entities")
        return tags

    def detect_language(self, text: str) -> str:
        return detect_language(text, default=self.cfg.policy.supported_languages[0])

    def tag_sentiment(self, text: str, tags: Tags) -> Sentiment | None:
        if not self.sentiment:
            tags.notes.append(str(self.sentiment))
            return None
        try:
            return self.sentiment.tag(text)
        except Exception as exc:  # a tagger failure must not block the answer
            tags.notes.append(f"sentiment tagger failed: {exc}")
            return None

    def tag_entities(self, text: str, tags: Tags) -> list[Entity]:
        if tags.language not in self.cfg.policy.ner_languages:
            tags.notes.append(
                f"entities not tagged: the NER tagger reads {', '.join(self.cfg.policy.ner_languages)}, "
                f"this message is {tags.language}"
            )
            return []
        if not self.ner:
            tags.notes.append(str(self.ner))
            return []
        try:
            return self.ner.tag(text)
        except Exception as exc:
            tags.notes.append(f"NER tagger failed: {exc}")
            return []
