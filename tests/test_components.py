"""The spaCy pipeline built from content/, the medication extractor and the safety net."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.medication_extractor import (
    MedicationEntityExtractor,
    Misspellings,
    SplitNames,
    typing_distance,
)
from components.safety_net import load_patterns, load_together
from components.second_opinion import SecondOpinionClassifier
from scripts.evaluate import SAFETY_SETS

ROOT = Path(__file__).resolve().parent.parent
SAFETY = yaml.safe_load((ROOT / "tests" / "safety_phrases.yml").read_text(encoding="utf-8"))
SAFETY_ES = yaml.safe_load((ROOT / "tests" / "safety_phrases_es.yml").read_text(encoding="utf-8"))


def message(text: str, model: SpacyModel, intent: str = "ask_med_helps") -> Message:
    msg = Message(data={TEXT: text})
    # As SpacyNLP does: the doc is made from the lowercased text.
    msg.set(SPACY_DOCS[TEXT], model.model(text.lower()))
    msg.set(INTENT, {"name": intent, "confidence": 0.9})
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": 0.9}])
    return msg


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Does VALIUM help with withdrawals?", ["valium"]),
        ("what about k-pins", ["klonopin"]),
        ("are bars worse than vals", ["xanax", "valium"]),
        ("can i take subs with ms contin", ["morphine", "buprenorphine"]),
        ("Vivitrol shot", ["naltrexone"]),
        ("i'm so dope sick", []),
        ("what is a benzo", ["benzodiazepines"]),
        ("nothing to see here", []),
    ],
)
def test_medication_entities_are_canonical(spacy_model, text, values):
    msg = message(text, spacy_model)
    MedicationEntityExtractor().process([msg], spacy_model)
    entities = msg.get(ENTITIES, [])
    assert [e["value"] for e in entities] == values
    assert all(e["entity"] == "medication" for e in entities)
    for e in entities:
        assert text[e["start"] : e["end"]].lower() in text.lower()


def test_every_catalogue_name_is_recognised(spacy_model):
    catalogue = yaml.safe_load((ROOT / "content" / "medications.yml").read_text(encoding="utf-8"))
    for med in catalogue["medications"]:
        for name in med["names"]:
            msg = message(f"what about {name} ?", spacy_model)
            MedicationEntityExtractor().process([msg], spacy_model)
            assert [e["value"] for e in msg.get(ENTITIES, [])] == [med["key"]], name


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("would diazepm help me", ["valium"]),  # a letter left out
        ("is klonopinn ok for sleep", ["klonopin"]),  # one too many
        ("does methadome work", ["methadone"]),  # one wrong
        ("what about suboxnoe", ["buprenorphine"]),  # two swapped
        ("is buprenorphnie safer", ["buprenorphine"]),  # long name: two slips allowed
        ("what methods work for withdrawal", []),  # an English word, not close enough
        ("valuable advice please", []),
        ("can i mix valium and methadome", ["valium"]),  # the ruler found one: no guessing
        ("klonopn", ["klonopin"]),
    ],
)
def test_a_misspelt_medication_is_recognised(spacy_model, text, values):
    msg = message(text, spacy_model)
    MedicationEntityExtractor().process([msg], spacy_model)
    entities = msg.get(ENTITIES, [])
    assert [e["value"] for e in entities] == values
    for e in entities:
        assert " " not in text[e["start"] : e["end"]] and text[e["start"] : e["end"]]


def test_typing_slips_are_counted_and_ties_are_not_guessed():
    assert typing_distance("diazepam", "diazepam", 1) == 0
    assert typing_distance("diazpeam", "diazepam", 1) == 1  # a swap is one slip
    assert typing_distance("dizpam", "diazepam", 1) == 2  # over the limit: limit + 1
    assert Misspellings({"valium": "valium"}).closest("valiumm") == "valium"
    assert Misspellings({"pins": "klonopin"}).closest("pinss") is None  # short words are never guessed
    assert Misspellings({"medicina": "a", "medicino": "b"}).closest("medicine") is None  # a tie
    assert Misspellings({"medicina": "a", "medicino": "a"}).closest("medicine") == "a"


@pytest.mark.parametrize(
    ("text", "values", "spans"),
    [
        ("is clone a pin ok to take", ["klonopin"], ["clone a pin"]),
        ("what does nal trex own do", ["naltrexone"], ["nal trex own"]),
        ("can you tell me about sub ox own", ["buprenorphine"], ["sub ox own"]),
        ("when does meth a done wear off", ["methadone"], ["meth a done"]),
        ("die as a pam for sleep", ["valium"], ["die as a pam"]),
        ("clone a deen for the sweats", ["clonidine"], ["clone a deen"]),
        ("Val ium at night?", ["valium"], ["Val ium"]),  # joined, a catalogue name
        ("are zan ax strong", ["xanax"], ["zan ax"]),
        ("meth a done or sub ox own", ["methadone", "buprenorphine"], ["meth a done", "sub ox own"]),
        # Everyday words that sound like a name, or a name followed by a short word: left alone.
        ("i feel so tired", [], []),
        ("she tried to stop on her own", [], []),
        ("they put my dad on a waiting list", [], []),
        ("estaba metido en la chiva", ["heroin"], ["chiva"]),  # "metido en" is not methadone
        # Beside a name the ruler found: the split name too (a misspelt one is not guessed there).
        ("valium or clone a pin", ["valium", "klonopin"], ["valium", "clone a pin"]),
        # the opioid someone uses first (the `medication` slot keeps the last one)
        ("is meth a done ok for getting off fent", ["fentanyl", "methadone"], ["fent", "meth a done"]),
    ],
)
def test_a_name_voice_typing_split_into_words_is_recognised(spacy_model, text, values, spans):
    msg = message(text, spacy_model)
    MedicationEntityExtractor().process([msg], spacy_model)
    entities = msg.get(ENTITIES, [])
    assert [e["value"] for e in entities] == values
    assert [text[e["start"] : e["end"]] for e in entities] == spans


def test_the_opioid_someone_uses_comes_before_the_medicine_asked_about(spacy_model):
    """Rasa fills the `medication` slot with the last medication entity: listing the opioids of
    content.CONTEXT_COLUMNS first keeps the treatment medicine there for the follow-up ("my husband
    takes clonidine to stop heroin" then "is it dangerous for him?"), in text order otherwise."""
    for text, values in [
        ("my husband takes clonidine to stop heroin", ["heroin", "clonidine"]),
        ("does valium help with withdrawal from oxy and fent", ["oxycodone", "fentanyl", "valium"]),
        ("valium or klonopin", ["valium", "klonopin"]),
    ]:
        msg = message(text, spacy_model)
        MedicationEntityExtractor().process([msg], spacy_model)
        assert [e["value"] for e in msg.get(ENTITIES, [])] == values, text


def test_split_names_sound_alike_and_are_close_in_letters():
    names = SplitNames(
        {"klonopin": "klonopin", "klonapin": "klonopin", "methadone": "methadone", "vals": "valium"}
    )
    assert names.key(["clone", "a", "pin"]) == "klonopin"  # KLNPN, two slips from klonapin
    assert names.key(["meth", "a", "done"]) == "methadone"  # joined: the name itself
    # KLNPN, three slips: five sounds in common allow half of its 8 letters
    assert names.key(["clone", "a", "pine"]) == "klonopin"
    assert names.key(["clone", "a", "pinata"]) is None  # KLNPNT: not the same sounds, over a third
    assert names.key(["va", "ls"]) is None  # a joined name under five letters
    assert names.find(["is", "clone", "a", "pin", "ok"]) == [(1, 4, "klonopin")]


def test_split_names_five_sounds_in_common_allow_half_the_letters_in_slips():
    names = SplitNames(
        {
            "lofexidine": "lofexidine",
            "clonadine": "clonidine",  # a misspelling the catalogue lists
            "heroin": "heroin",
            "methadone": "methadone",
        }
    )
    assert names.key(["low", "fex", "a", "dean"]) == "lofexidine"  # LFKSTN, five slips of ten
    assert names.key(["clone", "a", "dean"]) == "clonidine"  # KLNTN, four slips from clonadine
    assert names.key(["low", "fax", "a", "dinner"]) is None  # LFKSTNR: not the same sounds
    assert names.key(["me", "da", "tan"]) is None  # MTTN: four sounds, a third of the letters
    assert names.key(["her", "own"]) is None  # HRN: under four sounds


def test_split_names_one_sound_apart_and_the_closest_of_overlapping_runs():
    names = SplitNames(
        {
            "vivitrol": "naltrexone",
            "lorazapam": "ativan",  # a misspelling the catalogue lists
            "suboxone": "buprenorphine",
            "bupre": "buprenorphine",
            "buprenorphine": "buprenorphine",
            "methadone": "methadone",
            "methadones": "methadone",
        }
    )
    # FFTTRL against FFTRL: one sound apart, one typing slip from the name
    assert names.key(["vivid", "trol"]) == "naltrexone"
    assert names.key(["lower", "as", "a", "pam"]) == "ativan"  # LWRSPM against LRSPM, 3 slips
    assert names.key(["vivid", "dreams"]) is None
    # "is sub ox own" would also do, but "sub ox own" is closer to suboxone
    assert names.find(["is", "sub", "ox", "own", "ok"]) == [(1, 4, "buprenorphine")]
    # the short name "bupre" is exact, but the whole run spells buprenorphine better
    assert names.find(["bu", "pre", "nor", "fin"]) == [(0, 4, "buprenorphine")]
    # "meth a done" is the name itself; "meth a done show" is not closer to "methadones"
    assert names.find(["meth", "a", "done", "show", "up"]) == [(0, 3, "methadone")]


@pytest.mark.parametrize("text", SAFETY["crisis"])
def test_crisis_patterns_catch_every_crisis_phrase(spacy_model, safety_net, text):
    msg = message(text, spacy_model, intent="ask_withdrawal_symptoms")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 1.0}
    assert msg.get(INTENT_RANKING_KEY)[0]["name"] == "crisis"
    assert msg.get(INTENT_RANKING_KEY)[1]["name"] == "ask_withdrawal_symptoms"


