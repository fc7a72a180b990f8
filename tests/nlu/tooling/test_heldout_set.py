"""The held-out set stays independent of the training data and covers every label."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from nlu.tooling.classify import CATEGORY_CODES
from nlu.tooling.evaluate import HELDOUT_DIR, load_examples

TRAINING = Path(__file__).resolve().parents[2] / "nlu" / "data"
NON_SERVICE = {
    "greet", "goodbye", "thank", "help", "check_status", "cancel_request", "human_handoff",
    "emergency", "out_of_scope", "affirm", "deny", "skip_photo", "new_request",
}  # fmt: skip


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def test_no_held_out_example_is_in_the_training_data() -> None:
    training = {_normal(text) for path in TRAINING.glob("*.yml") for text, _ in load_examples(path)}
    leaked = [
        text
        for path in HELDOUT_DIR.glob("*.yml")
        for text, _ in load_examples(path)
        if _normal(text) in training
    ]
    assert leaked == []


def test_every_label_has_enough_held_out_examples() -> None:
    minimum = {"zh": 25, "en": 10}
    for language, floor in minimum.items():
        counts = Counter(label for _, label in load_examples(HELDOUT_DIR / f"{language}.yml"))
        assert set(counts) == CATEGORY_CODES | NON_SERVICE
        assert min(counts.values()) >= floor, (language, counts.most_common()[-3:])
