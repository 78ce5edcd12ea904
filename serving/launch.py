"""Runs a `rasa` command with the project's overrides installed: the one way this project starts Rasa.

`make run`, `make shell`, the production profile (scripts/prod.sh) and the benchmark all start Rasa
through here, so development and production run the same code. Before anything of Rasa runs, the
overrides (overrides/README.md) check the installed Rasa and Sanic versions: on any version but the
pinned ones, start-up stops with a message naming each override that would break.

Before Rasa starts, what loading the model imports (Rasa's and the project's pipeline components,
scikit-learn, spaCy's pipeline modules) is imported here, in the process the Sanic workers are
forked from, so the workers share those modules instead of each importing its own copy while
loading the model (docs/performance.md).

Usage: the arguments of the `rasa` command, e.g. `python -m serving.launch run -m models/... `.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import overrides

COMPONENTS = Path(__file__).resolve().parent.parent / "components"
# Rasa's built-in components (DIET, CountVectorsFeaturizer, ...), and what spacy.load() imports.
LIBRARY_MODULES = (
    "rasa.engine.recipes.default_components",
    "spacy.lang.en",
    "spacy.pipeline",
    "spacy.training",
    "spacy.cli",
    "thinc.api",
)


def preload_modules() -> list[str]:
    """Import what loading the model would (every module of components/ and LIBRARY_MODULES)."""
    project = sorted(f"components.{p.stem}" for p in COMPONENTS.glob("*.py") if p.stem != "__init__")
    names = [*LIBRARY_MODULES, *project]
    for name in names:
        importlib.import_module(name)
    return names


# Library warnings (deprecations in TensorFlow, jax, Click, pyparsing, SQLAlchemy, mostly while
# importing) go to this file instead of the terminal, where pages of them hid the lines that matter.
WARNINGS_LOG_VARIABLE = "WARNINGS_LOG"
DEFAULT_WARNINGS_LOG = "var/log/library-warnings.log"


def warnings_to_log(path: Path) -> bool:
    """Sends Python warnings to `path` (appended, with time and process); False if it cannot be
    written, and then they stay on the terminal. TensorFlow's C++ notices (no CUDA, oneDNN) are not
    Python warnings: only its errors are printed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return False
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(message)s"))
    captured = logging.getLogger("py.warnings")
    captured.addHandler(handler)
    captured.propagate = False
    logging.captureWarnings(True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return True


def main() -> None:
    warnings_to_log(Path(os.environ.get(WARNINGS_LOG_VARIABLE) or DEFAULT_WARNINGS_LOG))
    try:
        installed = overrides.install()
    except (overrides.UnsupportedVersion, ValueError) as refusal:
        print(f"serving.launch: not starting Rasa.\n{refusal}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.getLogger(__name__).debug("overrides: %s", installed)
    preload_modules()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
