"""The shipped reference recipes: what model, which data, which loss (issue 17 §3).

A :class:`Recipe` turns hyper-parameters into a model and records into tensors; the training
loop (:mod:`pausewatch.transcript._train`) is shared. Both recipes train with plain SGD (no
momentum: the weights are the whole training state, so a checkpoint is a complete restart
point) and have no dropout or any other randomness outside the seed-derived generators.

- ``mlp``: a two-layer perceptron on scikit-learn's bundled 8x8 digits.
- ``tinylm``: a one-block causal transformer language model over the characters of the
  generated arithmetic lines ``aa+bb=ccc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class Recipe(Protocol):
    """A reference training recipe."""

    @property
    def name(self) -> str:
        """The recipe's name (``mlp``, ``tinylm``)."""

    @property
    def description(self) -> str:
        """One line on what it trains."""

    @property
    def dataset_name(self) -> str:
        """The bundled dataset it trains on (:func:`pausewatch.transcript._data.dataset`)."""

    @property
    def defaults(self) -> Mapping[str, Any]:
        """The default hyper-parameters; ``lr`` and ``batch_size`` are always among them."""

    @property
    def bounds(self) -> Mapping[str, tuple[int, int]]:
        """The inclusive range of each integer size hyper-parameter (``batch_size`` is further
        bounded by the dataset's records), so that no manifest can ask for a huge model."""

    def constraint(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """What is wrong with in-bounds sizes that still cannot build the model, or None."""

    def build(self, hyperparameters: Mapping[str, Any]) -> torch.nn.Module:
        """A freshly initialised model (from torch's global generator, which the caller seeds)."""

    def encode(self, records: Sequence[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of ``records``, stacked along the first dimension."""

    def loss(
        self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The mean training loss of ``model`` on a batch."""


@dataclass(frozen=True, slots=True)
class MlpRecipe:
    """A two-layer perceptron classifying scikit-learn's 8x8 digits."""

    name: str = "mlp"
    description: str = "two-layer perceptron on scikit-learn's bundled 8x8 digits (10 classes)"
    dataset_name: str = "sklearn-digits/v1"
    defaults: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({"lr": 0.1, "batch_size": 32, "hidden": 64})
    )
    bounds: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType({"batch_size": (1, 4096), "hidden": (1, 4096)})
    )

    def constraint(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """None: any in-bounds hidden size builds."""
        return None

    def build(self, hyperparameters: Mapping[str, Any]) -> torch.nn.Module:
        """Linear(64, hidden) -> ReLU -> Linear(hidden, 10)."""
        from torch import nn

        hidden = int(hyperparameters["hidden"])
        return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def encode(self, records: Sequence[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels scaled to [0, 1] and the label."""
        import torch

        raw = torch.tensor([list(r) for r in records], dtype=torch.uint8)
        return raw[:, :64].to(torch.float32) / 16.0, raw[:, 64].to(torch.int64)

    def loss(
        self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Cross-entropy of the logits."""
        from torch.nn import functional

        return functional.cross_entropy(model(inputs), targets)


VOCABULARY = "0123456789+=\n"
"""The characters of the arithmetic lines, in token order."""

LINE_TOKENS = 9
"""Input positions of an arithmetic line ``aa+bb=ccc\\n`` (its 10 characters but the last)."""


def _tiny_lm(hyperparameters: Mapping[str, Any]) -> torch.nn.Module:
    import torch
    from torch import nn
    from torch.nn import functional

    width = int(hyperparameters["width"])
    heads = int(hyperparameters["heads"])
    layers = int(hyperparameters["layers"])
    context = int(hyperparameters["context"])

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1 = nn.LayerNorm(width)
            self.qkv = nn.Linear(width, 3 * width)
            self.proj = nn.Linear(width, width)
            self.norm2 = nn.LayerNorm(width)
            self.up = nn.Linear(width, 4 * width)
            self.down = nn.Linear(4 * width, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
            shape = (b, t, heads, c // heads)
            q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
            out: torch.Tensor = x + self.down(functional.gelu(self.up(self.norm2(x))))
            return out

    class TinyLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(len(VOCABULARY), width)
            self.position = nn.Embedding(context, width)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, len(VOCABULARY))

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(tokens.shape[1])
            x = self.embed(tokens) + self.position(positions)
            for block in self.blocks:
                x = block(x)
            logits: torch.Tensor = self.head(self.norm(x))
            return logits

    return TinyLM()


@dataclass(frozen=True, slots=True)
class TinyLmRecipe:
    """A tiny causal transformer predicting the next character of ``aa+bb=ccc`` lines."""

    name: str = "tinylm"
    description: str = "one-block causal transformer, characters of generated 'aa+bb=ccc' lines"
    dataset_name: str = "arithmetic-lines/v1"
    defaults: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType(
            {"lr": 0.3, "batch_size": 32, "width": 32, "heads": 2, "layers": 1, "context": 9}
        )
    )
    bounds: Mapping[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType(
            {
                "batch_size": (1, 4096),
                "width": (1, 1024),
                "heads": (1, 64),
                "layers": (1, 16),
                # A line is 10 characters: 9 input positions need 9 position embeddings.
                "context": (LINE_TOKENS, 64),
            }
        )
    )

    def constraint(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """The heads must divide the width."""
        width, heads = hyperparameters["width"], hyperparameters["heads"]
        return None if width % heads == 0 else f"heads ({heads}) must divide width ({width})"

    def build(self, hyperparameters: Mapping[str, Any]) -> torch.nn.Module:
        """Token and position embeddings, ``layers`` pre-norm blocks, a linear head."""
        return _tiny_lm(hyperparameters)

    def encode(self, records: Sequence[bytes]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each line's characters as tokens: inputs all but the last, targets all but the
        first."""
        import torch

        table = {ord(c): i for i, c in enumerate(VOCABULARY)}
        tokens = torch.tensor([[table[b] for b in r] for r in records], dtype=torch.int64)
        return tokens[:, :-1], tokens[:, 1:]

    def loss(
        self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Mean next-character cross-entropy."""
        from torch.nn import functional

        logits = model(inputs)
        return functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


RECIPES: Mapping[str, Recipe] = MappingProxyType({"mlp": MlpRecipe(), "tinylm": TinyLmRecipe()})
"""The shipped recipes by name."""


__all__ = ["RECIPES", "VOCABULARY", "MlpRecipe", "Recipe", "TinyLmRecipe"]
