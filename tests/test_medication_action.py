"""action_answer_medication: the answer for the medication named, or the one asked about before."""

from __future__ import annotations

import pytest
from conftest import medication
from rasa_sdk.events import SlotSet

from actions.medication import ActionAnswerMedication
from content import fill, load_content

CONTENT = load_content()


@pytest.fixture
def answer(make_tracker, dispatcher, domain):
    """Runs the action on a fresh tracker for one message; returns its events and the messages sent."""

    def run(intent, **kwargs):
        events = ActionAnswerMedication().run(dispatcher, make_tracker(intent, **kwargs), domain)
        return events, dispatcher.messages

    return run


@pytest.mark.parametrize(
    ("intent", "entity", "question", "column"),
    [
        ("ask_med_helps", "valium", "helps", "valium"),
        ("ask_med_risks", "klonopin", "risks", "klonopin"),
        ("ask_med_stop_suddenly", "valium", "stop_suddenly", "valium"),
        ("ask_med_what_is", "xanax", "what_is", "other_benzo"),
        ("ask_med_how_works", "ativan", "how_works", "other_benzo"),
        ("ask_med_helps", "lofexidine", "helps", "not_covered"),
        ("ask_med_helps", "oxycodone", "helps", "opioid"),
        ("ask_med_what_is", "heroin", "what_is", "heroin"),
        ("ask_med_helps", "buprenorphine", "helps", "buprenorphine"),
    ],
)
def test_answers_for_the_named_medication(answer, domain, intent, entity, question, column):
    events, messages = answer(intent, entities=[medication(entity)])

    expected = CONTENT.answers[question][column]
    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    values["medication"] = CONTENT.medications[entity].name
    assert len(messages) == 1
    text = messages[0]["text"]
    assert text == fill(expected["text"], values)
    assert "{" not in text, "every placeholder is filled"
    assert "Source" in text
    assert messages[0]["buttons"] == expected["buttons"]
    # The answer's name, for the "Was this helpful?" prompt and the recording (storage/record.py).
    assert messages[0]["answer"] == f"{question}.{column}"
    assert events == [SlotSet("medication", entity), SlotSet("med_question", question)]


def test_unnamed_benzo_answer_names_the_medicine_and_the_sources(answer):
    _, messages = answer("ask_med_helps", entities=[medication("xanax")])
    text = messages[0]["text"]
    assert "Xanax (alprazolam)" in text
    assert "Valium" in text and "Klonopin" in text


def test_follow_up_uses_the_medication_from_before(answer):
    events, messages = answer("ask_med_risks", slots={"medication": "valium"})
    assert "Does Valium Help With Opioid Withdrawal" in messages[0]["text"]
    assert events == [SlotSet("medication", "valium"), SlotSet("med_question", "risks")]


def test_what_about_repeats_the_last_question_for_the_new_medication(answer):
    events, messages = answer(
        "ask_what_about",
        entities=[medication("klonopin")],
        slots={"medication": "valium", "med_question": "risks"},
    )
    assert messages[0]["buttons"] == CONTENT.answers["risks"]["klonopin"]["buttons"]
    assert events == [SlotSet("medication", "klonopin"), SlotSet("med_question", "risks")]


def test_what_about_without_an_earlier_question_answers_whether_it_helps(answer):
    events, _ = answer("ask_what_about", entities=[medication("klonopin")])
    assert events[-1] == SlotSet("med_question", "helps")


def test_the_medicine_asked_about_wins_over_the_opioid_used(answer):
    events, _ = answer(
        "ask_med_helps",
        entities=[medication("oxycodone"), medication("valium")],
    )
    assert events[0] == SlotSet("medication", "valium")


def test_no_medication_asks_which_with_buttons(answer):
    events, messages = answer("ask_med_risks")
    assert messages[0]["text"] == CONTENT.which_medication["text"]
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[0] == '/ask_med_risks{"medication":"valium"}'
    assert len(payloads) == len(CONTENT.which_medication["choices"])
    assert "answer" not in messages[0], "a question back is not an answer"
    assert events == [SlotSet("med_question", "risks")]


def test_unknown_entity_value_is_ignored(answer):
    _, messages = answer("ask_med_helps", entities=[medication("aspirin")])
    assert messages[0]["text"] == CONTENT.which_medication["text"]


def test_placeholders_fall_back_to_the_domain_when_slots_are_empty(make_tracker, dispatcher, domain):
    tracker = make_tracker("ask_med_helps", entities=[medication("valium")], slots={"source_valium": None})
    ActionAnswerMedication().run(dispatcher, tracker, domain)
    assert domain["slots"]["source_valium"]["initial_value"] in dispatcher.messages[0]["text"]