@pytest.mark.parametrize("text", SAFETY["not_crisis"])
def test_crisis_patterns_leave_questions_about_risk_alone(spacy_model, safety_net, text):
    assert "CRISIS" not in safety_net.matched_labels(spacy_model.model(text.lower()))


@pytest.mark.parametrize("text", SAFETY_ES["crisis"])
def test_spanish_crisis_patterns_catch_every_spanish_crisis_phrase(spacy_model, safety_net, text):
    msg = message(text, spacy_model, intent="ask_withdrawal_symptoms")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 1.0}


@pytest.mark.parametrize("text", SAFETY_ES["not_crisis"])
def test_spanish_questions_and_figures_of_speech_are_not_a_crisis(spacy_model, safety_net, text):
    assert "CRISIS" not in safety_net.matched_labels(spacy_model.model(text.lower()))


@pytest.mark.parametrize("text", SAFETY_ES["dosing"])
def test_spanish_dosing_patterns(spacy_model, safety_net, text):
    labels = safety_net.matched_labels(spacy_model.model(text.lower()))
    assert labels and labels[0] in {"CRISIS", "DOSING"}


@pytest.mark.parametrize("text", SAFETY_ES["not_dosing"])
def test_spanish_dosing_patterns_leave_look_alikes_alone(spacy_model, safety_net, text):
    assert safety_net.matched_labels(spacy_model.model(text.lower())) == []


@pytest.mark.parametrize(("typed", "plain"), [("ESTÁ", "esta"), ("niño", "nino"), ("pingüino", "pinguino")])
def test_spanish_patterns_match_with_and_without_accents(spacy_model, safety_net, typed, plain):
    from components.safety_net import fold

    assert fold(typed) == plain
    with_accents = safety_net.matched_labels(spacy_model.model("mi niño está inconsciente"))
    without = safety_net.matched_labels(spacy_model.model("mi nino esta inconsciente"))
    assert with_accents == without == ["CRISIS"]


