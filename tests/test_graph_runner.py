"""overrides/graph_runner.py: OrderedGraphRunner runs what DaskGraphRunner runs, in the same order,
with the same results and the same errors; on small graphs here and on the project model."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import rasa.core.processor
from rasa.core.channels.channel import UserMessage
from rasa.engine.exceptions import GraphComponentException, GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphNode, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.nlu.training_data.loading import load_data

from overrides import graph_runner
from overrides.graph_runner import OrderedGraphRunner
from tests.test_fast_diet import ROOT


class Add(GraphComponent):
    """Adds its config's `amount` to the sum of its inputs; `fail` raises RuntimeError."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: Any, resource: Any, execution_context: Any) -> Add:
        return cls(config)

    def add(self, **inputs: Any) -> int:
        if self._config.get("fail"):
            raise RuntimeError("failing on purpose")
        return sum(inputs.values()) + self._config["amount"]


def node(needs: dict[str, str], amount: int = 1, target: bool = False, fail: bool = False) -> SchemaNode:
    return SchemaNode(
        needs=needs,
        uses=Add,
        constructor_name="create",
        fn="add",
        config={"amount": amount, "fail": fail},
        is_target=target,
    )


# A diamond with a side branch: a -> b, a -> c, (b, c) -> d; e needs an input only; f fails.
SCHEMA = GraphSchema(
    {
        "a": node({"x": "__input__"}, 1),
        "b": node({"x": "a"}, 10),
        "c": node({"x": "a"}, 100),
        "d": node({"x": "b", "y": "c"}, 1000, target=True),
        "e": node({"x": "__other__"}, 5),
        "f": node({"x": "a"}, fail=True),
    }
)


@pytest.fixture
def runners(tmp_path) -> Iterator[tuple[DaskGraphRunner, OrderedGraphRunner, list[str]]]:
    """Both runners on the same schema, and the names of the nodes as they are called."""
    calls: list[str] = []
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(SCHEMA, "model")
    dask_runner = DaskGraphRunner.create(SCHEMA, storage, context, [])
    ordered = OrderedGraphRunner.create(SCHEMA, storage, context, [])
    assert isinstance(ordered, OrderedGraphRunner)
    original = GraphNode.__call__

    def recording(self: GraphNode, *args: Any) -> Any:
        calls.append(self._node_name)
        return original(self, *args)

    GraphNode.__call__ = recording
    try:
        yield dask_runner, ordered, calls
    finally:
        GraphNode.__call__ = original


def both(runners: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Each runner's result (or the exception's type and message), and that the calls matched."""
    dask_runner, ordered, calls = runners
    results = []
    orders = []
    for runner in (dask_runner, ordered, ordered):  # the second ordered run follows the saved plan
        calls.clear()
        try:
            results.append(runner.run(*args, **kwargs))
        except Exception as e:
            results.append((type(e), str(e), type(e.__cause__)))
        orders.append(list(calls))
    assert orders[0] == orders[1] == orders[2]
    assert results[0] == results[1] == results[2]
    return results[0], orders[0]


def test_the_same_results_in_the_same_order_as_dask(runners) -> None:
    result, order = both(runners, inputs={"__input__": 1}, targets=["d"])
    assert result == {"d": (1 + 1) + 10 + (1 + 1) + 100 + 1000}
    assert order[0] == "a" and order[-1] == "d" and set(order) == {"a", "b", "c", "d"}
    result, order = both(runners, inputs={"__input__": 1}, targets=["b", "c"])
    assert result == {"b": 12, "c": 102} and set(order) == {"a", "b", "c"}
    # No targets: the schema's targets.
    result, _ = both(runners, inputs={"__input__": 2})
    assert result == {"d": 3 + 10 + 3 + 100 + 1000}


def test_an_input_named_as_a_node_stands_in_for_it(runners) -> None:
    result, order = both(runners, inputs={"__input__": 1, "b": 7}, targets=["d"])
    assert result == {"d": 7 + 2 + 100 + 1000}
    assert "b" not in order
    # An input asked for as a target comes back as dask gives it.
    result, order = both(runners, inputs={"__input__": 1}, targets=["__input__", "a"])
    assert result == {"__input__": 1, "a": 2} and order == ["a"]


def test_the_same_errors_as_dask(runners) -> None:
    # A string input naming a node.
    result, _ = both(runners, inputs={"__input__": "a"}, targets=["d"])
    assert result[0] is GraphRunError and "clashes with a node name" in result[1]
    # A missing input: GraphNode is handed the name, and reports it.
    result, _ = both(runners, inputs={}, targets=["d"])
    assert result[0] is GraphRunError and "Missing input" in result[1], result
    # A node raising: GraphNode wraps the error.
    result, _ = both(runners, inputs={"__input__": 1}, targets=["f"])
    assert result[0] is GraphComponentException and result[2] is RuntimeError, result


def test_install_makes_the_processor_load_ordered_runners() -> None:
    graph_runner.install()
    try:
        assert rasa.core.processor.DaskGraphRunner is OrderedGraphRunner
    finally:
        graph_runner.uninstall()
    assert rasa.core.processor.DaskGraphRunner is DaskGraphRunner


@pytest.mark.model
def test_the_project_model_parses_and_predicts_the_same(model, tmp_path) -> None:
    """A conversation through the project's graph (parse, then the policies' prediction) with each
    runner: the same parse, the same predictions, the nodes called in the same order."""
    from scripts.evaluate import load_agent

    copy = tmp_path / "assistant.tar.gz"
    shutil.copy(model, copy)
    processor = load_agent(copy).processor
    runner = processor.graph_runner
    texts = [m.get("text") for m in load_data(str(ROOT / "tests" / "nlu_holdout.yml")).intent_examples][::8]
    calls: list[str] = []
    original = GraphNode.__call__

    def recording(self: GraphNode, *args: Any) -> Any:
        calls.append(self._node_name)
        return original(self, *args)

    async def conversation(sender: str) -> list[Any]:
        seen = []
        for text in texts:
            tracker = await processor.log_message(
                UserMessage(text, sender_id=sender), should_save_tracker=False
            )
            action, prediction = processor.predict_next_with_tracker_if_should(tracker)
            seen.append(
                (
                    tracker.latest_message.parse_data["intent"],
                    tracker.latest_message.parse_data["intent_ranking"],
                    tracker.latest_message.parse_data["entities"],
                    action.name(),
                    prediction.probabilities,
                    prediction.policy_name,
                )
            )
        return seen

    results, orders = [], []
    GraphNode.__call__ = recording
    try:
        for cls in (DaskGraphRunner, OrderedGraphRunner):
            runner.__class__ = cls
            runner._plans = {}
            calls.clear()
            results.append(asyncio.run(conversation(f"graph-runner-{cls.__name__}")))
            orders.append(list(calls))
    finally:
        GraphNode.__call__ = original
        runner.__class__ = DaskGraphRunner
    assert len(results[0]) == len(texts)
    assert results[0] == results[1]
    assert orders[0] == orders[1]
    assert len(runner._plans) >= 2  # parsing, predicting
