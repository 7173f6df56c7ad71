"""The task protocol: batches move (lengths stay on the CPU), states detach."""

from collections import namedtuple

import pytest
import torch

from rnnkit.train import detach_state, move_batch
from rnnkit.train.objective import map_tensors


def test_move_batch_keeps_lengths_on_the_cpu():
    batch = {"x": torch.ones(2, 3), "lengths": torch.tensor([3, 1]), "refs": ["a b", "c"]}
    moved = move_batch(batch, "meta")  # a device other than the CPU, available everywhere
    assert moved["x"].device.type == "meta"
    assert moved["lengths"].device.type == "cpu"
    assert moved["refs"] == ["a b", "c"]
    with pytest.raises(TypeError, match="a batch must be a dict of tensors.*got tuple"):
        move_batch((torch.ones(1),), "cpu")


def test_detach_state_handles_every_state_layout():
    w = torch.ones(2, requires_grad=True)
    h = w * 2
    State = namedtuple("State", "h c")
    for state in [h, (h, h * 3), [h], {"h": h}, State(h, h)]:
        detached = detach_state(state)
        assert type(detached) is type(state)
        flat = (
            detached.values()
            if isinstance(detached, dict)
            else [detached]
            if torch.is_tensor(detached)
            else detached
        )
        assert all(t.grad_fn is None and not t.requires_grad for t in flat)
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="cannot carry a recurrent state of type str"):
        detach_state("h")


def test_map_tensors_gives_plain_containers():
    State = namedtuple("State", "h c")
    moved = map_tensors(State(torch.ones(1), torch.zeros(1)), "cpu")
    assert type(moved) is tuple and torch.equal(moved[0], torch.ones(1))
