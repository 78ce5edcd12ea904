"""After the answer to a message that mentions an overdose, suicide or a seizure, one short help line.

Crisis services triage by urgency: an emergency happening now gets the crisis reply first (the safety
net forces `crisis`); a message that only mentions one (the past, a fear, a hypothetical, a question)
gets the answer to its question, then `utter_crisis_footer` (911 and 988, in the conversation's
language). The safety net marks such a message with a `crisis_mention` entity (components/safety_net.py);
this policy sends the footer once, after the first reply to that message, then listens.

It needs no training and abstains everywhere else, so the rules decide every other action. Its priority
is above RulePolicy's, whose rule ends the turn with `action_listen` at the same confidence.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS, ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from components.safety_net import MENTION_ENTITY
from overrides.rasa_components import component_storage, no_action_probabilities, policy_prediction

FOOTER = "utter_crisis_footer"
# Replies that already give the emergency and crisis lines: no footer after them.
CARRIES_THE_LINES = {"utter_crisis", "utter_default", "utter_find_help", FOOTER}
# Run after every message without replying.
NOT_REPLIES = {ACTION_LISTEN_NAME, ACTION_EXTRACT_SLOTS}
# RulePolicy's default priority is 6; a tie on confidence goes to the higher priority.
PRIORITY = 7


def mentions_a_crisis(user: UserUttered | None) -> bool:
    return bool(user) and any(e.get("entity") == MENTION_ENTITY for e in user.entities)  # type: ignore[union-attr]


def actions_since_user(tracker: DialogueStateTracker) -> list[str]:
    """The actions run since the latest user message, oldest first."""
    names: list[str] = []
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, ActionExecuted) and event.action_name:
            names.append(event.action_name)
    return names[::-1]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class CrisisFooterPolicy(Policy):
    """Predicts the footer after the first reply to a crisis mention, and `action_listen` after it."""

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
        """The footer after the first reply, then listening; None (abstain) otherwise."""
        if not mentions_a_crisis(tracker.latest_message):
            return None
        replies = [a for a in actions_since_user(tracker) if a not in NOT_REPLIES]
        if replies[-1:] == [FOOTER]:
            return ACTION_LISTEN_NAME
        if len(replies) != 1 or replies[0] in CARRIES_THE_LINES:
            return None
        return FOOTER
