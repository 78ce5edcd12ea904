"""Private parts of Rasa's policies and NLU components, for components/.

Each helper does what the private call did where it was used, and is listed in
`overrides.PRIVATE_USES` (version-checked); why they live here: overrides/README.md, "Private uses".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message

# Components (Policy and DIETClassifier keep these as private attributes).


def component_storage(component: Policy | DIETClassifier) -> tuple[ModelStorage, Resource]:
    """The model storage and resource a policy or DIET was created with (`_model_storage`, `_resource`)."""
    return component._model_storage, component._resource


# Policies.


def no_action_probabilities(policy: Policy, domain: Domain) -> list[float]:
    """A zero for every action of the domain (`Policy._default_predictions`)."""
    return policy._default_predictions(domain)


def policy_prediction(policy: Policy, probabilities: list[float]) -> PolicyPrediction:
    """The prediction a policy returns for these probabilities (`Policy._prediction`)."""
    return policy._prediction(probabilities)


def clean_state(domain: Domain, state: State) -> State:
    """A state as the featurizer stores it, without empty parts (`Domain._clean_state`)."""
    return domain._clean_state(state)


def rule_key_to_state(rule_key: str) -> list[State]:
    """The states of one of RulePolicy's rules, from its lookup key (`RulePolicy._rule_key_to_state`)."""
    return RulePolicy._rule_key_to_state(rule_key)


class RulePolicyStatesSeam(RulePolicy):
    """RulePolicy whose `_prediction_states` (the states its rules are matched against) hands over
    to the public `prediction_states`, for subclasses to override."""

    def _prediction_states(self, *args: Any, **kwargs: Any) -> list[State]:
        return self.prediction_states(*args, **kwargs)

    def prediction_states(
        self, tracker: DialogueStateTracker, domain: Domain, *args: Any, **kwargs: Any
    ) -> list[State]:
        """RulePolicy's own (`Policy._prediction_states`): the tracker, the domain, then
        `use_text_for_last_user_input` and `rule_only_data`."""
        return RulePolicy._prediction_states(self, tracker, domain, *args, **kwargs)


# DIETClassifier.

DIETType = TypeVar("DIETType", bound=DIETClassifier)


def sharing_model(cls: type[DIETType], diet: DIETClassifier) -> DIETType:
    """A `cls` component with the same configuration, labels and (shared) TF model as `diet` (its
    private `_model_storage`, `_resource`, `_execution_context`, `_entity_tag_specs`,
    `_sparse_feature_sizes` and `_label_data`)."""
    component = cls(
        config=dict(diet.component_config),
        model_storage=diet._model_storage,
        resource=diet._resource,
        execution_context=diet._execution_context,
        index_label_id_mapping=diet.index_label_id_mapping,
        entity_tag_specs=diet._entity_tag_specs,
        model=diet.model,
        sparse_feature_sizes=diet._sparse_feature_sizes,
    )
    component._label_data = diet._label_data
    return component


def diet_labels_and_sizes(cls: type[DIETClassifier], model_path: Path) -> tuple[Any, Any, Any]:
    """Rasa's own reader of a persisted DIET's labels, entity tags and sparse feature sizes
    (`DIETClassifier._load_from_files`; the data example and label data it also returns only build
    the TF model)."""
    index_label_id_mapping, entity_tag_specs, _, _, sparse_feature_sizes = cls._load_from_files(model_path)
    return index_label_id_mapping, entity_tag_specs, sparse_feature_sizes


class DIETPredictSeam(DIETClassifier):
    """DIETClassifier whose `_predict` (one message's forward pass) hands over to the public
    `predict_message`, for subclasses to override; `tensorflow_predict` is DIET's own."""

    def _predict(self, message: Message) -> dict[str, Any] | None:
        return self.predict_message(message)

    def predict_message(self, message: Message) -> dict[str, Any] | None:
        return self.tensorflow_predict(message)

    def tensorflow_predict(self, message: Message) -> dict[str, Any] | None:
        """DIETClassifier's prediction (`DIETClassifier._predict`)."""
        return DIETClassifier._predict(self, message)


# LogisticRegressionClassifier.


def logistic_regression_features(classifier: LogisticRegressionClassifier, messages: list[Message]) -> Any:
    """The sparse matrix the classifier predicts from (`LogisticRegressionClassifier._create_X`)."""
    return classifier._create_X(messages)
