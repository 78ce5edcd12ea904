"""The lines that follow the first reply to a message: a help line after a crisis mention, and the
disclaimer at the start of every conversation, on every channel.

- Crisis replies by urgency: an emergency happening now gets the crisis reply first (the safety net
  forces `crisis`); a message that only mentions one (the past, a fear, a hypothetical, a question)
  gets the answer to its question, then `utter_crisis_footer` (911 and 988, in the conversation's
  language). The safety net marks such a message with a `crisis_mention` entity
  (components/safety_net.py).
- The disclaimer (automated assistant, not a doctor, not medical advice): a conversation that starts
  with a greeting gets it in the greeting (`utter_greet_disclaimer`); one that starts with anything
  else, which is how most people start on a website widget, Telegram or SMS, gets
  `utter_disclaimer` after the reply to its first message. A new session (after
  `session_expiration_time`) is a new conversation and gets it again, once.

The reply itself always comes first: a person in danger reads the emergency numbers before anything
else. The policy needs no training and abstains everywhere else, so the rules decide every other
action. Its priority is above RulePolicy's, whose rules end the turn with `action_listen` at the same
confidence. It reads only the events of the current turn (back to the previous user message), so a
message costs the same late in a long conversation.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS, ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Restarted, SessionStarted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from components.safety_net import MENTION_ENTITY
from overrides.rasa_components import component_storage, no_action_probabilities, policy_prediction

FOOTER = "utter_crisis_footer"
DISCLAIMER = "utter_disclaimer"
# Replies that already give the emergency and crisis lines: no crisis footer after them. The "did you
# mean" action puts the line before its buttons for a mention (actions/suggestions.py), or answers
# with utter_default.
CARRIES_THE_LINES = {"utter_crisis", "utter_default", "utter_find_help", FOOTER, "action_suggest_questions"}
# Replies that already carry the disclaimer.
CARRIES_THE_DISCLAIMER = {"utter_greet_disclaimer", DISCLAIMER}
# Run around every message without replying.
NOT_REPLIES = {ACTION_LISTEN_NAME, ACTION_EXTRACT_SLOTS, ACTION_SESSION_START_NAME}
# RulePolicy's default priority is 6; a tie on confidence goes to the higher priority.
PRIORITY = 7


def mentions_a_crisis(user: UserUttered | None) -> bool:
    return bool(user) and any(e.get("entity") == MENTION_ENTITY for e in user.entities)  # type: ignore[union-attr]


def current_turn(tracker: DialogueStateTracker) -> tuple[list[str], bool]:
    """The actions run since the latest user message (oldest first), and whether that message is
    the first of its conversation (no user message before it since the session started)."""
    names: list[str] = []
    seen_user = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if seen_user:
                return names[::-1], False
            seen_user = True
        elif isinstance(event, (SessionStarted, Restarted)):
            break
        elif not seen_user and isinstance(event, ActionExecuted) and event.action_name:
            names.append(event.action_name)
    return names[::-1], seen_user


def lines_after(first_reply: str, mention: bool, first_message: bool) -> list[str]:
    """What follows the first reply, in order."""
    lines = []
    if mention and first_reply not in CARRIES_THE_LINES:
        lines.append(FOOTER)
    if first_message and first_reply not in CARRIES_THE_DISCLAIMER:
        lines.append(DISCLAIMER)
    return lines


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class FooterPolicy(Policy):
    """Predicts the lines due after the first reply, one by one, then `action_listen`."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": PRIORITY}

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return component_storage(self)[1]

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = no_action_probabilities(self, domain)
        action = self.next_action(tracker)
        if action is not None and action in domain.action_names_or_texts:
            probabilities[domain.index_for_action(action)] = 1.0
        return policy_prediction(self, probabilities)

    @staticmethod
    def next_action(tracker: DialogueStateTracker) -> str | None:
        """The next line due after the first reply, then listening; None (abstain) otherwise."""
        actions, first_message = current_turn(tracker)
        replies = [a for a in actions if a not in NOT_REPLIES]
        if not replies:
            return None
        due = lines_after(replies[0], mentions_a_crisis(tracker.latest_message), first_message)
        sent = replies[1:]
        if not due or sent != due[: len(sent)]:
            return None
        return due[len(sent)] if len(sent) < len(due) else ACTION_LISTEN_NAME