def test_a_spanish_word_yaml_reads_as_a_boolean_is_reported(tmp_path):
    path = tmp_path / "patterns.yml"
    path.write_text("patterns:\n  CRISIS:\n    - [{_: {fold: {IN: [no, respira]}}}]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="quote it"):
        load_patterns(path)


# An overdose in progress is often told by how it feels, not by the word "overdose" (issue 9).
OVERDOSE_IN_EVERYDAY_WORDS = [
    "i mixed xanax with fentanyl and feel like i'm going to pass out",
    "took bars and a perc, now i feel like im gonna pass out",
    "i cant keep my eyes open after taking my klonopin and oxy",
    "he can't stay awake, keeps nodding off",
    "my chest is so tight and i did fent an hour ago",
    "my breathing feels weird after i mixed benzos and dope",
    "i feel like my heart is slowing down",
    "she keeps passing out",
    "he's slumped over in the car and wont answer",
    "her skin is cold and clammy",
    "i took xanax and heroin and now i feel really weird and sleepy",
    "did fent and bars, feeling so heavy and dizzy",
    "cant catch my breath after mixing klonopin with my pain pills",
    "my dad is gurgling",
    "she is limp and wont respond",
    "i drank and took klonopin and now i feel really out of it",
    "what do i do if someone is not breathing",
    "my cousin is gasping for air",
    "his eyes are rolled back and he is grey",
    "i'm going to take every pill i have left",
    "no one would even notice if i was gone",
    "i dont want to go on anymore",
    "he keeps stopping breathing for a few seconds",
    "my girlfriend quits breathing every little while after her pills",
    "i don't want to be here anymore, i'm going to take all my pills",
    # found by the typos set: plans told by what will be swallowed, farewell notes, hopelessness,
    # "stop my heart"
    "i'm going to swallow the whole packet tonight",
    "gonna take all my klonopin at once and be done",
    "i've written my goodbye notes",
    "honestly i don't see the point anymore",
    "how much klonopin would it take to stop my heart",
    "my chest feels like it's being crushed after the fent",
    "she only takes a breath once every few seconds",
    "he's making gurgling noises on the couch",
    "i can't get her to wake, she nodded out an hour ago",
    "he won't open his eyes",
    "she won't answer me and she's cold",
    "he downed all of his klonopin",
    "i took every xanax in the bottle",
    "his pulse keeps dropping, we mixed bars and dope",
    "i can't hear him breathing",
    "been trying to wake her for ten minutes",
    "my wife is convulsing on the floor",
    "my roommate looks purple",
    "he did fent and now he's really hard to wake",
    "sounds like she's gurgling",
    "he's out cold after the pills",
    "can barely keep my head up after the vals",
    "you didnt answer, my friend wont wake up",
    # found by the traffic set: a suicide method or its means at hand, a seizure described, sedation
    "im going to hang myself tonight",
    "standing on the roof thinking about jumping off the building",
    "gonna walk in front of a train when this is over",
    "got the gun loaded and ready",
    "there's a noose in my closet",
    "my boyfriend is jerking and foaming, what do i do",
    "spit coming out of her mouth and she's shaking all over",
    "took bars on top of my dope and now im nodding out hard",
    "can't stop passing out",
    "i did two bags and some kpins, every breath takes so much effort",
    # found by the medicines set: breaths counted, someone who will not come round, no response
    "he's only breathing once every few seconds",
    "she breathes like every 15 seconds and it sounds wrong",
    "my dad wont come to, he took his pills with beer",
    "he hasnt woken up since last night and he took bars",
    "i think my boyfriend is dying please help",
    "i slapped her and called her name and nothing",
    "he took percs and now he just lies there",
    "took 3 kpins with my methadone and i feel so far away",
    "mixed xanax and dope, feel like im about to pass out",
    "took his klonopin and oxy and his pulse is 38",
    # found by the context set: someone shaking that will not stop (a seizure, e.g. after stopping a
    # benzo), a whole supply taken at once, done with living, pills lined up
    "my brother is twitching and it won't stop after he mixed bars and dope",
    "she's convulsing uncontrollably on the couch",
    "he took his entire week of take-homes at once",
    "i swallowed my whole supply of klonopin",
    "im tired of living like this",
    "honestly i'm just done living",
    "got my pills all lined up on the desk",
    # a look-alike veto never cancels a crisis it does not name ("a guy" is not "someone")
    "he is not breathing, i thought suboxone would protect him from overdosing",
    "can someone check if a guy here is not breathing",
]
OVERDOSE_LOOK_ALIKES = [
    "can mixing xanax and fentanyl make you pass out?",
    "how do i know if someone is overdosing",
    "i overdosed last year and now im scared to use again",
    "my brother died of an overdose in 2019, how do i stay in recovery",
    "so tired from wds, is that normal",
    "does valium make you sleepy",
    "my heart is racing during wds, is that normal",
    "what happens if you mix valium and oxycodone",
    "what are the signs of an od",
    "is it true you can od just by touching fentanyl",
    "i had a seizure once coming off xanax years ago",
    "i used to want to die when i was using, now i'm better",
    "should i take my pills every night",
    "what does a heroin overdose look like",
    "i don't want to go to a clinic, what else is there",
    "dont wanna go see a doctor about my kpins, is that bad",
    "my son doesnt want to go into rehab, what are his options",
    "what do i do if my roommate ever stops breathing after using",
    "i don't see the point of taking clonidine",
    "can benzos and opioids together stop your breathing",
    "should i take all my suboxone in the morning",
    "how many breaths a minute is normal when sleeping",
    "i can't open my eyes in the morning, is that withdrawal",
    "that doesn't answer my question",
    "you didn't answer the question",
    "nah u didnt answer nothing",
    "you still didnt answer what i asked",
    "it doesnt answer anything",
    "it's hard to wake up in the morning since i quit",
    "my legs keep twitching and jerking at night in withdrawal",
    "i've been feeling blue since i stopped",
    "my heart is racing, is that normal in withdrawal",
    "i took all my suboxone doses this week",
    "still learning the ropes of recovery",
    "i used to nod out all the time before i got clean",
    "nodding off in class from no sleep, is that wds",
    "i jumped off the couch when my phone rang",
    "my legs are jerking and twitching all night",
    "does kicking make your breathing slow",
    # signs and meanings asked about, fear of what may happen, past events, figures of speech
    "what are the signs someone is overdosing on fent",
    "do grey lips mean an od or just cold",
    "how could you tell if a person was od'ing or just sleeping",
    "im worried about overdosing when i get out of jail",
    "why are overdose deaths going up in my state",
    "my uncle stopped breathing at a party years ago and they saved him",
    "last christmas my sister od'd and survived, how do i talk to her about it",
    "she didn't wake up right away, she's okay now but it scared me",
    "i used to think about dying a lot when i was on pills",
    "not suicidal at all, just tired of feeling sick",
    "cant stay awake in class since i started detox",
    "my chest is sore from coughing all night in withdrawal",
    "this withdrawal is killing me",
    "dead tired every afternoon on day 3",
    "the anxiety makes me feel like im dying inside",
    "where do i pick up naloxone near me",
    "what does naloxone even do",
    "what should i do if my brother overdoses in the future",
    # shaking in withdrawal, a supply taken somewhere, tired of being sick
    "im shaking all over and it wont stop, is that normal in wds",
    "my son is shaking from withdrawal, is that normal",
    "im so tired of being sick all the time",
    "sick of being dopesick every morning",
    "she took her whole week off to help me detox",
    # breathing asked about, prevention, fear of what a mix may do
    "how can you tell if someone's breathing is too shallow after using",
    "can methadone protect me from an overdose",
    "afraid of not breathing in my sleep if i mix my meds",
]


@pytest.mark.parametrize("text", OVERDOSE_IN_EVERYDAY_WORDS)
def test_overdose_described_by_how_it_feels_is_a_crisis(spacy_model, safety_net, text):
    assert safety_net.matched_labels(spacy_model.model(text.lower()))[:1] == ["CRISIS"]


@pytest.mark.parametrize("text", OVERDOSE_LOOK_ALIKES)
def test_questions_and_past_events_are_not_a_crisis(spacy_model, safety_net, text):
    assert "CRISIS" not in safety_net.matched_labels(spacy_model.model(text.lower()))


def test_parts_of_a_combination_force_nothing_alone(spacy_model, safety_net):
    used_only = spacy_model.model("i took my klonopin this morning")
    feeling_only = spacy_model.model("i feel dizzy")
    assert safety_net.matched_labels(used_only) == []
    assert safety_net.matched_labels(feeling_only) == []
    assert safety_net.matched_labels(spacy_model.model("i took my klonopin and feel dizzy")) == ["CRISIS"]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # a reduction per day or week is a taper schedule: no number, a clinician decides
        ("can i cut my kpins in half each day", ["DOSING"]),
        ("how should i wean off, lowering my subs a bit every week", ["DOSING"]),
        ("cutting down a little every day on my own, does that work", []),
        ("how fast would you taper subs", ["DOSING"]),
        ("i cut back on coffee since i quit", []),
        ("i take my suboxone every morning", []),
    ],
)
def test_a_reduction_per_day_or_week_is_a_dosing_question(spacy_model, safety_net, text, labels):
    assert safety_net.matched_labels(spacy_model.model(text.lower())) == labels


