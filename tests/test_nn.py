import numpy as np
import pytest
import torch

from rlkit.algos.ls3.vae import VAE, ConvEncoder
from rlkit.nn import GPT, MLP, EnsembleMLP, GPTConfig


def test_mlp_shapes():
    assert MLP(5, 3, (16, 16))(torch.zeros(7, 5)).shape == (7, 3)


def test_ensemble_matches_members_evaluated_one_by_one():
    torch.manual_seed(0)
    ens = EnsembleMLP(3, 4, 2, (8,))
    x = torch.randn(5, 4)
    out = ens(x)
    for e in range(3):
        h = torch.relu(x @ ens.layers[0].weight[e] + ens.layers[0].bias[e])
        y = h @ ens.layers[1].weight[e] + ens.layers[1].bias[e]
        assert torch.allclose(out[e], y, atol=1e-6)


@pytest.mark.parametrize("capacity", [None, 12])
def test_gpt_kv_cache_decoding_equals_full_recomputation(capacity):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=17, block_size=12, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = torch.randint(0, 17, (3, 10))
    full = model(idx)
    cache = model.new_cache(capacity)
    steps = [model(idx[:, :4], cache)]                  # a prefix, then token by token
    for t in range(4, 10):
        steps.append(model(idx[:, t:t + 1], cache))
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert cache.length == 10


@pytest.mark.parametrize("capacity", [None, 8])
def test_gpt_cache_reorders_beams(capacity):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8)).eval()
    idx = torch.randint(0, 5, (2, 4))
    cache = model.new_cache(capacity)
    model(idx[:, :3], cache)
    swapped = cache.index_select(torch.tensor([1, 0]))
    out = model(idx[[1, 0], 3:4], swapped)
    assert torch.allclose(out, model(idx[[1, 0]])[:, 3:4], atol=1e-5)


def test_gpt_rejects_sequences_longer_than_block_size():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8))
    try:
        model(torch.zeros(1, 5, dtype=torch.long))
    except ValueError as err:
        assert "block_size=4" in str(err)
    else:
        raise AssertionError


@pytest.mark.parametrize(("arch", "size", "channels"), [("ls3", 64, 3), ("ls3", 64, 9), ("small", 32, 3)])
def test_conv_encoder_and_vae_shapes_and_finite_loss(arch, size, channels):
    x = torch.rand(2, channels, size, size)
    assert ConvEncoder(channels, 10, size, arch)(x).shape == (2, 10)
    vae = VAE(latent_dim=8, in_channels=channels, image_size=size, arch=arch)
    recon, mu, log_std = vae(x)
    assert recon.shape == x.shape and mu.shape == log_std.shape == (2, 8)
    loss = vae.loss(x)
    assert torch.isfinite(loss["loss"]) and loss["kl"] >= 0


def test_ls3_encoder_spatial_sizes_match_the_official_net():
    enc = ConvEncoder(3, 64, 64, "ls3")
    sizes, h = [], torch.zeros(1, 3, 64, 64)
    for layer in enc.conv:
        h = layer(h)
        sizes.append(h.shape[-1])
    assert sizes[::2] == [31, 10, 4, 1] and h.shape[1] == 256
    with pytest.raises(ValueError, match="arch=small"):
        VAE(image_size=32, arch="ls3")


def test_vae_kl_matches_torch_distributions():
    vae = VAE(latent_dim=2, image_size=32, arch="small", beta=1.0)
    mu, log_std = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, -0.5]])
    vae.encode = lambda x: (mu, log_std)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, log_std.exp()),
                                           torch.distributions.Normal(0.0, 1.0)).mean()
    np.testing.assert_allclose(vae.loss(torch.rand(1, 3, 32, 32))["kl"].item(), kl.item(), rtol=1e-6)


def test_vae_learns_to_reconstruct_a_fixed_image():
    torch.manual_seed(0)
    vae = VAE(latent_dim=4, image_size=32, arch="small")
    x = torch.zeros(8, 3, 32, 32)
    x[:, :, 8:20, 10:22] = 1.0  # a white square
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = vae.loss(x)["recon"].item()
    for _ in range(60):
        loss = vae.loss(x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert vae.loss(x)["recon"].item() < 0.3 * first


def test_tanh_module_equals_torch_tanh_in_value_and_gradient():
    from rlkit.nn.mlp import Tanh

    for shape in [(8, 64), (256, 64), (4, 256, 64)]:     # small inputs take torch.tanh, large the identity
        x = (3 * torch.randn(*shape, dtype=torch.float64)).requires_grad_()
        y = Tanh()(x)
        torch.testing.assert_close(y, torch.tanh(x), rtol=0, atol=1e-12)
        (g,) = torch.autograd.grad(y.sum(), x)
        torch.testing.assert_close(g, 1 - torch.tanh(x) ** 2, rtol=0, atol=1e-12)


def test_fused_adam_takes_the_same_steps_as_torch_adam():
    from rlkit.nn.optim import adam

    torch.manual_seed(0)
    nets = [MLP(3, 2, (16,)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    optims = [adam(nets[0].parameters(), lr=1e-2, eps=1e-5),
              torch.optim.Adam(nets[1].parameters(), lr=1e-2, eps=1e-5, foreach=False)]
    x = torch.randn(32, 3)
    for _ in range(5):
        for net, opt in zip(nets, optims, strict=True):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_precision_autocast_region_and_fp32_outputs():
    from rlkit.precision import autocast, fp32

    net = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8)
    with autocast("fp32", "cpu"):
        assert net(x).dtype == torch.float32
    with autocast("bf16", "cpu"):
        y = net(x)
    assert y.dtype == torch.bfloat16 and fp32(y).dtype == torch.float32
    torch.testing.assert_close(fp32(y), net(x), atol=0.05, rtol=0.02)
    assert net.weight.dtype == torch.float32                        # master weights stay fp32
    assert fp32(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="fp16"):
        autocast("fp16", "cpu")
