"""Measuring the NLU on the held-out set (nlu/heldout/, never used for training):
macro-F1 per language, per-class F1, worst confusions, emergency recall and false
alarms, and classification latency through the running engine."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.engine_client import EngineClient
from config import PROJECT_ROOT
from nlu.tooling.classify import classification

HELDOUT_DIR = PROJECT_ROOT / "nlu" / "heldout"
# The intent Rasa's FallbackClassifier puts first when it is unsure: the dialogue then
# asks which category is meant (nlu/actions/clarify.py).
FALLBACK = "nlu_fallback"


def load_examples(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs of a Rasa NLU YAML file."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs = []
    for block in data.get("nlu") or []:
        label = block.get("intent")
        for line in str(block.get("examples") or "").splitlines():
            text = line.strip().removeprefix("- ").strip()
            if label and text:
                pairs.append((text, str(label)))
    return pairs


@dataclass
class Scores:
    """Classification quality of one set of (gold, predicted) labels."""

    per_class_f1: dict[str, float]
    macro_f1: float
    accuracy: float
    confusions: list[tuple[str, str, int]] = field(default_factory=list)


def score(pairs: list[tuple[str, str]]) -> Scores:
    """Per-class F1 (over the gold labels), macro-F1, accuracy and top confusions."""
    labels = sorted({gold for gold, _ in pairs})
    true_positive: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    for gold, guess in pairs:
        actual[gold] += 1
        predicted[guess] += 1
        if gold == guess:
            true_positive[gold] += 1
        else:
            confusions[(gold, guess)] += 1
    f1 = {}
    for label in labels:
        precision = true_positive[label] / predicted[label] if predicted[label] else 0.0
        recall = true_positive[label] / actual[label] if actual[label] else 0.0
        total = precision + recall
        f1[label] = 2 * precision * recall / total if total else 0.0
    return Scores(
        per_class_f1=f1,
        macro_f1=sum(f1.values()) / len(f1) if f1 else 0.0,
        accuracy=sum(true_positive.values()) / len(pairs) if pairs else 0.0,
        confusions=[(g, p, n) for (g, p), n in confusions.most_common(10)],
    )


def emergency_rates(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """(recall on emergencies, share of non-emergencies flagged as emergency)."""
    emergencies = [guess for gold, guess in pairs if gold == "emergency"]
    others = [guess for gold, guess in pairs if gold != "emergency"]
    recall = sum(g == "emergency" for g in emergencies) / len(emergencies) if emergencies else 1.0
    false_alarms = sum(g == "emergency" for g in others) / len(others) if others else 0.0
    return recall, false_alarms


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    # Nearest rank: the smallest value with at least q% of the values at or below it.
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def load_heldout(heldout_dir: Path = HELDOUT_DIR) -> dict[str, list[tuple[str, str]]]:
    """The held-out examples per language file (zh.yml, en.yml)."""
    return {path.stem: load_examples(path) for path in sorted(heldout_dir.glob("*.yml"))}


async def evaluate(engine_url: str, sets: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """Classify every held-out example through the engine and report the numbers."""
    client = EngineClient(engine_url, timeout=30)
    report: dict[str, Any] = {"languages": {}}
    latencies: list[float] = []
    everything: list[tuple[str, str]] = []
    emergency_errors: list[dict[str, str]] = []
    # Messages the engine answers with the clarifying question, by right/wrong label.
    clarified: Counter[bool] = Counter()
    answered: Counter[bool] = Counter()
    try:
        for language, examples in sets.items():
            pairs = []
            for text, gold in examples:
                started = time.perf_counter()
                parsed = await client.parse(text)
                latencies.append(time.perf_counter() - started)
                guess = str(classification(text, parsed)["label"])
                pairs.append((gold, guess))
                clarified[gold == guess] += (parsed.get("intent") or {}).get("name") == FALLBACK
                answered[gold == guess] += 1
                if "emergency" in (gold, guess) and gold != guess:
                    emergency_errors.append({"text": text, "gold": gold, "predicted": guess})
            scores = score(pairs)
            everything += pairs
            report["languages"][language] = {
                "examples": len(pairs),
                "macro_f1": round(scores.macro_f1, 4),
                "accuracy": round(scores.accuracy, 4),
                "per_class_f1": {k: round(v, 3) for k, v in scores.per_class_f1.items()},
                "worst_confusions": scores.confusions,
            }
    finally:
        await client.close()
    report["macro_f1"] = round(score(everything).macro_f1, 4)
    recall, false_alarms = emergency_rates(everything)
    report["emergency_recall"] = round(recall, 4)
    report["emergency_false_alarm_rate"] = round(false_alarms, 4)
    report["emergency_errors"] = emergency_errors
    report["clarify_rate"] = round(sum(clarified.values()) / max(1, sum(answered.values())), 4)
    report["clarify_rate_when_right"] = round(clarified[True] / max(1, answered[True]), 4)
    report["clarify_rate_when_wrong"] = round(clarified[False] / max(1, answered[False]), 4)
    report["latency_ms_p50"] = round(percentile(latencies, 50) * 1000, 2)
    report["latency_ms_p99"] = round(percentile(latencies, 99) * 1000, 2)
    return report


def summary(report: dict[str, Any]) -> str:
    """The report's headline numbers, a line each, for people (the JSON has the rest)."""
    lines = [
        f"{language}: macro-F1 {scores['macro_f1']:.4f}, accuracy {scores['accuracy']:.4f} "
        f"({scores['examples']} held-out messages)"
        for language, scores in report["languages"].items()
    ]
    lines += [
        f"both languages: macro-F1 {report['macro_f1']:.4f}",
        f"emergency recall {report['emergency_recall']:.4f}, "
        f"non-emergencies flagged {report['emergency_false_alarm_rate']:.2%}",
        f"clarifying question on {report['clarify_rate']:.1%} of messages: "
        f"{report['clarify_rate_when_right']:.1%} of those labelled right, "
        f"{report['clarify_rate_when_wrong']:.1%} of those labelled wrong",
        f"classification through the engine: p50 {report['latency_ms_p50']} ms, "
        f"p99 {report['latency_ms_p99']} ms",
    ]
    return "\n".join(lines)
