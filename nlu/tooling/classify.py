"""`orders classify`: one message per stdin line, one JSON line of what the engine read.

The contract line (`text, label, intent, category, confidence`) is also what the NLU
evaluation scores (nlu.tooling.evaluate).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from adapters.engine_client import EngineClient
from config.settings import Settings
from services.reference import category_codes

CATEGORY_CODES = frozenset(category_codes())


def classification(text: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """The contract line of `orders classify` for one parsed message."""
    ranking = [
        item
        for item in parsed.get("intent_ranking") or []
        if item.get("name") and item.get("name") != "nlu_fallback"
    ]
    top = ranking[0] if ranking else (parsed.get("intent") or {})
    name = top.get("name") or "out_of_scope"
    confidence = float(top.get("confidence") or 0.0)
    category = name if name in CATEGORY_CODES else None
    return {
        "text": text,
        "label": category or name,
        "intent": "request_service" if category else name,
        "category": category,
        "confidence": round(confidence, 4),
    }


async def classify(settings: Settings, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """One JSON object per input line, from the production model on the running engine."""
    engine = EngineClient(settings.rasa_url, timeout=settings.engine_timeout_s)
    try:
        for line in stdin:
            text = line.rstrip("\n")
            parsed = await engine.parse(text) if text.strip() else {}
            out.write(json.dumps(classification(text, parsed), ensure_ascii=False) + "\n")
            out.flush()
    finally:
        await engine.close()
