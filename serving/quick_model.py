"""The quick model `make run` answers with while the full one trains: config.yml without the DIETs.

On a fresh machine the full model takes many minutes to train (DIET is most of it). Without any
DIET, the same pipeline (the same features, the logistic regression of the second opinion alone,
the same fallback, safety net, language detection and policies) trains in about a minute, so a
newcomer gets a first answer within minutes; scripts/serve.sh then trains the full model in the
background and the servers switch to it when it is ready (serving/model_server.py). The safety net
does not depend on the classifiers: crises, dosing questions and out-of-scope questions get the
same replies from either model.

Usage: python -m serving.quick_model OUT.yml   (writes the quick config derived from config.yml)
       python -m serving.quick_model --diets    (prints how many DIETs config.yml trains)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yml"
# The component whose DIETs the quick model leaves out (its `diet_seeds`: one DIET per seed).
DECIDER = "components.intent_decider.IntentDecider"


def quick_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with no DIET in its intent decider; refuses a config without the decider."""
    if not any(c.get("name") == DECIDER for c in config["pipeline"]):
        raise ValueError(f"config.yml has no {DECIDER}: the quick model would classify nothing")
    pipeline = [{**c, "diet_seeds": []} if c.get("name") == DECIDER else c for c in config["pipeline"]]
    return {**config, "pipeline": pipeline}


def diet_count(config: dict[str, Any]) -> int:
    """How many DIETs the config trains (scripts/serve.sh estimates the full training from it)."""
    return sum(len(c.get("diet_seeds", [42])) for c in config["pipeline"] if c.get("name") == DECIDER)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    if argv[0] == "--diets":
        print(diet_count(config))
        return 0
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by serving/quick_model.py from config.yml: the same pipeline without its DIETs.\n"
    out.write_text(header + yaml.safe_dump(quick_config(config), sort_keys=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