def test_combination_of_unknown_labels_is_refused(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns:\n  A: [[{LOWER: a}]]\ntogether:\n  CRISIS: [[A, B]]\n")
    with pytest.raises(ValueError, match="without patterns"):
        load_together(bad)


@pytest.mark.parametrize("text", SAFETY["out_of_scope"])
def test_questions_outside_the_sources_are_routed_to_help(spacy_model, safety_net, text):
    msg = message(text, spacy_model, intent="ask_med_helps")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "out_of_scope", "confidence": 1.0}


@pytest.mark.parametrize("text", SAFETY["not_out_of_scope"])
def test_self_medication_and_treatment_questions_are_not_out_of_scope(spacy_model, safety_net, text):
    assert "OUT_OF_SCOPE" not in safety_net.matched_labels(spacy_model.model(text.lower()))


@pytest.mark.parametrize("text", SAFETY["dosing"])
def test_dosing_patterns(spacy_model, safety_net, text):
    labels = safety_net.matched_labels(spacy_model.model(text.lower()))
    assert labels and labels[0] in {"CRISIS", "DOSING"}


@pytest.mark.parametrize("text", SAFETY["not_dosing"])
def test_dosing_patterns_leave_look_alikes_alone(spacy_model, safety_net, text):
    assert safety_net.matched_labels(spacy_model.model(text.lower())) == []


@pytest.mark.parametrize(("name", "path", "key", "_"), SAFETY_SETS, ids=[s[0] for s in SAFETY_SETS])
def test_the_patterns_alone_catch_every_held_out_crisis(spacy_model, safety_net, name, path, key, _):
    # The classifier catches some crises too, but a retrained classifier can lose them: the
    # patterns must not depend on it (a model trained on more data once lost four).
    texts = yaml.safe_load(path.read_text(encoding="utf-8"))[key]
    missed = [t for t in texts if safety_net.matched_labels(spacy_model.model(t.lower()))[:1] != ["CRISIS"]]
    assert len(missed) <= PATTERNS_NOT_YET_WRITTEN.get(name, 0), missed


