"""Trains a model once per set of inputs, cold (no Rasa training cache), and remembers how long it took."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs(config: Path, extra: list[Path]) -> list[Path]:
    return [config, ROOT / "domain.yml", *extra, *(ROOT / "data").rglob("*.yml")]


def trained_model(
    name: str, config: Path, extra_inputs: list[Path], cache: Path, env: dict[str, str]
) -> dict:
    """Path and training seconds of the model for `config`; trains only when an input changed."""
    folder = cache / name
    meta_file = folder / "meta.json"
    model = folder / f"{name}.tar.gz"
    print_name = f"{name} ({config.relative_to(ROOT)})"
    key = fingerprint(inputs(config, extra_inputs))
    if is_cached(name, config, extra_inputs, cache):
        meta = json.loads(meta_file.read_text())
        print(f"  {print_name}: cached, trained in {meta['train_seconds']:.0f} s")
        return {"model": model, "train_seconds": meta["train_seconds"]}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Auto-configuration writes the defaults it chose back into the config file: train from a copy.
    config_copy = folder / "config.yml"
    shutil.copy(config, config_copy)
    print(f"  {print_name}: training (cold, no training cache) ...", flush=True)
    began = time.monotonic()
    with (folder / "train.log").open("w") as log:
        subprocess.run(
            [
                str(BIN / "rasa"),
                "train",
                "-c",
                str(config_copy),
                "--data",
                "data",
                "--out",
                str(folder),
                "--fixed-model-name",
                name,
            ],
            cwd=ROOT,
            env={**env, "RASA_MAX_CACHE_SIZE": "0", "RASA_CACHE_DIRECTORY": str(folder / "cache")},
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    seconds = time.monotonic() - began
    meta_file.write_text(json.dumps({"fingerprint": key, "train_seconds": seconds}))
    print(f"  {print_name}: trained in {seconds:.0f} s")
    return {"model": model, "train_seconds": seconds}


def is_cached(name: str, config: Path, extra_inputs: list[Path], cache: Path) -> bool:
    """Whether `trained_model` would find the model for these inputs in `cache` (and not train)."""
    meta_file, model = cache / name / "meta.json", cache / name / f"{name}.tar.gz"
    if not (meta_file.exists() and model.exists()):
        return False
    return bool(
        json.loads(meta_file.read_text()).get("fingerprint") == fingerprint(inputs(config, extra_inputs))
    )


def project_extra_inputs() -> list[Path]:
    """Files outside config/data/domain that change the project's model."""
    files = [*(ROOT / "components").glob("*.py"), *(ROOT / "content").glob("*.yml")]
    files.append(ROOT / "build" / "spacy_model" / "meta.json")
    return [f for f in files if f.exists()]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RASA_CACHE")}
