"""Build the project's spaCy pipeline from files in this repository (no model download).

The pipeline is a blank English tokenizer, the lookup lemmatizer from spacy-lookups-data and an
entity ruler whose MEDICATION patterns come from content/medications.yml. Rasa's SpacyNLP loads it
from the output directory.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import spacy
import yaml
from spacy.pipeline import EntityRuler

ROOT = Path(__file__).resolve().parent.parent


def medication_patterns(catalogue: Path) -> list[dict]:
    """One token-level, case-insensitive pattern per spelling; `id` is the canonical key."""
    data = yaml.safe_load(catalogue.read_text(encoding="utf-8"))
    tokenizer = spacy.blank("en").tokenizer

    def pattern(label: str, key: str, phrase: str) -> dict:
        tokens = [t.text.lower() for t in tokenizer(str(phrase))]
        return {"label": label, "id": key, "pattern": [{"LOWER": tok} for tok in tokens]}

    patterns = [
        pattern("MEDICATION", med["key"], name) for med in data["medications"] for name in med["names"]
    ]
    # The ruler keeps the longest match, so "dope sick" hides "dope".
    patterns += [pattern("NOT_MEDICATION", "", p) for p in data.get("not_medications", [])]
    return patterns


def build(catalogue: Path, output: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("entity_ruler")
    nlp.initialize()
    assert isinstance(ruler, EntityRuler)
    ruler.add_patterns(medication_patterns(catalogue))
    nlp.meta["name"] = "opioid_faq"
    nlp.meta["description"] = "Tokenizer, lookup lemmatizer and medication entity ruler"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    nlp.to_disk(tmp)
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalogue", type=Path, default=ROOT / "content" / "medications.yml")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "spacy_model")
    args = parser.parse_args()
    build(args.catalogue, args.output)
    print(f"spaCy pipeline written to {args.output}")


if __name__ == "__main__":
    main()
