"""Turns the spaCy entity ruler's MEDICATION spans into `medication` entities with canonical values."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

SPACY_LABEL = "MEDICATION"
ENTITY = "medication"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    is_trainable=False,
    model_from="SpacyNLP",
)
class MedicationEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Reads the spaCy doc SpacyNLP already made, so the text is not parsed twice."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MedicationEntityExtractor:
        return cls()

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:  # e.g. an empty text
                continue
            found = [
                {
                    "entity": ENTITY,
                    "value": ent.ent_id_ or ent.text.lower(),
                    "start": ent.start_char,
                    "end": ent.end_char,
                    "confidence": 1.0,
                }
                for ent in doc.ents
                if ent.label_ == SPACY_LABEL
            ]
            if found:
                message.set(
                    ENTITIES,
                    message.get(ENTITIES, []) + self.add_extractor_name(found),
                    add_to_output=True,
                )
        return messages
