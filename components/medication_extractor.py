"""Turns the spaCy entity ruler's MEDICATION spans into `medication` entities with canonical values.

When the ruler finds no medication in a message, two more ways to recognise one:
- A word that is one typing slip from a one-word name of the catalogue (content/medications.yml),
  or two for words of nine letters or more, counts as that medication ("dizepam", "klonopn"): the
  catalogue lists common misspellings, but people invent new ones. Words under six letters are
  never guessed, and a word as close to two different medications is left alone.
- Words that voice typing split a name into ("clone a pin", "meth a done", "sub ox own",
  "die as a pam", "vivid trol", "lower as a pam") count as that medication when, joined, they are
  a catalogue name, or they sound like one (a Metaphone code, from the jellyfish library, of at
  least four letters that is the name's, or one sound from it when both have five or more) and
  are also within a third of its letters of it in typing slips (half, when five sounds or more are
  the name's: "low fex a dean" for lofexidine, "clone a dean" for clonidine). The last word has
  at least three letters, so that a name followed by a short word ("metadona y") or two everyday
  words ("feel so", "her own") are not taken for one. Where runs of words overlap ("is sub ox
  own"), the closest in letters wins.
"""

from __future__ import annotations

import functools
from typing import Any

import jellyfish
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
RULER_LABELS = {SPACY_LABEL, "NOT_MEDICATION"}
ENTITY = "medication"
SHORTEST_GUESS = 6  # letters
TWO_SLIPS_FROM = 9  # letters
SHORTEST_SOUND = 4  # letters of a Metaphone code
SHORTEST_JOINED = 5  # letters of words that, joined, are a catalogue name ("zan ax")
SPLIT_INTO = 4  # words at most


def typing_distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from a to b; limit + 1 once above limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, previous = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        before, previous = previous, row
    return previous[-1]


def one_word_names(nlp: Any) -> dict[str, str]:
    """The entity ruler's one-word MEDICATION names (lowercase) and their catalogue keys."""
    if "entity_ruler" not in nlp.pipe_names:
        return {}
    names = {}
    for pattern in nlp.get_pipe("entity_ruler").patterns:
        tokens = pattern.get("pattern")
        if pattern.get("label") == SPACY_LABEL and isinstance(tokens, list) and len(tokens) == 1:
            name = tokens[0].get("LOWER", "")
            if name.isalpha():
                names[name] = pattern["id"]
    return names


class Misspellings:
    """Finds the medication a word is a typing slip of, among the catalogue's one-word names."""

    CACHE_SIZE = 20_000  # words remembered with their answer (most words recur)

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self._by_length: dict[int, list[tuple[str, str, frozenset[str]]]] = {}
        for name, key in names.items():
            if len(name) >= SHORTEST_GUESS:
                self._by_length.setdefault(len(name), []).append((name, key, frozenset(name)))
        self._seen: dict[str, str | None] = {}

    def closest(self, word: str) -> str | None:
        """The catalogue key `word` is a typing slip of, if exactly one medication is closest."""
        if word in self._seen:
            return self._seen[word]
        key = self._closest(word)
        if len(self._seen) < self.CACHE_SIZE:
            self._seen[word] = key
        return key

    def _closest(self, word: str) -> str | None:
        if len(word) < SHORTEST_GUESS or not word.isalpha() or word in self._names:
            return None
        limit = 1 if len(word) < TWO_SLIPS_FROM else 2
        letters = set(word)
        best, keys = limit + 1, set()
        for length in range(len(word) - limit, len(word) + limit + 1):
            for name, key, name_letters in self._by_length.get(length, ()):
                # Each slip changes the set of letters by at most two: a cheap test first.
                if len(letters.symmetric_difference(name_letters)) > 2 * limit:
                    continue
                distance = typing_distance(word, name, limit)
                if distance < best:
                    best, keys = distance, {key}
                elif distance == best and distance <= limit:
                    keys.add(key)
        return next(iter(keys)) if len(keys) == 1 else None


