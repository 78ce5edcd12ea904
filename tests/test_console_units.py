"""The operator console's parts without a server: grouping, the training-data writer, login pieces,
the dashboard figures and the new-answers export."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import pytest
import yaml
from console_data import CRISIS_TEXT, copy_project, make_database, nlu_snapshot

from console import nlu_files
from console.app import export_new_answers, host_name
from console.auth import LoginLimiter, Sessions, password_matches
from console.grouping import group_items, normalise, similarity, tokens
from console.nlu_files import NluError, NluFiles, insert_examples
from console.store import Store
from insights import schema


def item(id: int, text: str | None, ts: float = 0.0, guesses=()) -> dict:
    return {
        "id": id,
        "ts": ts or float(id),
        "text": text,
        "channel": "rest",
        "reason": "did_you_mean",
        "guesses": [{"intent": g, "confidence": c} for g, c in guesses],
    }


# -- grouping ------------------------------------------------------------------------------------


def test_normalise_lowercases_and_drops_punctuation():
    assert normalise("  Is VALIUM ok?? (for WDs!) ") == "is valium ok for wds"
    assert normalise("what\u2019s that") == "what's that"
    assert tokens("a b a") == frozenset({"a", "b"})
    assert similarity(tokens("can i take valium"), tokens("can I take Valium?")) == 1.0


def test_alike_wordings_group_and_the_most_frequent_group_comes_first():
    items = [
        item(1, "is gabapentin ok during detox", guesses=[("ask_treatment_options", 0.4)]),
        item(2, "can i take valium for the shakes when kicking", guesses=[("ask_med_helps", 0.4)]),
        item(3, "Can I take valium for the shakes when kicking?", guesses=[("ask_med_helps", 0.5)]),
        item(4, "can i take valium for shakes while kicking", guesses=[("ask_withdrawal_symptoms", 0.3)]),
        item(5, "what's the weather like"),
    ]
    groups = group_items(items)
    assert [sorted(g.ids) for g in groups] == [[2, 3, 4], [5], [1]]  # then the newest first
    top = groups[0]
    assert top.count == 3 and top.latest == 4.0
    assert top.guesses()[0] == {"intent": "ask_med_helps", "confidence": pytest.approx(0.3)}
    assert top.values("channel") == ["rest"]


def test_items_without_text_form_one_group_that_is_never_mixed_with_text():
    groups = group_items([item(1, None), item(2, "hello"), item(3, None)])
    hidden = [g for g in groups if g.hidden]
    assert len(hidden) == 1 and sorted(hidden[0].ids) == [1, 3]
    assert all(i["text"] is not None for g in groups if not g.hidden for i in g.items)


# -- the training-data writer --------------------------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


def nlu(project: Path, name: str) -> str:
    return (project / "data" / "nlu" / name).read_text(encoding="utf-8")


def examples_of(project: Path, intent: str) -> list[str]:
    for path in (project / "data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text())["nlu"]:
            if block.get("intent") == intent:
                return [line[2:] for line in block["examples"].splitlines()]
    raise AssertionError(intent)


def test_topics_are_the_files_holding_each_intent(project):
    topics = NluFiles(project).topics()
    assert topics["ask_med_helps"] == "medications"
    assert topics["ask_withdrawal_symptoms"] == "withdrawal"
    assert topics["greet"] == "general"


def test_examples_are_appended_to_the_intent_in_its_own_file_as_a_small_diff(project):
    before = {path.name: path.read_text() for path in (project / "data" / "nlu").glob("*.yml")}
    result = NluFiles(project).add_examples(
        "ask_med_helps", ["can i take valium for the shakes when kicking"]
    )
    assert result.added == ["can i take valium for the shakes when kicking"]
    assert result.path == (project / "data" / "nlu" / "medications.yml").resolve()
    after = nlu(project, "medications.yml")
    old_lines, new_lines = before["medications.yml"].splitlines(), after.splitlines()
    assert len(new_lines) == len(old_lines) + 1  # one line added, nothing else moved
    added = [line for line in new_lines if line not in old_lines]
    assert added == ["    - can i take valium for the shakes when kicking"]
    assert examples_of(project, "ask_med_helps")[-1] == "can i take valium for the shakes when kicking"
    # The next intent's block is untouched and every other file is byte for byte the same.
    for name, text in before.items():
        if name != "medications.yml":
            assert nlu(project, name) == text


def test_a_spanish_wording_goes_to_the_spanish_file_holding_the_intent(project):
    before = nlu_snapshot(project)
    files = NluFiles(project)
    result = files.add_examples("ask_med_helps", ["el valium me sirve pa los temblores?"], language="es")
    assert result.added == ["el valium me sirve pa los temblores?"]
    assert result.path == (project / "data" / "nlu" / "es" / "part_a.yml").resolve()
    after = nlu_snapshot(project)
    assert [name for name in after if after[name] != before.get(name)] == ["es/part_a.yml"]
    assert "    - el valium me sirve pa los temblores?\n" in nlu(project, "es/part_a.yml")
    # An English file never gets it, and the same wording is not added twice in any language.
    assert files.add_examples("ask_med_helps", ["El valium me sirve pa los temblores?"]).added == []


def test_an_intent_with_no_examples_yet_in_a_language_gets_a_file_of_its_own(project):
    spanish = project / "data" / "nlu" / "es"
    for path in spanish.glob("*.yml"):  # as if bot_challenge had no Spanish examples
        blocks = re.split(r"(?m)^(?=- intent: )", path.read_text())
        path.write_text("".join(b for b in blocks if not b.startswith("- intent: bot_challenge\n")))
    files = NluFiles(project)
    assert files.path_of("bot_challenge", language="es") == (spanish / "console.yml").resolve()
    files.add_examples("bot_challenge", ["¿eres una persona de verdad?"], language="es")
    files.add_examples("bot_challenge", ["oye, ¿contesta un robot?"], language="es")
    files.add_examples("greet", ["buenas, primera vez por aquí, hola"], language="es")  # has a file
    [block] = yaml.safe_load((spanish / "console.yml").read_text())["nlu"]
    assert block == {
        "intent": "bot_challenge",
        "examples": "- ¿eres una persona de verdad?\n- oye, ¿contesta un robot?\n",
    }
    from rasa.shared.nlu.training_data.loading import load_data

    assert len(load_data(str(spanish / "console.yml")).training_examples) == 2


@pytest.mark.parametrize("language", ["fr", "../es", "es/..", "", "ES"])
def test_a_language_without_training_data_is_refused(project, language):
    before = nlu_snapshot(project)
    with pytest.raises(NluError):
        NluFiles(project).add_examples("greet", ["bonjour"], language=language)
    assert nlu_snapshot(project) == before


def test_duplicates_are_skipped_in_any_intent_and_within_the_batch(project):
    files = NluFiles(project)
    existing = examples_of(project, "ask_withdrawal_symptoms")[3]  # "what are the symptoms of ..."
    annotated = "do [benzos](medication) help with opioid withdrawal"  # in the file, annotated
    result = files.add_examples(
        "ask_med_helps",
        [existing.upper(), "do benzos help with opioid withdrawal", "brand new one", "Brand  new one"],
    )
    assert result.added == ["brand new one"]
    reasons = dict(result.skipped)
    assert reasons[existing.upper()] == "already an example of ask_withdrawal_symptoms"
    assert reasons["do benzos help with opioid withdrawal"] == "already an example of ask_med_helps"
    assert annotated in nlu(project, "medications.yml")
    assert files.add_examples("ask_med_helps", ["brand new one"]).added == []


@pytest.mark.parametrize(
    "hostile",
    [
        "is [valium](medication) ok",  # Rasa would read an entity annotation
        'take [this]{"entity": "medication"}',
        'x [a][{"entity": "b"}]',
    ],
)
def test_text_rasa_would_read_as_an_annotation_is_refused(project, hostile):
    before = nlu(project, "medications.yml")
    result = NluFiles(project).add_examples("ask_med_helps", [hostile])
    assert result.added == [] and "entity annotation" in result.skipped[0][1]
    assert nlu(project, "medications.yml") == before


def test_yaml_and_control_characters_stay_text(project):
    hostile = [
        "- intent: crisis\n  examples: |\n    - owned",  # a newline cannot open a new YAML block
        "key: value # not a comment",
        "  tabs\tand \x00 nulls \u2028 separators ",
        "&anchor *alias !!python/object:os.system {a: b} | > ' \" %",
        "<script>alert(1)</script>",
    ]
    result = NluFiles(project).add_examples("ask_med_helps", hostile)
    assert len(result.added) == len(hostile)
    examples = examples_of(project, "ask_med_helps")
    assert examples[-5:] == [nlu_files.clean(text) for text in hostile]
    assert "- intent: crisis examples: | - owned" in examples
    nlu_files.check_with_rasa(nlu(project, "medications.yml"))
    assert [b["intent"] for b in yaml.safe_load(nlu(project, "medications.yml"))["nlu"]].count("crisis") == 0


def test_a_button_payload_is_not_added_as_a_wording(project):
    before = nlu(project, "medications.yml")
    result = NluFiles(project).add_examples("ask_med_helps", ['/ask_med_helps{"medication":"valium"}'])
    assert result.added == [] and "payload" in result.skipped[0][1]
    assert nlu(project, "medications.yml") == before


def test_empty_and_overlong_texts_are_skipped(project):
    result = NluFiles(project).add_examples("ask_med_helps", [" \n\t", "x" * 301])
    assert result.added == [] and next(why for _, why in result.skipped) == "empty"


@pytest.mark.parametrize(
    ("intent", "topic"),
    [
        ("../../etc/passwd", None),
        ("ask_med_helps/../x", None),
        ("nope", None),
        ("ask_med_helps", "../medications"),
        ("ask_med_helps", "withdrawal"),
        ("", None),
    ],
)
def test_only_real_intents_and_topics_are_accepted(project, intent, topic):
    before = nlu_snapshot(project)
    with pytest.raises(NluError):
        NluFiles(project).add_examples(intent, ["a perfectly fine question"], topic)
    assert nlu_snapshot(project) == before


def test_the_write_is_atomic_and_keeps_the_file_mode(project, monkeypatch):
    path = project / "data" / "nlu" / "medications.yml"
    path.chmod(0o640)
    before = path.read_text()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(nlu_files.os, "replace", crash)
    with pytest.raises(OSError):
        NluFiles(project).add_examples("ask_med_helps", ["a question written when the disk is full"])
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left
    monkeypatch.undo()
    NluFiles(project).add_examples("ask_med_helps", ["a question written when the disk is fine"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text().startswith(before.rstrip("\n").split("\n- intent:")[0])


def test_insert_keeps_the_last_block_of_a_file_and_its_missing_newline():
    text = 'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - one\n    - two'
    assert insert_examples(text, "a", ["three"]).endswith("    - two\n    - three\n")
    with pytest.raises(NluError):
        insert_examples(text, "b", ["x"])


# -- login pieces --------------------------------------------------------------------------------


def test_host_name_without_port():
    assert host_name("localhost:8081") == "localhost"
    assert host_name("[::1]:8081") == "::1" and host_name("::1") == "::1"
    assert host_name("Example.ORG") == "example.org"


def test_password_check():
    assert password_matches("correct horse", "correct horse")
    assert not password_matches("correct hors", "correct horse")
    assert not password_matches("", "correct horse")
    assert not password_matches("correct horse\x00", "correct horse")


def test_sessions_refuse_forged_altered_unknown_and_expired_cookies():
    sessions = Sessions()
    session = sessions.new(logged_in=True)
    cookie = sessions.cookie_value(session)
    assert sessions.get(cookie) is session
    session_id, signature = cookie.split(".")
    assert sessions.get(f"{session_id}.{'0' * len(signature)}") is None
    assert sessions.get(f"other{session_id}.{signature}") is None
    assert sessions.get(Sessions().cookie_value(Sessions().new(logged_in=True))) is None  # another key
    assert sessions.get("") is None and sessions.get("a.b.c") is None
    session.expires = time.time() - 1
    assert sessions.get(cookie) is None
    fresh = sessions.new(logged_in=True)
    sessions.end(fresh)
    assert sessions.get(sessions.cookie_value(fresh)) is None


def test_login_limiter_blocks_an_address_after_repeated_failures_only():
    limiter = LoginLimiter(max_failures=3, window=60)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert 0 < limiter.retry_after("10.0.0.1") <= 61
    assert limiter.retry_after("10.0.0.2") == 0


# -- figures and export --------------------------------------------------------------------------


def test_dashboard_figures_from_the_tables(tmp_path):
    now = 1_796_000_000.0  # a fixed day, so the series do not depend on when the test runs
    store = Store(make_database(tmp_path / "c.db", now=now))
    topics = NluFiles(copy_project(tmp_path / "p")).topics()
    stats = store.stats(30, topics, now=now)
    assert len(stats["days"]) == 30 and stats["timezone"] == "UTC"
    for series in ("messages", "conversations", "did_you_mean_rate", "out_of_scope_rate", "crisis"):
        assert len(stats[series]) == 30
    assert stats["totals"]["messages"] == sum(stats["messages"]) == sum(stats["hours"])
    assert all(c <= m for c, m in zip(stats["conversations"], stats["messages"], strict=True))
    assert set(stats["answers_by_topic"]) <= {
        "medications",
        "withdrawal",
        "benzodiazepines",
        "treatment",
        "background",
    }
    assert stats["totals"]["crisis"] == sum(stats["crisis"]) > 0
    assert all(set(v) == {"yes", "no"} for v in stats["helpfulness"].values())
    assert stats["totals"]["queue_open"] == 11
    assert 0 < stats["totals"]["did_you_mean_rate"] < 0.2
    json.dumps(stats)  # the JSON endpoint sends exactly this


def test_dashboard_figures_by_language_add_up_to_the_totals(tmp_path):
    now = 1_796_000_000.0
    store = Store(make_database(tmp_path / "c.db", now=now))
    stats = store.stats(30, NluFiles(copy_project(tmp_path / "p")).topics(), now=now)
    by_language = stats["by_language"]
    assert list(by_language) == ["en", "es"]
    assert [figures["name"] for figures in by_language.values()] == ["English", "Spanish"]
    totals = stats["totals"]
    for figure in ("messages", "crisis", "queue_open"):
        assert sum(f[figure] for f in by_language.values()) == totals[figure], figure
    assert sum(f["conversations"] for f in by_language.values()) == totals["conversations"]
    assert 0 < by_language["es"]["messages"] < by_language["en"]["messages"]
    assert (by_language["en"]["queue_open"], by_language["es"]["queue_open"]) == (9, 2)
    for language, series in stats["messages_by_language"].items():
        assert len(series) == 30 and sum(series) == by_language[language]["messages"]
    assert [sum(day) for day in zip(*stats["messages_by_language"].values(), strict=True)] == stats[
        "messages"
    ]
    for figures in by_language.values():
        assert 0 <= figures["did_you_mean_rate"] < 0.3 and 0 <= figures["helpful_rate"] <= 1


def test_a_row_in_an_unknown_language_is_counted_as_other(tmp_path):
    engine = make_database(tmp_path / "c.db")
    with engine.begin() as connection:
        connection.execute(schema.turns.update().where(schema.turns.c.id == 1).values(language="xx"))
    stats = Store(engine).stats(30, {})
    assert stats["by_language"]["other"]["messages"] == 1 and stats["by_language"]["other"]["name"] == "Other"


def test_open_items_never_carry_the_sender(tmp_path):
    store = Store(make_database(tmp_path / "c.db"))
    items = store.open_items()
    assert len(items) == 11 and all("conversation" not in item for item in items)
    assert next(i for i in items if i["text"] is None)["guesses"][0]["intent"] == "crisis"
    assert CRISIS_TEXT not in json.dumps(items)


def test_open_items_by_language(tmp_path):
    store = Store(make_database(tmp_path / "c.db"))
    assert store.open_by_language() == {"en": 9, "es": 2}
    spanish = store.open_items("es")
    assert [i["language"] for i in spanish] == ["es", "es"]
    assert "¿el valium sirve para los temblores de la abstinencia?" in [i["text"] for i in spanish]
    assert {i["language"] for i in store.open_items("en")} == {"en"} and len(store.open_items("en")) == 9
    assert all(i["language"] in ("en", "es") for i in store.done_items())


def test_new_answers_export_groups_each_decision_and_redacts(tmp_path):
    engine = make_database(tmp_path / "c.db")
    store = Store(engine)
    ids = [i["id"] for i in store.open_items() if i["text"] and "gabapentin" in i["text"]]
    with engine.begin() as connection:
        connection.execute(
            schema.queue.update()
            .where(schema.queue.c.id == ids[0])
            .values(text="is gabapentin ok, call 555-123-4567 or mail a@b.org")
        )
        assert store.resolve(connection, ids, schema.NEW_ANSWER, "new answer needed: gabapentin") == 2
    exported = yaml.safe_load(export_new_answers(store.new_answers()))
    assert len(exported["new_answers"]) == 1
    entry = exported["new_answers"][0]
    assert entry["note"] == "gabapentin" and entry["asked"] == 2 and len(entry["phrasings"]) == 2
    text = json.dumps(exported)
    assert "555-123-4567" not in text and "a@b.org" not in text and "[phone removed]" in text


def test_console_refuses_to_start_without_a_password(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CONSOLE_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "console", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert done.returncode == 2 and "CONSOLE_PASSWORD" in done.stderr


# -- the translations export ---------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    import csv
    import io

    assert text.startswith("\ufeff")  # a spreadsheet program then reads the accents right
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_translations_export_has_every_answer_in_english_and_spanish_with_the_placeholders_filled():
    from console.translations import export
    from content import load_content
    from storage.record import curated_answers

    root = Path(__file__).resolve().parent.parent
    domain = yaml.safe_load((root / "domain.yml").read_text())
    rows = read_csv(export(root / "domain.yml", load_content(), "es", "Spanish"))
    assert list(rows[0]) == ["answer", "English text", "Spanish text", "source"]
    by_name = {row["answer"]: row for row in rows}
    assert len(by_name) == len(rows), "one row per name"
    for response in domain["responses"]:
        assert response in by_name and by_name[response]["source"] == "domain.yml"
    medication_answers = {name for name in curated_answers() if "." in name}
    assert medication_answers <= set(by_name)
    helps = by_name["helps.valium"]
    assert helps["English text"].startswith("Valium (diazepam) can take the edge off")
    assert helps["Spanish text"].startswith("Valium (diazepam) puede aliviar")
    assert helps["source"] == "content/medication_answers.yml; content/medication_answers_es.yml"
    # Filled from domain.yml's slots, as a person reads them; only {medication} stays (several medicines).
    assert "Fuente (artículo en inglés): “Does Valium Help With Opioid Withdrawal”" in helps["Spanish text"]
    goodbye = by_name["utter_goodbye"]
    assert domain["slots"]["helpline_es"]["initial_value"] in goodbye["Spanish text"]
    assert domain["slots"]["helpline"]["initial_value"] in goodbye["English text"]
    for row in rows:
        for column in ("English text", "Spanish text"):
            assert not re.findall(r"\{(?!medication\})[a-z_]+\}", row[column]), (row["answer"], column)
    buttons = by_name["utter_greet_disclaimer (buttons)"]
    assert "Ver todos los temas" in buttons["Spanish text"] and "Show all topics" in buttons["English text"]
    assert by_name["which_medication"]["Spanish text"]


def test_a_response_without_its_translation_is_exported_with_an_empty_cell(tmp_path):
    from console.translations import export
    from content import load_content

    domain = tmp_path / "domain.yml"
    domain.write_text(
        yaml.safe_dump(
            {
                "slots": {"helpline": {"type": "text", "initial_value": "the line"}},
                "responses": {
                    "utter_new": [{"text": "Call {helpline}."}],
                    "utter_twice": [
                        {"text": "One", "condition": [{"type": "slot", "name": "language", "value": "es"}]},
                        {"text": "Uno", "condition": [{"type": "slot", "name": "language", "value": "es"}]},
                        {"text": "First"},
                    ],
                },
            }
        )
    )
    rows = read_csv(export(domain, load_content(), "es", "Spanish"))
    assert [(r["answer"], r["English text"], r["Spanish text"]) for r in rows[:3]] == [
        ("utter_new", "Call the line.", ""),
        ("utter_twice", "First", "One"),
        ("utter_twice (variation 2)", "", "Uno"),
    ]
