"""The language of each message (English or Spanish), as a `language` entity the conversation keeps.

The `language` slot (domain.yml) is filled from that entity, and the responses written in Spanish are the
variations conditioned on it. A message is only said to be in a language when lingua is sure of it, so a
short or mixed message ("ok", "valium", "my brother no respira") leaves the conversation's language as it
was. Asking for a language by name ("español", "in English please") sets it whatever lingua says.

lingua-language-detector ships its models inside its wheel: nothing is downloaded at run time. English
and Spanish are told apart by its high-accuracy mode limited to the two, which is where it is surest on
short, accent-free messages.

Another language in the Latin alphabet (French, Portuguese, German, Italian, Tagalog, Vietnamese,
Polish) is said only when two things agree: lingua's low-accuracy mode over all nine languages (about
16 MB; the high-accuracy models of seven more languages would cost about 176 MB per process) is sure
of that language, and at least half of the message's words are not in the English and Spanish words
the assistant was trained on (its training examples and spaCy's stop words, kept with the model).
Either alone takes English typos and slang for French or Tagalog (docs/evaluation.md, "Other
languages"). Such a message gets the bilingual fallback, except a crisis or a dosing request, which
keeps its reply.

Every reply has its Spanish text (a `language = es` variation in domain.yml, content/*_es.yml for the
actions' answers), so the intent is left as the classifier decided it, in either language.
"""

from __future__ import annotations

import json
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
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.medication_extractor import SPACY_LABEL as MEDICATION_LABEL
from components.safety_net import fold, put_first

ENTITY = "language"
# ISO 639-1 code -> lingua's name for the language.
LINGUA_NAMES = {
    "en": "ENGLISH",
    "es": "SPANISH",
    "fr": "FRENCH",
    "pt": "PORTUGUESE",
    "de": "GERMAN",
    "it": "ITALIAN",
    "tl": "TAGALOG",
    "vi": "VIETNAMESE",
    "pl": "POLISH",
}
VOCABULARY_FILE = "vocabulary.json"
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
# What a message in another Latin-script language does not lose to the bilingual fallback: its reply
# is a safety reply, and English typos can read as another language.
KEPT_INTENTS = {"crisis", "ask_dosing"}


def words_of(text: str) -> list[str]:
    """The folded words of `text` that have a vowel: a keyboard mash ("hhhhhhh jjj") is not words."""
    return [w for w in re.findall(r"[^\W\d_]+", fold(text)) if re.search(r"[aeiouy]", w)]


def other_script(text: str) -> bool:
    """Whether most of the letters of `text` (at least two) are not Latin letters."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return False
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return latin * 2 < len(letters)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER],
    is_trainable=True,
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
            # Latin-script languages told apart from these, for the bilingual fallback
            "other_languages": ["fr", "pt", "de", "it", "tl", "vi", "pl"],
            # ... when the low-accuracy mode gives one of them this confidence,
            "other_min_confidence": 0.9,
            # and this share of the message's words (at least `other_min_words`) are not English or
            # Spanish words of the training data. Chosen on tests/other_languages.yml against every
            # English and Spanish message of tests/ (docs/evaluation.md, "Other languages").
            "other_min_unknown": 0.5,
            "other_min_words": 3,
        }

    def __init__(
        self,
        config: dict[str, Any],
        vocabulary: frozenset[str] = frozenset(),
        model_storage: ModelStorage | None = None,
        resource: Resource | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._vocabulary = vocabulary
        self._model_storage = model_storage
        self._resource = resource
        from lingua import Language, LanguageDetectorBuilder

        # Loaded with the model (about 65 MB for the two languages, 16 MB for the nine in low-accuracy
        # mode), not on the first message.
        self._names = {LINGUA_NAMES[code]: code for code in self._config["languages"]}
        self._lingua = (
            LanguageDetectorBuilder.from_languages(*(getattr(Language, name) for name in self._names))
            .with_preloaded_language_models()
            .build()
        )
        others = [code for code in self._config["other_languages"] if code not in self._config["languages"]]
        self._all_names = {LINGUA_NAMES[code]: code for code in [*self._config["languages"], *others]}
        self._others = set(others)
        self._lingua_all = (
            LanguageDetectorBuilder.from_languages(*(getattr(Language, name) for name in self._all_names))
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
            if others
            else None
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config, frozenset(), model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LanguageDetector:
        with model_storage.read_from(resource) as directory:
            words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(config, frozenset(words), model_storage, resource)

    @staticmethod
    def vocabulary_of(texts: list[str]) -> frozenset[str]:
        """The folded words of `texts`, with spaCy's English and Spanish stop words."""
        from spacy.lang.en.stop_words import STOP_WORDS as ENGLISH_STOP_WORDS
        from spacy.lang.es.stop_words import STOP_WORDS as SPANISH_STOP_WORDS

        words = {fold(w) for w in ENGLISH_STOP_WORDS | SPANISH_STOP_WORDS}
        for text in texts:
            words.update(words_of(text))
        return frozenset(words)

    def train(self, training_data: TrainingData, model: SpacyModel | None = None) -> Resource:
        self._vocabulary = self.vocabulary_of([m.get(TEXT) or "" for m in training_data.training_examples])
        assert self._model_storage is not None and self._resource is not None
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self._vocabulary)), encoding="utf-8")
        return self._resource

    def other_language(self, words: list[str], text: str) -> str | None:
        """The code of another Latin-script language `text` is in, when sure of it."""
        if self._lingua_all is None or len(words) < self._config["other_min_words"]:
            return None
        unknown = sum(1 for w in words if w not in self._vocabulary) / len(words)
        if unknown < self._config["other_min_unknown"]:
            return None
        best = max(self._lingua_all.compute_language_confidence_values(text), key=lambda c: c.value)
        code = self._all_names[best.language.name]
        return code if code in self._others and best.value >= self._config["other_min_confidence"] else None

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
        words = words_of(folded)
        if self.other_language(words, text):
            return OTHER, False
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
            elif language == OTHER and (other_script(text) or self._intent(message) not in KEPT_INTENTS):
                self._set_intent(message, FALLBACK_INTENT)
        return messages

    @staticmethod
    def _intent(message: Message) -> str | None:
        return (message.get(INTENT) or {}).get(INTENT_NAME_KEY)

    @staticmethod
    def _set_intent(message: Message, intent: str) -> None:
        if LanguageDetector._intent(message) != intent:
            put_first(message, intent, (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY, 0.0))