def one_sound_less(code: str) -> set[str]:
    """The code itself and the code less each one of its sounds."""
    return {code} | {code[:i] + code[i + 1 :] for i in range(len(code))}


class SplitNames:
    """Finds the medication names that voice typing split into several words."""

    NEAR_SOUND = 5  # letters of both Metaphone codes before one sound may differ
    SLIPS = 1 / 3  # typing slips per letter of the name, at most
    LONG_SOUND = 5  # letters of a Metaphone code the words share with a name before they may be
    LONG_SOUND_SLIPS = 1 / 2  # this far from it in letters

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        # Metaphone code -> {catalogue key: its names with that code}
        self._by_sound: dict[str, dict[str, list[str]]] = {}
        for name, key in names.items():
            sound = jellyfish.metaphone(name)
            if len(sound) >= SHORTEST_SOUND:
                self._by_sound.setdefault(sound, {}).setdefault(key, []).append(name)
        # A code, and the code less any one sound -> the codes: two codes one sound apart share an
        # entry, so the codes near a sound are looked up, not searched for on every run of words.
        self._near: dict[str, set[str]] = {}
        for code in self._by_sound:
            for variant in one_sound_less(code):
                self._near.setdefault(variant, set()).add(code)

    def key(self, words: list[str]) -> str | None:
        """The catalogue key the words (lowercase, at least two) are a split name of, if any."""
        closest = self.closest(words)
        return None if closest is None else closest[1]

    def closest(self, words: list[str]) -> tuple[float, str, str] | None:
        """(typing slips per letter of the name, catalogue key, the name) of the one medication
        the words are a split name of; None for none, or for two equally close."""
        joined = "".join(words)
        if len(joined) >= SHORTEST_JOINED and joined in self._names:
            return 0.0, self._names[joined], joined
        if len(words[0]) < 2 or len(words[-1]) < 3 or not joined.isalpha():
            return None
        sound = jellyfish.metaphone(joined)
        if len(sound) < SHORTEST_SOUND:
            return None
        slips: dict[str, tuple[float, str]] = {}  # key -> (fewest slips per letter, its name)
        for code in {code for variant in one_sound_less(sound) for code in self._near.get(variant, ())}:
            if code != sound and (
                min(len(code), len(sound)) < self.NEAR_SOUND or typing_distance(sound, code, 1) > 1
            ):
                continue
            # Five sounds or more in common allow more typing slips: "low fex a dean" is
            # lofexidine's six sounds (LFKSTN) in five slips, "clone a dean" clonadine's five in four.
            long_same = code == sound and len(code) >= self.LONG_SOUND
            budget = self.LONG_SOUND_SLIPS if long_same else self.SLIPS
            for key, names in self._by_sound[code].items():
                for name in names:
                    limit = int(len(name) * budget)
                    distance = typing_distance(joined, name, limit)
                    if distance <= limit:
                        slips[key] = min(slips.get(key, (1.0, "")), (distance / len(name), name))
        ranked = sorted((share, key, name) for key, (share, name) in slips.items())
        if not ranked or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
            return None
        return ranked[0]

    def find(self, words: list[str]) -> list[tuple[int, int, str]]:
        """(first word, after the last word, catalogue key) of each split name, in word order.

        Every run of two to SPLIT_INTO words is tried; where runs overlap, the closest in letters
        wins; then a longer run around it of the same medication that is closer than it to the
        longer run's name ("bu pre nor fin" for buprenorphine, not the short name "bu pre"; but
        "meth a done", not "meth a done show")."""
        runs = []  # (slips per letter, -words, first, key, the name)
        for first in range(len(words)):
            for n in range(2, min(SPLIT_INTO, len(words) - first) + 1):
                closest = self.closest(words[first : first + n])
                if closest is not None:
                    share, key, name = closest
                    runs.append((share, -n, first, key, name))

        def spells_better(first: int, n: int, other: int, other_n: int, name: str) -> bool:
            joined = "".join(words[first : first + n])
            other_joined = "".join(words[other : other + other_n])
            limit = len(name) + len(joined) + len(other_joined)
            return typing_distance(joined, name, limit) < typing_distance(other_joined, name, limit)

        taken: set[int] = set()
        found = []
        for _, minus_n, first, key, _ in sorted(runs):
            if taken.intersection(range(first, first - minus_n)):
                continue
            n, first = max(
                (-m, f)
                for _, m, f, k, name in runs
                if k == key
                and f <= first
                and f - m >= first - minus_n
                and not taken.intersection(range(f, f - m))
                and ((m, f) == (minus_n, first) or spells_better(f, -m, first, -minus_n, name))
            )
            taken.update(range(first, first + n))
            found.append((first, first + n, key))
        return sorted(found)


