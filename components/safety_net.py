"""Safety net: spaCy Matcher rules that force the crisis or dosing intent whatever the classifier said.

It runs after the intent classifier and the FallbackClassifier. A CRISIS match always wins; a DOSING
match wins over anything but crisis. Patterns live in YAML files (content/safety_patterns.yml for English,
content/safety_patterns_es.yml for Spanish), merged label by label, and are stored in the trained model, so a
model behaves the same wherever it is loaded.

Spanish is written with and without accents ("está" / "esta"): its patterns match the token extension
`_.fold`, the lowercased word with its accents taken off, so each word is written once, unaccented.
The Matcher itself reads that form from the token's NORM, which `_match` sets to the fold before
matching: spaCy evaluates an `IN` set on an extension through `token._` in Python, token by token,
which made the Spanish patterns about ten times as slow as the English ones on LOWER
(`python -m benchmarks.matcher` prints both ways side by side). Nothing else in the pipeline reads
NORM; the patterns files and the model keep the `_.fold` spelling.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
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

from components.crisis_detector import PROBABILITY_KEY as DETECTOR_KEY
from content import files_digest, read_yaml

logger = logging.getLogger(__name__)

PATTERNS_FILE = "patterns.yml"
# Label in the patterns file -> intent it forces. Order is priority: first match wins.
DEFAULT_LABEL_INTENTS = {"CRISIS": "crisis", "DOSING": "ask_dosing", "OUT_OF_SCOPE": "out_of_scope"}
# A match of NOT_<LABEL> (a figure of speech such as "dying of boredom") cancels the <LABEL>
# matches it overlaps; and when no <LABEL> pattern is left, it also overrules the classifier's own
# <LABEL> intent.
VETO_PREFIX = "NOT_"
# What a vetoed classifier-only prediction becomes: "did you mean" with the likely questions.
FALLBACK_INTENT = "nlu_fallback"
# A message that mentions an overdose, suicide or a seizure without one happening now (a crisis
# pattern vetoed as a look-alike, a MENTION pattern, or the classifier's crisis vetoed) gets this
# entity; components/footer_policy.py then adds one help line after its answer.
CRISIS_LABEL = "CRISIS"
MENTION_LABEL = "MENTION"
MENTION_ENTITY = "crisis_mention"
# Token attributes whose values are words; YAML reads an unquoted yes/no/on/off there as a boolean.
STRING_ATTRS = {"LOWER", "ORTH", "TEXT", "LEMMA", "NORM"}


Patterns = dict[str, list[list[dict[str, Any]]]]
Together = dict[str, list[list[str]]]

# The token extension the Spanish patterns match: the word lowercased, without accents or tildes.
FOLD_ATTR = "fold"


def fold(text: str) -> str:
    """'Está' -> 'esta', 'niño' -> 'nino': the form a Spanish pattern is written in."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def register_fold_extension() -> None:
    """Adds `Token._.fold` (idempotent); the Matcher reads it through `{"_": {"fold": ...}}`."""
    from spacy.tokens import Token

    if not Token.has_extension(FOLD_ATTR):
        Token.set_extension(FOLD_ATTR, getter=lambda token: fold(token.text))