# Final sets measured once, whose crises no pattern was written for yet (docs/evaluation.md): what
# the patterns alone missed on them (the classifiers and the crisis detector caught some).
PATTERNS_NOT_YET_WRITTEN: dict[str, int] = {}


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        # indirect intent: a note said as written, the children entrusted after a sorry, nobody left
        # to worry after tonight, a whole bottle and tonight; an emergency called in Spanish
        ("ive finished my note", ["CRISIS"]),
        ("sorry mom. look after my dog for me", ["CRISIS"]),
        ("nobody will have to deal with me after tonight", ["CRISIS"]),
        ("got the whole bottle of oxys, taking them all tonight", ["CRISIS"]),
        ("my 2 year old chewed a blister of my klonopin", ["CRISIS"]),
        ("sobredosis! socorro", ["CRISIS"]),
        ("envien una ambulancia por favor", ["CRISIS"]),
        ("perdoname mama, cuida a mis hijos", ["CRISIS"]),
        ("para que seguir, tengo todas las pastillas", ["CRISIS"]),
        # the same words about something else
        ("i wrote my note to the doctor about my taper, does klonopin help?", []),
        ("is overdose possible on suboxone alone?", []),
        ("my nose is stuffed, im breathing through my mouth all night, is that withdrawal", []),
        ("wrote a farewell letter to dope in group, is that normal in therapy", []),
        ("i wont be around tomorrow, traveling for work, can i bring my subs?", []),
        ("today is my last day of using, what detox should i do", []),
        ("my son swallowed one of my pills 3 years ago, how do i lock them up now?", []),
        ("mi vecino me conto que su hermano intento matarse, el rivotril da depresion?", []),
        ("desde mi intento de suicidio voy a terapia, sirve la terapia para la adiccion?", []),
        # asking for amounts, frequency, strength; amounts told, not asked for
        ("how much can my grandpa safely take of his valium", ["DOSING"]),
        ("how often can you redose subs", ["DOSING"]),
        ("which strength klonopin should i ask for", ["DOSING"]),
        ("cuanto cada noche de clonazepam", ["DOSING"]),
        ("puedo partir el rivotril a la mitad para ir bajando", ["DOSING"]),
        ("estoy en 60 mg de metadona, que pasa si la dejo", []),
        # a fentanyl patch licked, the medicine cabinet, an overdose planned, a wish to be dead with a
        # way to do it, someone who cannot be got up; "me voy a pegar un tiro", no reason to live
        ("she licked a used fentanyl patch", ["CRISIS"]),
        ("he took every pill in the medicine cabinet", ["CRISIS"]),
        ("im planning to od tonight", ["CRISIS"]),
        ("honestly i'd rather be dead and i have a way to do it", ["CRISIS"]),
        ("cant get her up, she did a blue", ["CRISIS"]),
        ("me voy a pegar un tiro", ["CRISIS"]),
        ("no hay ninguna razon para vivir", ["CRISIS"]),
        ("mi nena se ha tragado unas pastillas", ["CRISIS"]),
        # away for rehab, a goodbye to an old self, what if someone took too much, withdrawal that
        # feels like dying asked about, not wanting to die like someone did, a denial
        ("i won't be around for two weeks, going to rehab. what is detox like?", []),
        ("said goodbye to my old self when i started subs, do they help?", []),
        ("if someone took too much xanax would it be an overdose?", []),
        ("quitting dope feels like im dying, is that normal", []),
        ("i dont want to die like my brother did, where do i find help", []),
        ("i dont want to kill myself or anything, i just want to sleep", []),
        ("mi papa dice que si sigo asi me voy a morir, es verdad?", []),
        ("que le pasa a una persona que tiene una sobredosis de xanax", []),
        ("hoy es mi ultimo dia consumiendo, que hago", []),
        # amounts asked for a new way; not a recipe for rice
        ("should i go down 10 percent a week on my klonopin", ["DOSING"]),
        ("cual es la dosis correcta de rivotril", ["DOSING"]),
        ("how much water should i drink a day", []),
        ("dame una receta de arroz con pollo", []),
        # the wait between two takes; street prices "these days"; a job lost over treatment
        ("cuanto hay que esperar entre una toma de clonazepam y la siguiente", ["DOSING"]),
        ("cuánto espero entre dosis de metadona", ["DOSING"]),
        ("entre una cosa y otra no he dormido nada", []),
        ("what are bars going for around here", ["OUT_OF_SCOPE"]),
        ("will i get fired for being on suboxone", ["OUT_OF_SCOPE"]),
        ("ok i'll go for now, thanks", []),
        ("my brother got fired for using, how do i help him", []),
        # emergencies of the eighth and twelfth sets' kinds, and their look-alikes
        ("my wife is having a seizure happening right now", ["CRISIS"]),
        ("my dad is having a sees your on the kitchen floor", ["CRISIS"]),
        ("sitting in the truck with the motor running inside the garage", ["CRISIS"]),
        ("i took everything and i don't care if i wake up", ["CRISIS"]),
        ("my 2 year old was in my purse and two of my pills are missing", ["CRISIS"]),
        ("my 18 month old swallowed something from the nightstand and won't stay awake", ["CRISIS"]),
        ("ive been stashing my oxys for a month and i finally have enough", ["CRISIS"]),
        ("sorry to my kids. i tried so hard", ["CRISIS"]),
        ("we gave her narcan and she's still not breathing", ["CRISIS"]),
        ("se puso a convulsionar en el baño", ["CRISIS"]),
        ("lleva 15 minutos sin responder, le grito y nada", ["CRISIS"]),
        ("mejor me quito de en medio", ["CRISIS"]),
        ("i tried to kill myself when i was a teenager, how do i stay clean now", []),
        ("scared of relapsing and overdosing, what helps people stay clean", []),
        ("i'm writing an essay on overdoses for school, what is fentanyl", []),
        ("that workout was a suicide mission lol", []),
        ("overdosed on espresso this morning, anyway how long does withdrawal last", []),
        ("a girl i went to school with overdosed, how does fentanyl work", []),
        ("se me ponen los labios azules si hace frío", []),
        ("vi una película sobre el suicidio, ¿hay grupos de apoyo?", []),
        # dosing and out of scope of the same sets
        ("hw mny clonidine pills for sleep", ["DOSING"]),
        ("how many of these do i need to feel ok", ["DOSING"]),
        ("how many meetings do i need to go to", []),
        ("klonopin dose?", ["DOSING"]),
        ("si me tomo uno de 2 y otro de 5 es mucho?", ["DOSING"]),
        ("mi doctor me dio 1 mg, puedo subirla a 2?", ["DOSING"]),
        ("me recetaron 20 pastillas después de la cirugía, qué es la tolerancia?", []),
        ("who's selling subs near me", ["OUT_OF_SCOPE"]),
        ("can i sue my pharmacy for this", ["OUT_OF_SCOPE"]),
        ("how much does a detox stay cost", ["OUT_OF_SCOPE"]),
        ("can i carry my klonopin to canada", ["OUT_OF_SCOPE"]),
        ("converting my subs dose to methadone, how", ["DOSING"]),
    ],
)
def test_indirect_intent_and_their_look_alikes(spacy_model, safety_net, text, labels):
    assert safety_net.matched_labels(spacy_model.model(text.lower()))[:1] == labels


def test_no_training_example_of_another_intent_is_forced_to_crisis_or_dosing(spacy_model, safety_net):
    # An example the patterns force is a message the assistant would answer with the emergency or
    # the no-dose reply although the data says it means something else.
    from rasa.shared.nlu.training_data.loading import load_data

    forced = {"CRISIS": "crisis", "DOSING": "ask_dosing", "OUT_OF_SCOPE": "out_of_scope"}
    wrong = [
        (m.get("intent"), m.get("text"), labels[0])
        for m in load_data(str(ROOT / "data" / "nlu")).intent_examples
        if (labels := safety_net.matched_labels(spacy_model.model(m.get("text").lower())))
        and forced[labels[0]] != m.get("intent")
    ]
    assert wrong == []


