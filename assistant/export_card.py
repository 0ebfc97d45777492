"""A training-data export's card in words (the CLI's `finetune export` and the console's job line
say it the same way; no raw dicts)."""

from __future__ import annotations


def _words(counts: dict) -> str:
    return ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n) or "none"


def summary(card: dict) -> str:
    """A data card in words, for the CLI and the console (no raw dicts)."""
    return (
        f"{card['train']} training and {card['eval']} held-out examples; kept {_words(card['kept'])}; "
        f"left out {_words(card['dropped'])}; personal data replaced: {_words(card['pii_redacted'])}."
    )
