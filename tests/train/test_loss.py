"""The chunked output-layer loss computes what the plain one does."""

import pytest
import torch

from safereflect.train.data import IGNORE_INDEX
from safereflect.train.loss import MAX_LOGITS, chunk_tokens, token_losses


@pytest.fixture(scope="module")
def model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def _losses_and_grads(model, inputs, targets, chunk):
    model.zero_grad(set_to_none=True)
    losses = token_losses(model, inputs, targets, chunk=chunk)
    losses.sum().backward()
    return losses.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("chunk", [1, 7, 16])
def test_chunks_give_the_plain_losses_and_gradients(model, chunk):
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 96, (3, 11), generator=g)
    targets = torch.randint(0, 96, (3, 11), generator=g)
    targets[0, :4] = IGNORE_INDEX
    plain, plain_grads = _losses_and_grads(model, inputs, targets, chunk=10**9)
    chunked, chunked_grads = _losses_and_grads(model, inputs, targets, chunk=chunk)
    assert chunked.shape == targets.shape and torch.all(chunked[0, :4] == 0)
    torch.testing.assert_close(chunked, plain, rtol=1e-6, atol=1e-7)
    for name, grad in plain_grads.items():
        # an embedding row's gradient sums contributions from many positions, and chunking
        # reorders that sum: the absolute error is set by the tensor's largest entries (a few
        # fp32 ulps of them; 3.9e-7 against entries up to 4.0 seen on an AVX2-only CPU), not
        # by the entry compared
        atol = max(1e-7, 1e-6 * float(grad.abs().max()))
        torch.testing.assert_close(chunked_grads[name], grad, rtol=1e-5, atol=atol, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(token_losses(model, inputs, targets, chunk=chunk), plain, rtol=1e-6, atol=1e-7)


def test_automatic_chunks_hold_at_most_max_logits():
    assert chunk_tokens(49_152) * 49_152 <= MAX_LOGITS < (chunk_tokens(49_152) + 1) * 49_152
    assert chunk_tokens(49_152, requested=128) == 128


def test_a_weighted_step_descends_the_weighted_mean_and_reports_the_plain_loss(model):
    from safereflect.train.distributed import Runtime
    from safereflect.train.step import train_step

    g = torch.Generator().manual_seed(2)
    inputs = torch.randint(0, 96, (2, 9), generator=g)
    inputs[:, 3] = 5  # the weighted token, so targets at column 3 weigh 4
    targets = torch.randint(0, 96, (2, 9), generator=g)
    targets[1, 3] = IGNORE_INDEX  # an ignored target weighs nothing
    weights = torch.ones(2, 9)
    weights[0, 3] = 4.0
    weights[1, 3] = 0.0
    total = float(weights.sum())
    model.zero_grad(set_to_none=True)
    losses = token_losses(model, inputs, targets)
    ((losses * weights).sum() / total).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}

    class Capture(torch.optim.SGD):  # keeps the gradient train_step stepped with
        def step(self, closure=None):
            self.grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    opt = Capture(model.parameters(), lr=0.0)
    model.zero_grad(set_to_none=True)
    rt = Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), bf16=False)
    loss_sum, _ = train_step(model, opt, [(inputs, targets)], n_targets=total, rt=rt, grad_clip=None, weighted=(5, 4.0))
    torch.testing.assert_close(loss_sum, losses.detach().sum())  # what is logged: the unweighted loss
    for name, grad in expected.items():
        torch.testing.assert_close(opt.grads[name], grad, msg=name)