def norm_rule(rule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A token pattern with its `{"_": {"fold": X}}` written as `{"NORM": X}` (see `set_fold_norms`)."""
    native = []
    for token in rule:
        extension = dict(token.get("_") or {})
        if FOLD_ATTR not in extension:
            native.append(token)
            continue
        if "NORM" in token:
            raise ValueError(f"a token pattern reads both NORM and _.fold: {token}")
        rest = {k: v for k, v in token.items() if k != "_"}
        value = extension.pop(FOLD_ATTR)
        native.append({**rest, "NORM": value, **({"_": extension} if extension else {})})
    return native


def set_fold_norms(doc: Any) -> None:
    """Sets each token's NORM to its fold, the form the Matcher reads for `_.fold` (`norm_rule`)."""
    for token in doc:
        token.norm_ = fold(token.text)


def build_matcher(vocab: Any, patterns: Patterns, native: bool = True, anchored: bool = True) -> Any:
    """A matcher of `patterns`, called like a spaCy Matcher; `native`: `_.fold` read from NORM (docs
    need `set_fold_norms`), else through the extension as written (the slower form, kept to check
    the two agree); `anchored` (with `native`): an `AnchoredMatcher`, else one spaCy Matcher."""
    from spacy.matcher import Matcher

    register_fold_extension()
    if native and anchored:
        return AnchoredMatcher(
            vocab, {label: [norm_rule(r) for r in rules] for label, rules in patterns.items()}
        )
    matcher = Matcher(vocab)
    for label, rules in patterns.items():
        matcher.add(label, [norm_rule(rule) for rule in rules] if native else rules)
    return matcher


# Token attributes an anchor can name, and how a token's word is read for each.
ANCHOR_WORDS: dict[str, Callable[[Any], str]] = {
    "LOWER": lambda token: token.lower_,
    "NORM": lambda token: token.norm_,
    "ORTH": lambda token: token.text,
    "TEXT": lambda token: token.text,
    "LEMMA": lambda token: token.lemma_,
}


def anchor(rule: list[dict[str, Any]]) -> tuple[str, frozenset[str]] | None:
    """(attribute, words): a token every match of `rule` has, read as one of these words; of the
    rule's required tokens (no OP, or "+") the one with the fewest words. None if no token is both
    required and a plain word or `IN` list (REGEX, NOT_IN, ENT_TYPE, ...)."""
    best: tuple[str, frozenset[str]] | None = None
    for token in rule:
        if token.get("OP") not in (None, "+"):
            continue
        for attr in ANCHOR_WORDS:
            value = token.get(attr)
            if isinstance(value, str):
                words = [value]
            elif isinstance(value, dict) and set(value) == {"IN"}:
                words = value["IN"]
            else:
                continue
            found = (attr, frozenset(str(word) for word in words))
            if best is None or len(found[1]) < len(best[1]):
                best = found
    return best


class AnchoredMatcher:
    """The same matches as one spaCy Matcher of all the patterns (a parity test in
    tests/test_components.py), in about a seventh of the time (`python -m benchmarks.matcher`):
    the patterns are grouped by their anchor (`anchor`), a Matcher per group, and a message runs
    only the groups one of whose words it has, besides the few patterns without an anchor."""

    def __init__(self, vocab: Any, patterns: Patterns) -> None:
        from spacy.matcher import Matcher

        grouped: dict[tuple[str, frozenset[str]], dict[str, list[Any]]] = {}
        self._unanchored = Matcher(vocab)
        for label, rules in patterns.items():
            for rule in rules:
                key = anchor(rule)
                if key is None:
                    self._unanchored.add(label, [rule])
                else:
                    grouped.setdefault(key, {}).setdefault(label, []).append(rule)
        self._groups: list[Any] = []
        self._index: dict[tuple[str, str], list[int]] = {}
        for (attr, words), by_label in grouped.items():
            matcher = Matcher(vocab)
            for label, rules in by_label.items():
                matcher.add(label, rules)
            for word in words:
                self._index.setdefault((attr, word), []).append(len(self._groups))
            self._groups.append(matcher)
        self._attrs = sorted({attr for attr, _ in self._index})

    def __call__(self, doc: Any) -> list[tuple[int, int, int]]:
        groups: set[int] = set()
        for token in doc:
            for attr in self._attrs:
                groups.update(self._index.get((attr, ANCHOR_WORDS[attr](token)), ()))
        matches = list(self._unanchored(doc))
        for group in sorted(groups):
            matches += self._groups[group](doc)
        # One Matcher reports a span once per label, however many of its patterns match it.
        return list(dict.fromkeys(matches))


def pattern_paths(config_value: str | list[str]) -> list[Path]:
    """The `patterns` setting: one file or a list of files."""
    return [Path(p) for p in ([config_value] if isinstance(config_value, str) else config_value)]


def load_pattern_files(paths: list[Path]) -> tuple[dict[str, list[Any]], dict[str, list[list[str]]]]:
    """Patterns and combinations of several files, each label's lists joined in file order."""
    patterns: dict[str, list[Any]] = {}
    together: dict[str, list[list[str]]] = {}
    for path in paths:
        file_patterns, file_together = read_pattern_file(path)
        for label, rules in file_patterns.items():
            patterns.setdefault(label, []).extend(rules)
        for label, entries in file_together.items():
            together.setdefault(label, []).extend(entries)
    return patterns, together


def read_pattern_file(path: Path) -> tuple[Patterns, Together]:
    """A pattern file's `patterns` and `together`, each checked; the file is parsed once (with
    libyaml: the pattern files took 3.7 s of a server's 11 s model load with PyYAML's own parser)."""
    data = read_yaml(path) or {}
    return check_patterns(path, data.get("patterns")), check_together(path, data)


def load_patterns(path: Path) -> Patterns:
    """Reads `{LABEL: [spaCy token pattern, ...]}` and checks its shape."""
    return read_pattern_file(path)[0]


def load_together(path: Path) -> Together:
    """Reads the optional `together: {LABEL: [[PART, PART, ...], ...]}` combinations."""
    return read_pattern_file(path)[1]


def check_patterns(path: Path, patterns: Any) -> Patterns:
    if not isinstance(patterns, dict) or not patterns:
        raise ValueError(f"{path}: expected a non-empty 'patterns' mapping of LABEL -> list")
    for label, rules in patterns.items():
        if not isinstance(rules, list) or not all(isinstance(r, list) and r for r in rules):
            raise ValueError(f"{path}: patterns.{label} must be a list of token patterns")
        for rule in rules:
            for token in rule:
                # Extension attributes ({"_": {"fold": ...}}) hold words as well.
                attrs = {**token, **{k: v for k, v in (token.get("_") or {}).items() if k == FOLD_ATTR}}
                for key, value in attrs.items():
                    if key not in STRING_ATTRS and key != FOLD_ATTR:
                        continue
                    words = value.get("IN", []) if isinstance(value, dict) else [value]
                    if not all(isinstance(w, str) for w in words):
                        # yes/no/on/off read as booleans, digits as numbers: spaCy would refuse them
                        raise ValueError(
                            f"{path}: patterns.{label} has a word YAML read as a non-string "
                            f"(yes/no/on/off, a number): quote it ({rule})"
                        )
    return patterns


def check_together(path: Path, data: dict[str, Any]) -> Together:
    together = data.get("together") or {}
    patterns = data.get("patterns") or {}
    for label, entries in together.items():
        for parts in entries:
            missing = [p for p in parts if p not in patterns]
            if not isinstance(parts, list) or not parts or missing:
                raise ValueError(f"{path}: together.{label} names labels without patterns: {parts}")
    return together


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
    is_trainable=True,
    model_from="SpacyNLP",
)
class SafetyNet(GraphComponent):
    """Overrides the predicted intent when a crisis or dosing pattern matches."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "patterns": ["content/safety_patterns.yml", "content/safety_patterns_es.yml"],
            "intents": DEFAULT_LABEL_INTENTS,
            # The second crisis detector's probability at or above which a message no crisis
            # pattern matched is a crisis anyway (unless a crisis veto matched: then it is a
            # mention), and at or above which it is a mention (the help line after the answer).
            "detector_threshold": 0.75,
            "detector_mention_threshold": 0.5,
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # The patterns files are outside the training data: retrain when one changes.
        return files_digest(pattern_paths(config.get("patterns", cls.get_default_config()["patterns"])))

    def __init__(
        self,
        config: dict[str, Any],
        patterns: dict[str, list[list[dict[str, Any]]]],
        model_storage: ModelStorage,
        resource: Resource,
        together: dict[str, list[list[str]]] | None = None,
    ) -> None:
        config = {**self.get_default_config(), **config}
        self._label_intents: dict[str, str] = dict(config["intents"])
        self._detector_threshold = float(config["detector_threshold"])
        self._detector_mention_threshold = float(config["detector_mention_threshold"])
        self._patterns = patterns
        self._together = together or {}
        self._model_storage = model_storage
        self._resource = resource
        self._matcher: Any = None
        self._matcher_vocab: Any = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyNet:
        patterns, together = load_pattern_files(pattern_paths(config["patterns"]))
        return cls(config, patterns, model_storage, resource, together)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SafetyNet:
        with model_storage.read_from(resource) as directory:
            patterns, together = read_pattern_file(directory / PATTERNS_FILE)
            return cls(config, patterns, model_storage, resource, together)

    def train(self, training_data: TrainingData, model: SpacyModel | None = None) -> Resource:
        unknown = set(self._label_intents.values()) - set(training_data.intents)
        if unknown:
            raise ValueError(f"SafetyNet forces intents missing from the NLU data: {sorted(unknown)}")
        with self._model_storage.write_to(self._resource) as directory:
            (directory / PATTERNS_FILE).write_text(
                yaml.safe_dump({"patterns": self._patterns, "together": self._together}), encoding="utf-8"
            )
        return self._resource

    def _matcher_for(self, vocab: Any) -> Any:
        if self._matcher is None or self._matcher_vocab is not vocab:
            self._matcher, self._matcher_vocab = build_matcher(vocab, self._patterns), vocab
        return self._matcher

    def matched_labels(self, doc: Any) -> list[str]:
        """Labels whose patterns match the doc, in priority order."""
        return self._match(doc)[0]

    def matched_and_vetoed(self, doc: Any) -> tuple[list[str], set[str]]:
        """(labels whose patterns match, in priority order; labels a veto pattern matched anywhere)."""
        labels, vetoed, _ = self._match(doc)
        return labels, vetoed

    def mentions_a_crisis(self, doc: Any) -> bool:
        """Whether the doc mentions an overdose, suicide or a seizure without one matching now."""
        return self._match(doc)[2]

    def _match(self, doc: Any) -> tuple[list[str], set[str], bool]:
        """(labels that match, in priority order; labels some veto pattern matched anywhere; whether
        the message mentions a crisis without one matching: a vetoed crisis match or a mention)."""
        matcher = self._matcher_for(doc.vocab)
        set_fold_norms(doc)
        matches = [(doc.vocab.strings[match_id], start, end) for match_id, start, end in matcher(doc)]
        vetoes = [
            (label[len(VETO_PREFIX) :], s, e) for label, s, e in matches if label.startswith(VETO_PREFIX)
        ]
        found = {
            label
            for label, start, end in matches
            if not any(v == label and start < v_end and v_start < end for v, v_start, v_end in vetoes)
        }
        found |= {
            label
            for label, entries in self._together.items()
            if any(all(part in found for part in parts) for parts in entries)
        }
        mentioned = MENTION_LABEL in found or any(label == CRISIS_LABEL for label, _, _ in matches)
        return (
            [label for label in self._label_intents if label in found],
            {v for v, _, _ in vetoes},
            mentioned and CRISIS_LABEL not in found,
        )

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            labels, vetoed, mentioned = self._match(doc)
            labels, mentioned = self._weigh_detector(message.get(DETECTOR_KEY), labels, vetoed, mentioned)
            if labels:
                self._force_intent(message, self._label_intents[labels[0]], labels[0])
            else:
                # The classifier alone said crisis, but the message asks about signs or tells of
                # the past ("what does an overdose look like", "I overdosed last year"): a veto
                # pattern says so, and no crisis pattern matched. Offer the likely questions instead.
                intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
                if intent and any(self._label_intents.get(label) == intent for label in vetoed):
                    self._demote(message, intent)
                    mentioned = mentioned or intent == self._label_intents.get(CRISIS_LABEL)
            if mentioned and (message.get(INTENT) or {}).get(INTENT_NAME_KEY) != self._crisis_intent:
                text = message.get(TEXT) or ""
                entity = {"entity": MENTION_ENTITY, "value": "yes", "start": 0, "end": len(text)}
                message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages

    def _weigh_detector(
        self, probability: float | None, labels: list[str], vetoed: set[str], mentioned: bool
    ) -> tuple[list[str], bool]:
        """The second detector's say where no crisis pattern matched: a crisis when it is sure and
        no look-alike veto matched (when unsure between an emergency and a mention, an emergency);
        a mention, which gets the help line after the answer, when it is less sure or vetoed."""
        if probability is None or CRISIS_LABEL in labels or CRISIS_LABEL not in self._label_intents:
            return labels, mentioned
        if probability >= self._detector_threshold and CRISIS_LABEL not in vetoed:
            logger.info("Safety net: the crisis detector is sure (%.2f), no pattern matched.", probability)
            return [CRISIS_LABEL, *labels], mentioned
        if probability >= self._detector_mention_threshold:
            return labels, True
        return labels, mentioned

    @property
    def _crisis_intent(self) -> str | None:
        return self._label_intents.get(CRISIS_LABEL)

    @staticmethod
    def _demote(message: Message, intent: str) -> None:
        logger.info(
            "Safety net: a %s look-alike; intent '%s' becomes '%s'.", VETO_PREFIX, intent, FALLBACK_INTENT
        )
        confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY, 0.0)
        put_first(message, FALLBACK_INTENT, confidence, dropping=intent)

    @staticmethod
    def _force_intent(message: Message, intent: str, label: str) -> None:
        previous = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if previous != intent:
            logger.info("Safety net: %s pattern overrides intent '%s' with '%s'.", label, previous, intent)
        put_first(message, intent, 1.0)


def put_first(message: Message, intent: str, confidence: float, dropping: str | None = None) -> None:
    """Makes `intent` the message's intent, first in its ranking; the rest of the ranking keeps its
    order, without `dropping` (an intent overruled)."""
    chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: confidence}
    ranking = [
        r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) not in {intent, dropping}
    ]
    message.set(INTENT, chosen, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)
