"""The export-time check: a written graph against the eager model, on shapes it was not traced
with.

Each graph is run on random valid inputs of several sizes other than the traced ones (ragged
lengths included; a batch of one and a single step among them), by the exported file and by
eager PyTorch; a graph that carries a state (``carry``, e.g. ``hn -> h0``) is called twice,
the second call starting from the first call's state, each runtime from its own. The largest
absolute difference over every output is the check's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.errors import OptionHint
from rnnkit.export.errors import ExportError
from rnnkit.export.runtime import GraphRunner
from rnnkit.export.spec import Graph

TOLERANCE = 1e-4
"""Largest absolute difference an export may have from eager PyTorch."""

TRACE_SIZES: dict[str, int] = {"B": 3, "T": 7, "S": 6, "N": 4, "L": 5, "W": 9}
"""Sizes the graphs are traced with (none is 1: a traced 1 can be taken for a constant)."""

CHECK_SIZES: tuple[dict[str, int], ...] = (
    {"B": 5, "T": 12, "S": 9, "N": 6, "L": 8, "W": 13},
    {"B": 1, "T": 1, "S": 1, "N": 1, "L": 1, "W": 1},
    {"B": 2, "T": 4, "S": 3, "N": 2, "L": 3, "W": 4},
)
"""Sizes the graphs are checked on: other batch sizes, lengths and widths than the traced."""


@dataclass
class CheckResult:
    """What the check of one graph found."""

    graph: str
    """The graph's name."""
    max_abs_diff: float
    """Largest absolute difference from eager over every output, size and call."""
    worst: str
    """Where it was: output, sizes and call."""
    calls: int
    """Calls compared."""


def sizes_for(graph: Graph, base: Mapping[str, int]) -> dict[str, int]:
    """``base`` with any dimension the graph names but ``base`` lacks set to 3."""
    sizes = dict(base)
    for t in [*graph.inputs, *graph.outputs]:
        for s in t.shape:
            if isinstance(s, str):
                sizes.setdefault(s.split("+")[0], 3)
    return sizes


def check_graph(
    graph: Graph,
    runner: GraphRunner,
    tolerance: float = TOLERANCE,
    check_sizes: Sequence[Mapping[str, int]] = CHECK_SIZES,
    seed: int = 0,
) -> CheckResult:
    """Compare a written graph with its eager module.

    Raises:
        ExportError: an output differs by more than ``tolerance`` (or has another shape), with
            the output, the sizes and the difference named.
    """
    generator = torch.Generator().manual_seed(seed)
    worst, where, calls = 0.0, "", 0
    for base in check_sizes:
        sizes = sizes_for(graph, base)
        feeds = graph.sample(sizes, generator)
        eager_feeds, graph_feeds = dict(feeds), dict(feeds)
        for call in range(2 if graph.carry else 1):
            with torch.no_grad():
                args = tuple(eager_feeds[t.name] for t in graph.inputs)
                expected = _outputs(graph, graph.module(*args))
            got = runner(**{t.name: graph_feeds[t.name] for t in graph.inputs})
            calls += 1
            for spec in graph.outputs:
                a, b = got[spec.name], expected[spec.name]
                label = f"{spec.name} at {_sizes_text(graph, sizes)}, call {call + 1}"
                if tuple(a.shape) != tuple(b.shape):
                    raise ExportError(
                        f"the exported graph {graph.name!r} gives {spec.name} of shape "
                        f"{tuple(a.shape)} where eager PyTorch gives {tuple(b.shape)} "
                        f"({label})",
                        "the model does not keep its dimensions dynamic under export; please "
                        "report it",
                    )
                diff = _max_abs_diff(a, b)
                if diff > worst or not where:
                    worst, where = diff, label
            for out, into in graph.carry.items():  # the next call starts from this state
                eager_feeds[into], graph_feeds[into] = expected[out], got[out]
    if not worst <= tolerance:
        raise ExportError(
            f"the exported graph {graph.name!r} differs from eager PyTorch by {worst:.3g} "
            f"(max abs difference, {where}; the tolerance is {tolerance:g}): nothing was "
            "written",
            "report the model's config if it should export",
            option=OptionHint("tolerance", metavar="X", purpose="to accept a larger difference"),
        )
    return CheckResult(graph.name, worst, where, calls)


def _outputs(graph: Graph, value: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
    values = (value,) if isinstance(value, Tensor) else tuple(value)
    return {t.name: v.detach() for t, v in zip(graph.outputs, values, strict=True)}


def _max_abs_diff(a: Tensor, b: Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    a, b = a.double(), b.double()
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))  # equal infinities count as equal
    diff = (a - b).abs().masked_fill(same, 0.0)
    return float(diff.max())


def _sizes_text(graph: Graph, sizes: Mapping[str, int]) -> str:
    named = {s.split("+")[0] for t in graph.inputs for s in t.shape if isinstance(s, str)}
    return ", ".join(f"{k}={v}" for k, v in sizes.items() if k in named)