def test_an_ordinal_before_a_medicine_is_not_a_dose(spacy_model, safety_net):
    assert safety_net.matched_labels(spacy_model.model("why did the first percocet feel so good")) == []
    assert safety_net.matched_labels(spacy_model.model("can i take 2 valium")) == ["DOSING"]


def test_crisis_wins_over_dosing(spacy_model, safety_net):
    msg = message("how many mg of xanax would kill me", spacy_model)
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == "crisis"


def test_no_match_keeps_the_classifier_result(spacy_model, safety_net):
    msg = message("does valium help with withdrawal", spacy_model)
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT) == {"name": "ask_med_helps", "confidence": 0.9}


def test_patterns_file_must_have_patterns(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns: {}\n")
    with pytest.raises(ValueError, match="non-empty"):
        load_patterns(bad)


def test_unquoted_yaml_booleans_are_reported(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns:\n  CRISIS:\n    - [{LOWER: {IN: [on]}}, {LOWER: purpose}]\n")
    with pytest.raises(ValueError, match="quote it"):
        load_patterns(bad)


def test_unquoted_numbers_are_reported(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("patterns:\n  DOSING:\n    - [{LOWER: {IN: [2, two]}}, {LOWER: pills}]\n")
    with pytest.raises(ValueError, match="quote it"):
        load_patterns(bad)


def test_a_vetoed_look_alike_overrules_the_classifiers_crisis(spacy_model, safety_net):
    msg = message("what does an overdose look like", spacy_model, intent="crisis")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == "nlu_fallback"
    assert "crisis" not in [r["name"] for r in msg.get(INTENT_RANKING_KEY)]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how long does naloxone last in the fridge", "nlu_fallback"),
        ("should my mom carry narcan", "nlu_fallback"),
        ("can you overdose on methadone", "nlu_fallback"),
        ("he's still blue, does narcan work on fent", "crisis"),  # a crisis pattern elsewhere
        ("i don't have narcan, what do i do", "crisis"),  # not a question asked ahead of time
    ],
)
def test_naloxone_asked_ahead_of_time_is_not_a_crisis(spacy_model, safety_net, text, intent):
    msg = message(text, spacy_model, intent="crisis")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("my son nods off all the time when he uses, is that brain damage", "nlu_fallback"),
        ("i used to nod out a lot, does that hurt your lungs", "nlu_fallback"),
        ("my pulse gets really fast during withdrawal, why", "nlu_fallback"),
        ("heart pounding in detox, is that part of it", "nlu_fallback"),
        ("he nods off a lot and now he won't wake up", "crisis"),  # a crisis pattern elsewhere
        ("she is nodding off right now and her lips are blue", "crisis"),
    ],
)
def test_a_habit_or_a_withdrawal_symptom_asked_about_is_not_a_crisis(spacy_model, safety_net, text, intent):
    msg = message(text, spacy_model, intent="crisis")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == intent


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("cuantas pastillas hacen falta pa matarse", ["CRISIS", "DOSING"]),  # crisis first: it wins
        ("casi me muero con la malilla, ¿es normal?", []),
        ("¿se mueren los adictos de abstinencia?", []),
        ("cuanto mas tiempo la uso mas me cuesta dejarla", []),
        ("¿quién me puede recetar suboxone cerca de aquí?", []),
        ("se me acabó la receta de clonazepam, ¿qué hago?", []),
        ("¿me puede recetar rivotril?", ["DOSING"]),
    ],
)
def test_spanish_vetoes_leave_real_requests_alone(spacy_model, safety_net, text, labels):
    found = safety_net.matched_labels(spacy_model.model(text.lower()))
    assert [label for label in found if label in {"CRISIS", "DOSING"}] == labels


def test_the_classifiers_crisis_stands_without_a_veto(spacy_model, safety_net):
    msg = message("please call someone for me", spacy_model, intent="crisis")
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == "crisis"


def test_a_veto_elsewhere_does_not_cancel_a_crisis_pattern(spacy_model, safety_net):
    msg = message("back when i was using it was bad, now my friend is not breathing", spacy_model)
    safety_net.process([msg], spacy_model)
    assert msg.get(INTENT)["name"] == "crisis"


# ------------------------------------------------------------------ second opinion (issue 9)
def featurized(text: str, vector: list[float], intent: str | None = None) -> Message:
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE
    from rasa.shared.nlu.training_data.features import Features
    from scipy.sparse import csr_matrix

    data = {TEXT: text, **({INTENT: intent} if intent else {})}
    features = [Features(csr_matrix([vector]), FEATURE_TYPE_SENTENCE, TEXT, "test")]
    return Message(data=data, features=features)


@pytest.fixture(scope="module")
def second_opinion(tmp_path_factory) -> SecondOpinionClassifier:
    """Trained on three toy intents (feature 0: greet, 1: ask_med_helps, 2: crisis), then loaded."""
    examples = [
        featurized(f"{intent} {i}", [float(k == j) + 0.1 * i for k in range(3)], intent)
        for j, intent in enumerate(["greet", "ask_med_helps", "crisis"])
        for i in range(4)
    ]
    return trained_opinion(tmp_path_factory.mktemp("second_opinion"), examples)


def trained_opinion(folder: Path, examples: list[Message]) -> SecondOpinionClassifier:
    """A SecondOpinionClassifier trained on `examples`, persisted in `folder`, then loaded."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage = LocalModelStorage(folder)
    resource = Resource("second_opinion")
    context = ExecutionContext(GraphSchema({}), "test")
    config = SecondOpinionClassifier.get_default_config()
    SecondOpinionClassifier.create(config, storage, resource, context).train(TrainingData(examples))
    return SecondOpinionClassifier.load(config, storage, resource, context)


def with_ranking(msg: Message, ranking: list[tuple[str, float]]) -> Message:
    msg.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]})
    msg.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking])
    return msg


def test_alone_the_second_opinion_predicts_as_a_classifier(second_opinion):
    """Blending is the intent decider's (tests/test_intent_decider.py); alone it ranks its own."""
    msg = featurized("x", [0.0, 1.0, 0.0])
    second_opinion.process([msg])
    ranking = msg.get(INTENT_RANKING_KEY)
    assert msg.get(INTENT) == ranking[0] and ranking[0]["name"] == "ask_med_helps"
    assert {r["name"] for r in ranking} == {"greet", "ask_med_helps", "crisis"}
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert second_opinion.intent_probabilities(msg) == {r["name"]: r["confidence"] for r in ranking}


