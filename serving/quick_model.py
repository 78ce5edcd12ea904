"""The quick model `make run` answers with while the full one trains: config.yml without the DIETs.

On a fresh machine the full model takes many minutes to train (DIET is most of it). Without any
DIET, the same pipeline (the same features, the logistic regression of the second opinion alone,
the same fallback, safety net, language detection and policies) trains in about a minute, so a
newcomer gets a first answer within minutes; scripts/serve.sh then trains the full model in the
background and the servers switch to it when it is ready (serving/model_server.py). The safety net
does not depend on the classifiers: crises, dosing questions and out-of-scope questions get the
same replies from either model.

Usage: python -m serving.quick_model OUT.yml   (writes the quick config derived from config.yml)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yml"
# The components the quick model leaves out: each trains a DIET.
SLOW = ("components.fast_diet.FastDIETClassifier", "components.diet_ensemble.DIETEnsembleMember")


def quick_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` without its DIETs; refuses a config that would be left with no intent classifier."""
    pipeline = [c for c in config["pipeline"] if c.get("name") not in SLOW]
    names = [c.get("name") for c in pipeline]
    if "components.second_opinion.SecondOpinionClassifier" not in names:
        raise ValueError("config.yml has no SecondOpinionClassifier: the quick model would classify nothing")
    return {**config, "pipeline": pipeline}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by serving/quick_model.py from config.yml: the same pipeline without its DIETs.\n"
    out.write_text(header + yaml.safe_dump(quick_config(config), sort_keys=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
