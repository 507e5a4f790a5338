"""Linear mode connectivity (instability.py) on a constructed pair of networks
whose error along the path is known."""

import pytest
import torch
from torch import nn

from rlth_runner import instability


def relu_net(first: list[float], second: list[list[float]]) -> nn.Module:
    net = nn.Sequential(nn.Linear(1, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(first).unsqueeze(1))
        net[2].weight.copy_(torch.tensor(second))
    return net


# Class 0 for x > 0, class 1 for x < 0, computed by two hidden units; `b` is `a` with its
# hidden units swapped: the same function, so both ends have no error. Along the line the
# weights are (2 alpha - 1) times a's, which still classifies every example, except at
# alpha = 0.5, where every weight is 0, the logits tie, argmax says class 0, and the x < 0
# half of the data (class 1) is wrong: error 0.5 there and 0 elsewhere.
A = relu_net([1.0, -1.0], [[1.0, -1.0], [-1.0, 1.0]])
B = relu_net([-1.0, 1.0], [[-1.0, 1.0], [1.0, -1.0]])
X = torch.tensor([[1.0], [2.0], [-1.0], [-3.0]])
Y = torch.tensor([0, 0, 1, 1])


def test_the_path_between_two_permuted_copies_has_a_barrier_of_one_half():
    path = instability.error_path(A, A.state_dict(), B.state_dict(), [(X, Y)], points=11)
    assert [alpha for alpha, _ in path] == pytest.approx([i / 10 for i in range(11)])
    assert [error for _, error in path] == [0.0] * 5 + [0.5] + [0.0] * 5
    assert instability.barrier(path) == 0.5


def test_a_network_is_stable_with_itself_and_is_left_as_it_was():
    before = {k: v.clone() for k, v in A.state_dict().items()}
    A.train()
    path = instability.error_path(A, A.state_dict(), A.state_dict(), [(X, Y)], points=5)
    assert instability.barrier(path) == 0 and len(path) == 5
    assert all(torch.equal(v, before[k]) for k, v in A.state_dict().items()) and A.training


def test_masks_and_counters_come_from_the_first_end():
    a = {"w": torch.zeros(2), "w_mask": torch.ones(2), "weight_mask": torch.ones(2), "steps": torch.tensor(3)}
    b = {"w": torch.ones(2), "w_mask": torch.zeros(2), "weight_mask": torch.zeros(2), "steps": torch.tensor(9)}
    mid = instability.interpolate(a, b, 0.25)
    assert mid["w"].tolist() == [0.25, 0.25] and mid["weight_mask"].tolist() == [1, 1] and int(mid["steps"]) == 3
    with pytest.raises(ValueError, match="both ends"):
        instability.error_path(A, A.state_dict(), B.state_dict(), [(X, Y)], points=1)
