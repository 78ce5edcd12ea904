"""The language of each message (English or Spanish), as a `language` entity the conversation keeps.

The `language` slot (domain.yml) is filled from that entity, and the responses written in Spanish are the
variations conditioned on it. A message is only said to be in a language when lingua is sure of it, so a
short or mixed message ("ok", "valium", "my brother no respira") leaves the conversation's language as it
was. Asking for a language by name ("español", "in English please") sets it whatever lingua says.

lingua-language-detector ships its models inside its wheel: nothing is downloaded at run time. It is
limited to the languages listed here, which is where it is surest on short, accent-free messages.

Every reply has its Spanish text (a `language = es` variation in domain.yml, content/*_es.yml for the
actions' answers), so the intent is left as the classifier decided it, in either language.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from components.medication_extractor import SPACY_LABEL as MEDICATION_LABEL
from components.safety_net import fold, put_first

ENTITY = "language"
# ISO 639-1 code -> lingua's name for the language.
LINGUA_NAMES = {"en": "ENGLISH", "es": "SPANISH"}
# "español", "en español por favor", "english please", "can we speak english": a request for the language.
ASKING = r"^(?:(?:en|in|habla|hablame|hablemos|puedes hablar|speak|can we speak|can you speak)\s+)?"
REQUESTS = {
    "es": re.compile(ASKING + r"(?:espanol|spanish)\b"),
    "en": re.compile(ASKING + r"(?:ingles|english)\b"),
}
# One-word messages: lingua guesses wildly on a single word ("hiiii" is "Spanish"), so a lone word
# counts only when it is one of these.
SINGLE_WORDS = {
    "es": {"hola", "gracias", "ayuda", "auxilio", "socorro", "adios", "buenas", "ayudame", "ayudenme"},
}
# A request for a language is answered with the topics, in that language.
REQUEST_INTENT = "help_menu"
# A message written mostly in a script other than the Latin alphabet (Chinese, Arabic, Russian, Korean,
# ...) is in a language the assistant does not answer in: `language` "other", and the fallback, whose
# "other" variation (domain.yml) says so in English and Spanish and gives the help lines (911 and the
# helplines have interpreters).
OTHER = "other"
FALLBACK_INTENT = "nlu_fallback"


def other_script(text: str) -> bool:
    """Whether most of the letters of `text` (at least two) are not Latin letters."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return False
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return latin * 2 < len(letters)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER],
    is_trainable=False,
    model_from="SpacyNLP",
)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    """Adds a `language` entity when sure of a message's language; asking for a language shows the topics."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "languages": ["en", "es"],
            # lingua's confidence (the languages' shares sum to 1) needed to say a message is in one
            "min_confidence": 0.7,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **config}
        from lingua import Language, LanguageDetectorBuilder

        # Loaded with the model (about 65 MB for the two languages), not on the first message.
        self._names = {LINGUA_NAMES[code]: code for code in self._config["languages"]}
        self._lingua = (
            LanguageDetectorBuilder.from_languages(*(getattr(Language, name) for name in self._names))
            .with_preloaded_language_models()
            .build()
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config)

    def detect(self, text: str) -> tuple[str | None, bool]:
        """(language, whether the message asks for it): ('es', False), ('en', True), ('other', False),
        (None, False).

        `text` is the message without medication names, which tell nothing of the language ("is ativan
        a benzo" reads as Spanish to lingua)."""
        if other_script(text):
            return OTHER, False
        folded = fold(text).strip()
        for code, request in REQUESTS.items():
            if code in self._config["languages"] and request.match(folded):
                return code, True
        # Words with a vowel: a keyboard mash ("hhhhhhh jjj") reads as Spanish to lingua.
        words = [w for w in re.findall(r"[^\W\d_]+", folded) if re.search(r"[aeiouy]", w)]
        if len(words) < 2:
            single = next((c for c, ws in SINGLE_WORDS.items() if words and words[0] in ws), None)
            return (single if single in self._config["languages"] else None), False
        best = max(self._lingua.compute_language_confidence_values(text), key=lambda c: c.value)
        if best.value < self._config["min_confidence"]:
            return None, False
        return self._names[best.language.name], False

    @staticmethod
    def without_medication_names(message: Message) -> str:
        doc = message.get(SPACY_DOCS[TEXT])
        if doc is None:
            return message.get(TEXT) or ""
        return "".join(t.text_with_ws for t in doc if t.ent_type_ != MEDICATION_LABEL)

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            language, requested = self.detect(self.without_medication_names(message))
            if language is None:
                continue
            entity = {"entity": ENTITY, "value": language, "start": 0, "end": len(text)}
            entities = message.get(ENTITIES, []) + self.add_extractor_name([entity])
            message.set(ENTITIES, entities, add_to_output=True)
            if requested:
                self._set_intent(message, REQUEST_INTENT)
            elif language == OTHER:
                self._set_intent(message, FALLBACK_INTENT)
        return messages

    @staticmethod
    def _intent(message: Message) -> str | None:
        return (message.get(INTENT) or {}).get(INTENT_NAME_KEY)

    @staticmethod
    def _set_intent(message: Message, intent: str) -> None:
        if LanguageDetector._intent(message) != intent:
            put_first(message, intent, (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY, 0.0))