def test_a_message_without_features_is_left_alone(second_opinion):
    msg = with_ranking(Message(data={TEXT: ""}), [("greet", 0.9)])
    second_opinion.process([msg])
    assert msg.get(INTENT) == {"name": "greet", "confidence": 0.9}
    assert second_opinion.intent_probabilities(msg) is None


@pytest.mark.parametrize("vector", [[1.0, 0.0, 0.0], [0.2, 0.7, 0.1], [0.0, 0.0, 3.0], [0.5, 0.5, 0.5]])
def test_the_second_opinions_probabilities_are_scikit_learns(second_opinion, vector):
    """Computed directly for a multinomial model (0.6 ms of input checks and stacking saved per
    message), they equal `predict_proba`'s."""
    msg = featurized("x", vector)
    assert second_opinion._multinomial()
    ours = second_opinion.probabilities(msg)
    theirs = second_opinion.clf.predict_proba(second_opinion._create_X([msg]))[0]
    assert ours is not None
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert second_opinion.probabilities(Message(data={TEXT: ""})) is None


@pytest.fixture(scope="module")
def two_featurizer_opinion(tmp_path_factory) -> SecondOpinionClassifier:
    """Trained on two featurizers' sentence rows (widths 2 and 3) with sequence rows beside them."""
    import numpy as np

    rng = np.random.default_rng(3)
    examples = [
        two_featurizers(f"{intent} {i}", [*rng.random(2) + (j == 0)], [*rng.random(3) + (j == 2)], intent)
        for j, intent in enumerate(["greet", "ask_med_helps", "crisis"])
        for i in range(5)
    ]
    return trained_opinion(tmp_path_factory.mktemp("two_featurizers"), examples)


def two_featurizers(text: str, words: list[float], chars: list[float], intent: str | None = None) -> Message:
    """A message as two CountVectorsFeaturizers leave it: a sequence and a sentence row from each."""
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE
    from rasa.shared.nlu.training_data.features import Features
    from scipy.sparse import coo_matrix

    data = {TEXT: text, **({INTENT: intent} if intent else {})}
    features = []
    for origin, row in (("words", words), ("chars", chars)):
        features.append(Features(coo_matrix([row, row]), FEATURE_TYPE_SEQUENCE, TEXT, origin))
        features.append(Features(coo_matrix([row]), FEATURE_TYPE_SENTENCE, TEXT, origin))
    return Message(data=data, features=features)


@pytest.mark.parametrize(
    ("words", "chars"),
    [([1.0, 0.0], [0.0, 0.0, 0.0]), ([0.0, 0.0], [0.0, 0.0, 2.0]), ([0.3, 0.9], [0.1, 0.0, 0.4])],
)
def test_the_second_opinion_reads_each_featurizers_row_at_its_offset(two_featurizer_opinion, words, chars):
    """Without stacking the rows, the same probabilities as scikit-learn's on Rasa's stacked X."""
    opinion = two_featurizer_opinion
    msg = two_featurizers("x", words, chars)
    theirs = opinion.clf.predict_proba(opinion._create_X([msg]))[0]
    assert opinion.probabilities(msg) == pytest.approx(theirs, abs=1e-12)


def test_a_row_wider_than_the_model_fails_as_scikit_learn_does(two_featurizer_opinion):
    with pytest.raises(ValueError, match="features"):
        two_featurizer_opinion.probabilities(two_featurizers("x", [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]))


def test_the_second_opinion_loads_after_the_training_cache_renamed_its_node(second_opinion, tmp_path):
    """Restored from Rasa's training cache under another node name (a component added before it),
    the resource holds `<old name>.skops`; Rasa's own load looked only for `<new name>.skops` and
    the freshly trained model failed to load."""
    import shutil

    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    node = tmp_path / "renamed_node8"
    shutil.copytree(second_opinion._model_storage._storage_path / "second_opinion", node)
    assert [p.name for p in node.iterdir()] == ["second_opinion.skops"]

    def load_and_process() -> Message:
        loaded = SecondOpinionClassifier.load(
            SecondOpinionClassifier.get_default_config(),
            LocalModelStorage(tmp_path),
            Resource(node.name),
            ExecutionContext(GraphSchema({}), "test"),
        )
        msg = with_ranking(featurized("x", [1.0, 0.0, 0.0]), [("ask_med_helps", 0.7), ("greet", 0.3)])
        return loaded.process([msg])[0]

    # The coefficients were read and used.
    assert load_and_process().get(INTENT)["name"] == "greet"
    # Two candidate files: none is guessed; an untrained second opinion leaves the ranking alone.
    shutil.copy(node / "second_opinion.skops", node / "other.skops")
    assert load_and_process().get(INTENT) == {"name": "ask_med_helps", "confidence": 0.7}


