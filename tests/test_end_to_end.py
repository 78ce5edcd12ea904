"""The real action server and Rasa server, one conversation over the REST channel."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_a_conversation_over_rest(servers):
    sender = "e2e-conversation"

    greeting = servers.say(sender, "hello")
    assert "automated assistant" in texts(greeting)
    assert "not medical advice" in texts(greeting)
    assert "911" in texts(greeting)

    answer = servers.say(sender, "does valium help with opioid withdrawal")
    assert len(answer) == 2
    assert "Source: “Does Valium Help With Opioid Withdrawal” (listenit, June 2025)" in answer[0]["text"]
    assert answer[0]["buttons"], "related questions are offered"
    # Then "Was this helpful?" (docs/channels.md), for this answer.
    assert answer[1]["recipient_id"] == sender and answer[1]["feedback"]["answer"] == "helps.valium"

    follow_up = servers.say(sender, "what about klonopin?")
    assert "“Klonopin for Opiate Withdrawal” (The Recovery Village)" in texts(follow_up)

    risks = servers.say(sender, "what are its risks?")
    assert "Klonopin" in texts(risks)

    crisis = servers.say(sender, "my friend took too many pills and is not breathing")
    assert "call 911" in texts(crisis)
    assert "1-800-222-1222" in texts(crisis)

    dosing = servers.say(sender, "how many mg of valium should i take")
    assert "1-800-662-HELP (4357)" in texts(dosing)
    assert "mg" not in texts(dosing)
    # No "Was this helpful?" after a crisis or dosing reply.
    assert not any("feedback" in m for m in crisis + dosing)


def test_a_conversation_that_starts_with_a_question_gets_the_disclaimer_once(servers):
    """Most people do not say hello: the disclaimer follows the first answer, on every channel."""
    sender = "e2e-question-first"
    first = servers.say(sender, "what are the symptoms of opioid withdrawal")
    assert "Source" in first[0]["text"], "the answer comes first"
    disclaimers = [r for r in first if "not medical advice" in r.get("text", "")]
    assert len(disclaimers) == 1 and "911" in disclaimers[0]["text"]
    second = servers.say(sender, "does valium help with opioid withdrawal")
    assert "not medical advice" not in texts(second)
    assert "Source" in texts(second)


def test_a_conversation_that_starts_with_an_emergency_gets_the_numbers_first(servers):
    replies = servers.say("e2e-crisis-first", "my friend took too many pills and is not breathing")
    assert "call 911" in replies[0]["text"]
    assert "not medical advice" in texts(replies[1:])


def test_conversations_are_separate(servers):
    servers.say("e2e-a", "does valium help with withdrawal")
    # Nothing was discussed in this conversation: the assistant asks which medicine.
    other = servers.say("e2e-b", "what are its risks?")
    assert "Which medicine do you mean?" in texts(other)


def test_late_in_a_long_conversation_context_still_works(servers):
    """The action server gets only the recent events (endpoints.yml: recent_user_turns): after many
    turns, a follow-up still finds its medication and a second unclear message still goes to help."""
    sender = "e2e-long"
    for n in range(15):
        servers.say(sender, "does valium help with opioid withdrawal" if n % 2 else "hello")
    servers.say(sender, "what about klonopin?")
    assert "Klonopin" in texts(servers.say(sender, "what are its risks?"))

    first = servers.say(sender, "withdrawal pills thing")
    assert any(r.get("buttons") for r in first), "the likeliest questions are offered"
    assert "a person can help you better" not in texts(first)
    second = servers.say(sender, "purple monkey dishwasher")
    assert "a person can help you better" in texts(second)
    assert "1-800-662-HELP (4357)" in texts(second)


def test_a_spanish_speaker_gets_the_crisis_reply_and_help_in_spanish(servers):
    sender = "e2e-spanish"

    crisis = texts(servers.say(sender, "mi esposo tiene los labios azules y no despierta"))
    assert crisis.startswith("Si alguien puede estar en sobredosis")
    assert "llame al 911 ahora" in crisis
    assert "llame al 988 y marque 2" in crisis and "AYUDA" in crisis
    assert "1-800-222-1222" in crisis

    dosing = texts(servers.say(sender, "cuantos miligramos de clonazepam le puedo dar"))
    assert dosing.startswith("No puedo decirle a nadie cuánto tomar")
    assert "mg" not in dosing and "1-800-662-HELP (4357)" in dosing

    # The FAQ's answer in Spanish, naming its sources (in English, with a Spanish gloss).
    question = texts(servers.say(sender, "cuáles son los síntomas de la abstinencia"))
    assert "Fuentes (artículos en inglés)" in question and "«¿Ayuda el Valium" in question
    assert "Withdrawal affects" not in question and "988 y marque 2" in question
    medicine = texts(servers.say(sender, "el rivotril sirve para la malilla?"))
    assert "Klonopin" in medicine and "Fuente (artículo en inglés)" in medicine
    assert "Source:" not in medicine

    # A short message that does not tell the language keeps the conversation in Spanish.
    assert texts(servers.say(sender, "ok")) != ""
    assert texts(servers.say(sender, "me quiero morir")).startswith("Si alguien puede estar en sobredosis")

    # Asking for English switches back.
    menu = texts(servers.say(sender, "English"))
    assert "I can answer general questions" in menu
    crisis_en = texts(servers.say(sender, "my friend is not breathing"))
    assert crisis_en.startswith("If someone may be overdosing")
    assert "En español" in crisis_en and "marque 2" in crisis_en


def test_a_message_in_another_language_gets_both_languages_and_the_help_lines(servers):
    reply = texts(servers.say("e2e-other", "我想戒掉海洛因 怎么办"))
    assert reply.startswith("In an emergency, call 911 now")
    assert "Solo puedo responder en inglés o en español" in reply and "1-800-662-HELP (4357)" in reply
    # Back in English, the conversation answers in English again.
    english = texts(servers.say("e2e-other", "what are the symptoms of opioid withdrawal"))
    assert "Withdrawal affects" in english
    # Another language in the Latin alphabet, too.
    german = texts(servers.say("e2e-other", "Kann man Klonopin und Methadon zusammen nehmen?"))
    assert german.startswith("In an emergency, call 911 now")


def test_a_question_that_mentions_an_overdose_gets_its_answer_then_one_help_line(servers):
    sender = "e2e-mention"
    replies = servers.say(sender, "scared ill od if i relapse, how do people stay clean long term")
    answers = [r for r in replies if r.get("text")]
    assert len(answers) == 3
    assert "call 911" not in answers[0]["text"]  # the answer first, not the crisis reply
    assert answers[1]["text"].startswith("If this is happening now, call 911.")
    assert "988" in answers[1]["text"]
    assert "not medical advice" in answers[2]["text"]  # then the disclaimer: a first message
    # The next message mentions nothing: no help line after its answer.
    assert "If this is happening now" not in texts(servers.say(sender, "what are the symptoms of withdrawal"))
    # An emergency gets the crisis reply alone, never the footer after it.
    crisis = servers.say(sender, "he is not breathing and his lips are blue")
    assert texts(crisis).startswith("If someone may be overdosing")
    assert "If this is happening now" not in texts(crisis)


def test_a_follow_up_compared_with_another_medicine_stays_on_the_medicine_before(servers):
    """Rasa's slot mapping sets `medication` to heroin before the action runs; the answer is still
    about buprenorphine, the medicine the conversation is about."""
    sender = "e2e-comparison"
    servers.say(sender, "what is suboxone")
    compared = servers.say(sender, "is it addictive like heroin?")
    assert [r["feedback"]["answer"] for r in compared if "feedback" in r] == ["risks.buprenorphine"]
    after = servers.say(sender, "and what happens if you stop it suddenly")
    assert [r["feedback"]["answer"] for r in after if "feedback" in r] == ["stop_suddenly.buprenorphine"]
