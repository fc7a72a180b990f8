"""The held-out report's arithmetic (nlu/tooling/evaluate.py); the real model's numbers are
checked through the engine in tests/e2e/test_nlu_quality.py."""

from __future__ import annotations

import pytest

from nlu.tooling.evaluate import emergency_rates, percentile, score, summary


def test_macro_f1_averages_the_gold_labels() -> None:
    pairs = [("repair", "repair"), ("repair", "property"), ("property", "property")]
    scores = score(pairs)
    assert scores.per_class_f1 == {"repair": pytest.approx(2 / 3), "property": pytest.approx(2 / 3)}
    assert scores.macro_f1 == pytest.approx(2 / 3)
    assert scores.accuracy == pytest.approx(2 / 3)
    assert scores.confusions == [("repair", "property", 1)]


def test_a_label_only_ever_predicted_is_not_averaged() -> None:
    assert score([("greet", "greet"), ("thank", "other_need")]).per_class_f1 == {
        "greet": 1.0,
        "thank": 0.0,
    }


def test_emergency_recall_and_false_alarms() -> None:
    pairs = [("emergency", "emergency"), ("emergency", "medical"), ("repair", "emergency")]
    pairs += [("repair", "repair")] * 3
    assert emergency_rates(pairs) == (0.5, 0.25)


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([2.0, 1.0], 50) == 1.0
    assert percentile([], 50) == 0.0


def test_summary_names_every_headline_number() -> None:
    report = {
        "languages": {"zh": {"macro_f1": 0.95481, "accuracy": 0.9547, "examples": 838}},
        "macro_f1": 0.953,
        "emergency_recall": 1.0,
        "emergency_false_alarm_rate": 0.0025,
        "clarify_rate": 0.021,
        "clarify_rate_when_right": 0.01,
        "clarify_rate_when_wrong": 0.3,
        "latency_ms_p50": 3.08,
        "latency_ms_p99": 5.07,
    }
    lines = summary(report).splitlines()
    assert lines[0] == "zh: macro-F1 0.9548, accuracy 0.9547 (838 held-out messages)"
    assert lines[1] == "both languages: macro-F1 0.9530"
    lines.pop(1)
    assert lines[1] == "emergency recall 1.0000, non-emergencies flagged 0.25%"
    assert "2.1% of messages" in lines[2] and "30.0% of those labelled wrong" in lines[2]
    assert lines[3] == "classification through the engine: p50 3.08 ms, p99 5.07 ms"