def test_loading_the_second_opinion_keeps_the_servers_log_level():
    """Its persistence library's first import set the root logger to WARNING (via numpy.distutils):
    a server went silent at INFO after loading the model. Run in a fresh interpreter, where that
    import really is the first."""
    import subprocess
    import sys

    script = (
        "import logging; logging.getLogger().setLevel(logging.INFO)\n"
        "import components.second_opinion, skops.io\n"
        "from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier\n"
        "print(logging.getLevelName(logging.getLogger().level))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "INFO"


@pytest.mark.parametrize(
    "text",
    [
        "last year he od'd, now he's not breathing again",
        "years ago she had a seizure and now she's seizing again",
        "im worried about overdosing, i took 10 bars",
        "this is killing me, i want to die",
        "what does narcan do, he's turning blue",
        # A Spanish veto's words after its anchor stop at punctuation and at "ahora": a question
        # about signs, a doubt or a nightmare before an emergency does not cancel it.
        "mi hermano tiene señales de sobredosis, no despierta",
        "tiene señales de sobredosis y no respira",
        "es verdad que se puso morado? no respira",
        "soñé que se moría y ahora no despierta",
        "en el 2019 tuve una sobredosis, ahora mi hijo no respira",
        # "algún día" is a hypothetical, but not before an intent of one's own
        "algún día me voy a matar",
        "algún día voy a acabar con todo",
        # the past needs its time and stops at "que", "hoy", "ya": "since a month" is still now
        "hace un mes que quiero matarme",
        "hace dos años tuve una sobredosis y hoy me tomé todas las pastillas",
        "la otra vez casi se muere, ya no respira",
        # a veto for a plan ("antes de matarme") was the past's "antes"; no longer
        "antes de matarme quiero despedirme",
        # someone in a film, then someone here
        "en la película se ponía azul, pero ahora mi hermano no respira",
        # quitting drugs is not life, but "no quiero seguir viviendo" is
        "ya no quiero seguir viviendo",
    ],
)
def test_a_look_alike_veto_leaves_a_crisis_elsewhere_in_the_message(spacy_model, safety_net, text):
    assert safety_net.matched_labels(spacy_model.model(text.lower()))[:1] == ["CRISIS"]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "content").glob("*.yml")),
    ids=lambda p: p.name,
)
def test_the_fast_yaml_loader_reads_what_the_safe_loader_reads(path):
    """The pattern and content files are read with libyaml's loader (content.read_yaml): the same
    data as yaml.safe_load, booleans and numbers included."""
    from content import YAML_LOADER, read_yaml

    assert YAML_LOADER is yaml.CSafeLoader  # PyYAML's wheel is built with libyaml
    assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted((ROOT / "content").glob("*.yml")), ids=lambda p: p.name)
def test_no_content_file_repeats_a_key(path):
    """YAML keeps the last of two equal keys and drops the first without a word: a label written
    twice in a pattern file lost the first one's patterns once."""

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        keys = [loader.construct_object(key) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        assert repeated == [], f"{path.name} line {node.start_mark.line + 1}: {repeated}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load(path.read_text(encoding="utf-8"), Loader=Strict)


def project_patterns() -> dict:
    from components.safety_net import SafetyNet, load_pattern_files, pattern_paths

    files = [str(ROOT / p) for p in SafetyNet.get_default_config()["patterns"]]
    return load_pattern_files(pattern_paths(files))[0]


def safety_and_dosing_set_texts() -> list[str]:
    """Every message of the safety and dosing sets (English and Spanish), once, sorted."""
    from scripts.evaluate import DOSING_SETS, safety_sets

    paths = dict.fromkeys([path for _, path, _, _ in SAFETY_SETS] + [path for _, path, _, _ in DOSING_SETS])
    return sorted({text for path in paths for group in safety_sets(path).values() for text in group})


def test_the_matcher_reading_norm_finds_what_the_fold_extension_finds(spacy_model):
    """The safety net matches `_.fold` patterns on NORM (components/safety_net.py, for speed): on
    every fourth safety-set message in sorted order (English and Spanish; the matcher with the
    extension takes 25 ms a message, all of them took 85 s of CI), both ways give the same matches."""
    from components.safety_net import build_matcher, set_fold_norms

    patterns, vocab = project_patterns(), spacy_model.model.vocab
    extension, native = build_matcher(vocab, patterns, native=False), build_matcher(vocab, patterns)
    every = safety_and_dosing_set_texts()
    texts = [*every[::4], "Está MUY pálida y no respira", "mi niño se tomó las pastillas", "N'T won't can't"]
    differ = []
    for text in texts:
        doc = spacy_model.model(text.lower())
        expected = sorted(extension(doc))
        set_fold_norms(doc)
        if sorted(native(doc)) != expected:
            differ.append(text)
    assert len(texts) > 800
    assert differ == []


def test_the_anchored_matcher_finds_what_one_matcher_of_all_patterns_finds(spacy_model):
    """The safety net runs only the patterns whose anchor word a message has (AnchoredMatcher, for
    speed): on every safety- and dosing-set message (English and Spanish) and a few made for it, the
    same matches, each as often, as one spaCy Matcher of all the patterns."""
    from components.safety_net import build_matcher, set_fold_norms

    patterns, vocab = project_patterns(), spacy_model.model.vocab
    anchored, single = build_matcher(vocab, patterns), build_matcher(vocab, patterns, anchored=False)
    every = safety_and_dosing_set_texts()
    made = ["Está MUY pálida y no respira", "he's not breathing he's not breathing", "", "!!!", "od od od"]
    differ, matched = [], 0
    for text in [*every, *made]:
        doc = spacy_model.model(text.lower())
        set_fold_norms(doc)
        expected = sorted(single(doc))
        matched += bool(expected)
        if sorted(anchored(doc)) != expected:
            differ.append(text)
    assert len(every) > 3000 and matched > 1000
    assert differ == []


def test_an_anchor_is_a_required_word_token_with_the_fewest_words():
    from components.safety_net import anchor

    assert anchor([{"LOWER": {"IN": ["a", "b", "c"]}}, {"LOWER": "d"}]) == ("LOWER", frozenset({"d"}))
    assert anchor([{"LOWER": "x", "OP": "?"}, {"NORM": {"IN": ["y", "z"]}, "OP": "+"}]) == (
        "NORM",
        frozenset({"y", "z"}),
    )
    # optional, negated, REGEX, NOT_IN or non-word tokens are never anchors
    assert anchor([{"LOWER": "x", "OP": "*"}, {"LOWER": "y", "OP": "!"}, {"LOWER": {"REGEX": "z"}}]) is None
    assert anchor([{"LOWER": {"NOT_IN": ["a"]}}, {"ENT_TYPE": "MEDICATION"}, {"IS_PUNCT": True}]) is None


def test_a_pattern_cannot_read_norm_and_fold_in_one_token():
    from components.safety_net import norm_rule

    assert norm_rule([{"_": {"fold": {"IN": ["esta"]}}, "OP": "?"}]) == [
        {"NORM": {"IN": ["esta"]}, "OP": "?"}
    ]
    with pytest.raises(ValueError, match="both NORM and _"):
        norm_rule([{"NORM": "x", "_": {"fold": "x"}}])
