"""RulePolicy that reads only as much of the conversation as its longest rule can look at.

Rasa's RulePolicy turns the *whole* conversation into states (one per action, each with intent,
entities, slots and previous action) for every action it predicts, twice after a user message (text,
then intent), then matches its rules against the end of that list. The work grows with the
conversation: at message 300 of one conversation it was a fifth of the server's time
(docs/performance.md).

A rule of m states is only ever compared with the last m states (`RulePolicy._is_rule_applicable`
accepts every rule once it is further back than the rule is long). So the last `longest rule + 1`
states decide exactly what the full list decides: the rule keys that match are the same, a rule that
needs the conversation start still sees whether the conversation is longer than the rule, and when
no rule matches, the states key (a prediction source, never a rule key) is still longer than any rule.

Getting those last states still needs the conversation replayed from its start. `RecentStates` keeps,
per conversation, the replayed tracker and the last states, and replays only events it has not seen
(next action in the same message, next message) -- but only when the tracker's events begin with the
events it replayed (the same objects, which the incremental tracker store hands out, or equal ones
read back from the database) and the new events are ones `applied_events` simply appends. Anything
else is replayed from the start, as Rasa does.
"""

from __future__ import annotations

import copy
import json
import operator
from collections import OrderedDict, deque
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from overrides.rasa_components import RulePolicyStatesSeam, clean_state, rule_key_to_state
from overrides.tracker_copy import REWRITES_HISTORY

# Events after which `applied_events` is not "the applied events so far, plus this one".
NOT_SIMPLY_APPENDED = REWRITES_HISTORY
KEPT_CONVERSATIONS = 1000


@dataclass
class Replayed:
    """One conversation replayed up to `events`, with the states before its last actions."""

    domain: Domain
    turns: int
    omit_unset_slots: bool
    events: list[Event]
    tracker: DialogueStateTracker
    before_actions: deque[State]


def state_of(domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool) -> State:
    # What Domain.states_for_tracker_history computes for each prior tracker (rule turns not ignored).
    return clean_state(domain, domain.get_active_state(tracker, omit_unset_slots=omit_unset_slots))


def replay(replayed: Replayed, events: list[Event], unneeded_states: int = 0) -> None:
    """As `generate_all_prior_trackers`: the state before each action, then the event is applied.

    The states before the first `unneeded_states` actions are not computed (they would drop out
    of `before_actions` anyway).
    """
    actions = 0
    for event in events:
        if isinstance(event, ActionExecuted):
            if actions >= unneeded_states:
                state = state_of(replayed.domain, replayed.tracker, replayed.omit_unset_slots)
                replayed.before_actions.append(state)
            actions += 1
        replayed.tracker.update(event)
    replayed.events.extend(events)


def same_event(event: Event, replayed: Event) -> bool:
    """The same object, or one read back from the database with the same content.

    The last message's events were replayed as the processor made them; the next message's tracker
    has them as read back from the database (the incremental store keeps those objects from then
    on). Equal JSON (as stored: tuples become lists) means equal states; anything that differs
    (e.g. redacted text) means a replay from the start.
    """
    return event is replayed or as_json(event) == as_json(replayed)


def same_events(events: list[Event], replayed: list[Event]) -> bool:
    """`same_event` for each pair; identity is checked for all at C speed first (the usual case:
    all the same objects but for the last message's, read back from the database)."""
    identical = list(map(operator.is_, events, replayed))
    first_other = identical.index(False) if False in identical else len(identical)
    return all(map(same_event, events[first_other:], replayed[first_other:]))


def as_json(event: Event) -> str:
    return json.dumps(event.as_dict(), sort_keys=True, default=str)


class RecentStates:
    """The last `turns` states of conversations, replaying only what is new."""

    def __init__(self, kept_conversations: int = KEPT_CONVERSATIONS) -> None:
        self._kept: OrderedDict[str, Replayed] = OrderedDict()
        self._size = kept_conversations

    def states(
        self, tracker: DialogueStateTracker, domain: Domain, turns: int, omit_unset_slots: bool = False
    ) -> list[State]:
        replayed = self._continue(tracker, domain, turns, omit_unset_slots)
        if replayed is None:
            replayed = self._from_start(tracker, domain, turns, omit_unset_slots)
        last = state_of(domain, replayed.tracker, omit_unset_slots)
        # Copies: the featurizer edits the last user state in place.
        return [*copy.deepcopy(list(replayed.before_actions)), last][-turns:]

    def _continue(
        self, tracker: DialogueStateTracker, domain: Domain, turns: int, omit_unset_slots: bool
    ) -> Replayed | None:
        replayed = self._kept.get(tracker.sender_id)
        if (
            replayed is None
            or replayed.domain is not domain
            or (replayed.turns, replayed.omit_unset_slots) != (turns, omit_unset_slots)
        ):
            return None
        seen = len(replayed.events)
        if len(tracker.events) < seen:
            return None
        known = list(islice(tracker.events, seen))
        if not same_events(known, replayed.events):
            return None
        new = list(islice(tracker.events, seen, None))
        if any(isinstance(event, NOT_SIMPLY_APPENDED) for event in new):
            return None
        replayed.events = known
        replay(replayed, new)
        self._kept.move_to_end(tracker.sender_id)
        return replayed

    def _from_start(
        self, tracker: DialogueStateTracker, domain: Domain, turns: int, omit_unset_slots: bool
    ) -> Replayed:
        replayed = Replayed(domain, turns, omit_unset_slots, [], tracker.init_copy(), deque(maxlen=turns - 1))
        applied = tracker.applied_events()
        actions = sum(isinstance(event, ActionExecuted) for event in applied)
        replay(replayed, applied, unneeded_states=actions - (turns - 1))
        replayed.events = list(tracker.events)
        # Only plain trackers with no loops are continued later: for those, `applied_events` of a
        # longer event list is the kept one plus the new events when none of these is in
        # NOT_SIMPLY_APPENDED (checked in `_continue`). Training trackers are never kept.
        plain = not isinstance(tracker, TrackerWithCachedStates) and not tracker.is_rule_tracker
        if plain and not any(isinstance(e, ActiveLoop) and e.name for e in tracker.events):
            self._kept[tracker.sender_id] = replayed
            self._kept.move_to_end(tracker.sender_id)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return replayed


class RecentHistory:
    """The part of a tracker the featurizer reads (`past_states`), limited to the last `turns` states."""

    def __init__(self, tracker: DialogueStateTracker, turns: int, recent: RecentStates) -> None:
        self._tracker = tracker
        self._turns = turns
        self._recent = recent

    def past_states(
        self,
        domain: Domain,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[State]:
        if ignore_rule_only_turns:
            # Hiding rule turns depends on the turns before the window: take the whole history.
            return self._tracker.past_states(domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        return self._recent.states(self._tracker, domain, self._turns, omit_unset_slots)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class RecentRulePolicy(RulePolicyStatesSeam):
    """RulePolicy with the same predictions, at a cost that does not grow with the conversation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent = RecentStates()

    def history_window(self) -> int:
        """States needed: the longest rule's, plus one to tell "longer than the rule" from "as long".

        Computed on each call (a few dozen cached lookups): during training the rules are still
        being collected when the policy first predicts.
        """
        keys = [*self.lookup.get(RULES, {}), *self.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})]
        return 1 + max((len(rule_key_to_state(key)) for key in keys), default=0)

    def prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[State]:
        recent = cast(DialogueStateTracker, RecentHistory(tracker, self.history_window(), self._recent))
        return super().prediction_states(recent, domain, use_text_for_last_user_input, rule_only_data)