@pytest.mark.parametrize(
    ("text", "named", "asked"),
    [
        ("i'm on methadone, would valium help?", {"methadone": "methadone", "valium": "valium"}, "valium"),
        ("is klonopin ok on suboxone", {"klonopin": "klonopin", "suboxone": "buprenorphine"}, "klonopin"),
        (
            "would subs help me get off my valium",
            {"subs": "buprenorphine", "valium": "valium"},
            "buprenorphine",
        ),
        (
            "been on oxy for years, does klonopin help",
            {"oxy": "oxycodone", "klonopin": "klonopin"},
            "klonopin",
        ),
        ("does valium or klonopin help more", {"valium": "valium", "klonopin": "klonopin"}, "valium"),
        # a correction: the medicine set aside is not the one asked about
        ("not valium, i meant klonopin", {"valium": "valium", "klonopin": "klonopin"}, "klonopin"),
        ("no era el xanax, era el rivotril", {"xanax": "xanax", "rivotril": "klonopin"}, "klonopin"),
        ("era bupre no metadona", {"bupre": "buprenorphine", "metadona": "methadone"}, "buprenorphine"),
        # the measure of a comparison is not the subject
        ("is methadone addictive like heroin", {"methadone": "methadone", "heroin": "heroin"}, "methadone"),
        ("is klonopin stronger than valium", {"klonopin": "klonopin", "valium": "valium"}, "klonopin"),
        ("es la metadona peor que la chiva", {"metadona": "methadone", "chiva": "heroin"}, "methadone"),
        # a medicine someone is put on, against the opioid they come off
        (
            "docs wanna put me on methadone to get off fent, is it worth it",
            {"fent": "fentanyl", "methadone": "methadone"},
            "methadone",
        ),
        ("will i get hooked on vals instead of the oxy", {"oxy": "oxycodone", "vals": "valium"}, "valium"),
        ("no i meant heroin, not methadone", {"heroin": "heroin", "methadone": "methadone"}, "heroin"),
    ],
)
def test_the_medication_asked_about_is_answered_not_the_one_taken(answer, text, named, asked):
    entities = [{**medication(value), "start": text.find(word)} for word, value in named.items()]
    events, _ = answer("ask_med_helps", entities=entities, text=text)
    assert SlotSet("medication", asked) in events


@pytest.mark.parametrize(
    ("entity", "column"),
    [("valium", "valium"), ("heroin", "heroin"), ("xanax", "other_benzo"), ("lofexidine", "not_covered")],
)
def test_a_spanish_conversation_gets_the_spanish_answer(answer, domain, entity, column):
    events, messages = answer("ask_med_helps", entities=[medication(entity)], slots={"language": "es"})

    expected = CONTENT.language("es").answers["helps"][column]
    values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
    values["medication"] = CONTENT.medications[entity].display("es")
    [message] = messages
    assert message["text"] == fill(expected["text"], values)
    assert "{" not in message["text"], "every placeholder is filled"
    assert "Fuente" in message["text"] and "inglés" in message["text"]
    assert message["buttons"] == expected["buttons"]
    assert message["answer"] == f"helps.{column}"
    assert events == [SlotSet("medication", entity), SlotSet("med_question", "helps")]


def test_a_spanish_conversation_is_asked_which_medicine_in_spanish(answer):
    _, messages = answer("ask_med_risks", slots={"language": "es"})
    ask = CONTENT.language("es").which_medication
    [message] = messages
    assert message["text"] == ask["text"]
    assert [b["title"] for b in message["buttons"]] == [
        CONTENT.medications[k].display("es") for k in ask["choices"]
    ]


@pytest.mark.parametrize(
    ("text", "word", "value"),
    [
        ("is it addictive like heroin?", "heroin", "heroin"),
        ("is it as bad as fent", "fent", "fentanyl"),
        ("and is it stronger than valium", "valium", "valium"),
        ("¿es adictiva como la heroína?", "heroína", "heroin"),
        ("es mas fuerte que la chiva?", "chiva", "heroin"),
    ],
)
def test_a_follow_up_that_only_names_a_comparison_is_about_the_medicine_before(answer, text, word, value):
    """Rasa's slot mapping has already set `medication` to the medicine compared with; the answer is
    about the one the conversation was about (the slot before the message)."""
    events, _ = answer(
        "ask_med_risks",
        entities=[{**medication(value), "start": text.find(word)}],
        slots={"medication": value},
        events=[{"event": "slot", "name": "medication", "value": "buprenorphine"}],
        text=text,
    )
    assert SlotSet("medication", "buprenorphine") in events


def test_a_comparison_alone_with_nothing_before_is_about_the_medicine_named(answer):
    events, _ = answer(
        "ask_med_risks",
        entities=[{**medication("heroin"), "start": 20}],
        slots={"medication": "heroin"},
        text="is it addictive like heroin?",
    )
    assert SlotSet("medication", "heroin") in events


def test_a_new_session_forgets_the_medicine_before(answer):
    events, _ = answer(
        "ask_med_risks",
        entities=[{**medication("heroin"), "start": 20}],
        slots={"medication": "heroin"},
        events=[
            {"event": "slot", "name": "medication", "value": "buprenorphine"},
            {"event": "session_started"},
        ],
        text="is it addictive like heroin?",
    )
    assert SlotSet("medication", "heroin") in events
