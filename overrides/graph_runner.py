"""Rasa's graph runs without building a dask graph for every run.

Rasa runs its prediction graph several times per message: once to parse it, then once per action
it predicts (the policies). Each `DaskGraphRunner.run` first derives the minimal schema for its
targets from the whole graph, builds a dask graph from it, has dask order its tasks, and only then
calls the nodes one after another (dask's synchronous scheduler: Rasa never runs nodes in
parallel). All of that depends only on the targets and on which inputs are given, never on the
values, so `OrderedGraphRunner` works it out once per (targets, input names) and afterwards calls
the same nodes, with the same arguments, in the order dask runs them (recorded once by letting dask
run the same graph with a recorder in place of each node).

What a run returns, and what it raises, is what `DaskGraphRunner.run` returns and raises: the
targets' outputs by node name (an input asked for as a target: its `(name, value)` pair); a node's
dependency that is neither a node nor an input is passed as its name (GraphNode then logs it and
reports the missing input); a `RuntimeError` becomes `GraphRunError`. Parity, and that the nodes
run in dask's order: tests/test_graph_runner.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask
import rasa.core.processor
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphNode
from rasa.engine.runner.dask import DaskGraphRunner

# The nodes to call, in order, each with the names of its inputs; and every node name of the
# targets' minimal schema.
Plan = tuple[tuple[tuple[str, GraphNode, tuple[str, ...]], ...], frozenset[str]]


class OrderedGraphRunner(DaskGraphRunner):
    """`DaskGraphRunner` whose runs follow a plan worked out once per targets and input names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[tuple[str, ...], frozenset[str]], Plan] = {}

    def run(self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = targets if targets else self._graph_schema.target_names
        inputs = inputs or {}
        key = (tuple(run_targets), frozenset(inputs))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(list(run_targets), set(inputs))
        steps, graph_keys = plan
        added: set[str] = set()
        for input_name, input_value in inputs.items():
            # As DaskGraphRunner._add_inputs_to_graph: a string value naming a key is refused.
            if isinstance(input_value, str) and (input_value in graph_keys or input_value in added):
                raise GraphRunError(
                    f"Input value '{input_value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            added.add(input_name)
        # Each value as dask hands it on: a node's output is its (name, output) pair; an input,
        # (name, value).
        values: dict[str, Any] = {name: (name, value) for name, value in inputs.items()}
        try:
            for name, node, needs in steps:
                values[name] = node(*[values.get(need, need) for need in needs])
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)

    def _plan(self, targets: list[str], given: set[str]) -> Plan:
        """The nodes dask runs for these targets and inputs, in the order it runs them: found by
        letting dask run the same graph once with each node replaced by a recorder."""
        minimal = self._graph_schema.minimal_graph_schema(targets)
        order: list[str] = []

        def recorder(name: str) -> Callable[..., str]:
            def record(*_: Any) -> str:
                order.append(name)
                return name

            return record

        dry_run: dict[str, Any] = {
            name: (recorder(name), *node.needs.values()) for name, node in minimal.nodes.items()
        }
        for name in given:
            dry_run[name] = (name, None)  # as _add_inputs_to_graph: a literal, not a task
        dask.get(dry_run, targets)
        steps = tuple(
            (name, self._instantiated_nodes[name], tuple(minimal.nodes[name].needs.values()))
            for name in order
        )
        return steps, frozenset(minimal.nodes)


def install() -> None:
    rasa.core.processor.DaskGraphRunner = OrderedGraphRunner


def uninstall() -> None:
    rasa.core.processor.DaskGraphRunner = DaskGraphRunner