def split_name_entities(
    doc: Any, ruled: set[int], split_names: SplitNames
) -> tuple[list[dict[str, Any]], set[int]]:
    """Entities of the split names among runs of words (letters only) the ruler did not take, and
    the indices of their tokens."""
    entities: list[dict[str, Any]] = []
    taken: set[int] = set()
    run: list[Any] = []
    for token in [*doc, None]:
        if token is not None and token.is_alpha and token.i not in ruled:
            run.append(token)
            continue
        for first, after, key in split_names.find([t.lower_ for t in run]) if len(run) > 1 else ():
            start, last = run[first], run[after - 1]
            entities.append(entity(key, start.idx, last.idx + len(last.text)))
            taken.update(t.i for t in run[first:after])
        run = []
    return entities, taken


def entity(value: str, start: int, end: int) -> dict[str, Any]:
    return {"entity": ENTITY, "value": value, "start": start, "end": end, "confidence": 1.0}


@functools.cache
def context_medications() -> frozenset[str]:
    """Keys of the medicines people name as what they use, not what they ask about
    (content.CONTEXT_COLUMNS): the opioids and heroin of content/medications.yml."""
    from content import CONTEXT_COLUMNS, load_content

    medications = load_content().medications
    return frozenset(key for key, m in medications.items() if m.column in CONTEXT_COLUMNS)


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

    def __init__(self) -> None:
        # per spaCy pipeline (id)
        self._guessers: dict[int, tuple[Misspellings, SplitNames]] = {}

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        guessers = self._guessers.get(id(model.model))
        if guessers is None:
            names = one_word_names(model.model)
            guessers = Misspellings(names), SplitNames(names)
            self._guessers[id(model.model)] = guessers
        misspellings, split_names = guessers
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:  # e.g. an empty text
                continue
            found = [
                entity(ent.ent_id_ or ent.text.lower(), ent.start_char, ent.end_char)
                for ent in doc.ents
                if ent.label_ == SPACY_LABEL
            ]
            # Split names among the words the ruler did not take, beside the names it found: "is
            # meth a done a good option for getting off fent" names methadone too (voice typing
            # splits the treatment medicine and leaves the street name whole). A misspelt name is
            # guessed only when no name was found: a guess beside a name is more often a word.
            ruled = {token.i for ent in doc.ents if ent.label_ in RULER_LABELS for token in ent}
            guessed, taken = split_name_entities(doc, ruled, split_names)
            if not found:
                skip = ruled | taken
                for token in doc:
                    key = None if token.i in skip else misspellings.closest(token.lower_)
                    if key is not None:
                        guessed.append(entity(key, token.idx, token.idx + len(token.text)))
            # The opioids someone uses first, then the rest in the order said: Rasa fills the
            # `medication` slot with the last one, so "my husband takes clonidine to stop heroin"
            # followed by "is it dangerous for him?" is about clonidine.
            context = context_medications()
            found = sorted(found + guessed, key=lambda e: (e["value"] not in context, e["start"]))
            if found:
                message.set(
                    ENTITIES,
                    message.get(ENTITIES, []) + self.add_extractor_name(found),
                    add_to_output=True,
                )
        return messages
