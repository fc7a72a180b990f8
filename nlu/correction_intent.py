"""Reads a typed correction of one answer as `change_field` with its `field`.

"地址错了，应该是6栋2单元301" names the answer it corrects; a statistical classifier
trained on needs reads it as a repair or as nothing at all. This component runs after
the classifier: when the message is a correction (nlu/corrections.py, the same rule the
action server applies to take the new value), the intent is `change_field` with full
confidence and the entity `field` names the answer. Every other message is left as the
classifier read it.

Imported by the Rasa engine (.venv-rasa): rasa and the standard library only.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.corrections import read_correction

CHANGE_FIELD = "change_field"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CorrectionIntent(GraphComponent):
    """`change_field` for a typed correction, after the classifier."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CorrectionIntent:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            correction = read_correction(str(message.get(TEXT) or ""))
            if correction is None:
                continue
            top = {INTENT_NAME_KEY: CHANGE_FIELD, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [
                entry
                for entry in message.get(INTENT_RANKING_KEY) or []
                if entry.get(INTENT_NAME_KEY) != CHANGE_FIELD
            ]
            message.set(INTENT, top, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
            entity = {
                "entity": "field",
                "value": correction.field,
                "start": 0,
                "end": len(str(message.get(TEXT) or "")),
                "extractor": type(self).__name__,
            }
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
