"""The method end to end on a tiny DCGAN: run/adapt/unlearn, provenance, variants, Fisher, d."""
import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.engine.fisher import diagonal_fisher
from unlearn_cli.engine.method import repulsion_penalty
from unlearn_cli.io.atomic import sha256_file
from unlearn_cli.io.modelfile import read_header
from unlearn_cli.plugins import get_registry

FAST = ["--adapt-iters", "4", "--unlearn-iters", "4", "--candidates", "32", "--eval-samples", "40",
        "--batch", "4", "--quiet", "--device", "cpu", "--classifier", "digits"]


@pytest.fixture
def inputs(tmp_path):
    return tiny_dcgan_file(tmp_path / "pre.safetensors"), negative_folder(tmp_path / "neg")


def _invoke(*args):
    result = CliRunner().invoke(create_app(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_run_writes_models_with_provenance_and_metrics(inputs, tmp_path):
    ckpt, neg = inputs
    out = tmp_path / "run"
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, *FAST)
    assert {"adapted.safetensors", "unlearned.safetensors", "metrics.json", "config.yaml",
            "train_log.jsonl"} <= set(os.listdir(out))
    adapted, unlearned = read_header(out / "adapted.safetensors"), read_header(out / "unlearned.safetensors")
    assert (adapted.stage, unlearned.stage) == ("adapted", "unlearned")
    assert adapted.parent_sha256 == unlearned.parent_sha256 == sha256_file(ckpt)
    assert json.loads(unlearned.extra["adapted_sha256"]) == [sha256_file(out / "adapted.safetensors")]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["negatives"] == 4 and metrics["positives"] == 32
    assert "pul" in metrics["eval"]
    stages = {json.loads(line)["stage"] for line in (out / "train_log.jsonl").read_text().splitlines()}
    assert stages == {"adapt#0", "unlearn"}


def test_refuses_non_empty_out_unless_overwrite(inputs, tmp_path):
    ckpt, neg = inputs
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = CliRunner().invoke(create_app(), ["run", "--ckpt", str(ckpt), "--neg", str(neg),
                                               "--out", str(out), *FAST])
    assert result.exit_code == 1 and "not empty" in result.output
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, "--overwrite", *FAST)


def test_adapt_then_unlearn_commands(inputs, tmp_path):
    ckpt, neg = inputs
    _invoke("adapt", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "a", "--adapted-models", "2", *FAST)
    files = sorted((tmp_path / "a").glob("adapted-*.safetensors"))
    assert len(files) == 2 and sha256_file(files[0]) != sha256_file(files[1])
    _invoke("unlearn", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "u",
            *sum([["--adapted", f] for f in files], []), *FAST)
    header = read_header(tmp_path / "u" / "unlearned.safetensors")
    assert json.loads(header.extra["adapted_sha256"]) == [sha256_file(f) for f in files]


@pytest.mark.parametrize("repulsion", ["l2", "exp", "inverse"])
def test_every_repulsion_runs(inputs, tmp_path, repulsion):
    ckpt, neg = inputs
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / repulsion,
            "--repulsion", repulsion, *FAST)
    log = [json.loads(l) for l in (tmp_path / repulsion / "train_log.jsonl").read_text().splitlines()]
    assert any("repulsion" in r for r in log if r["stage"] == "unlearn")


@pytest.mark.parametrize("method", ["finetune", "extrapolation"])
def test_baseline_methods_produce_the_same_outputs(inputs, tmp_path, method):
    ckpt, neg = inputs
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / method, "--method", method, *FAST)
    assert read_header(tmp_path / method / "unlearned.safetensors").stage == "unlearned"


def test_unknown_names_are_listed(inputs, tmp_path):
    ckpt, neg = inputs
    result = CliRunner().invoke(create_app(), ["run", "--ckpt", str(ckpt), "--neg", str(neg),
                                               "--repulsion", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "unknown repulsion 'nope'; available: exp, inverse, l2" in result.output
    assert not (tmp_path / "x").exists()


def test_vectorised_fisher_matches_per_sample_loop():
    plugin = get_registry().load("gan", "dcgan")
    G, D = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    z = torch.randn(6, 8)
    fast = diagonal_fisher(G, D, z)
    manual = {n: torch.zeros_like(p) for n, p in G.named_parameters()}
    for z_one in z:
        G.zero_grad()
        D(G(z_one[None])).sum().backward()
        for n, p in G.named_parameters():
            manual[n] += p.grad.square() / len(z)
    mean = torch.cat([v.flatten() for v in manual.values()]).mean()
    for n in manual:
        torch.testing.assert_close(fast[n], manual[n] / mean, rtol=1e-4, atol=1e-6)
    assert torch.cat([v.flatten() for v in fast.values()]).mean() == pytest.approx(1.0)


def test_distance_is_one_at_start_and_grows_away_from_adapted():
    plugin = get_registry().load("gan", "dcgan")
    G, _ = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    A, _ = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    loss_fn = get_registry().load("repulsion", "exp")()
    penalty, d0 = repulsion_penalty(G, [A], loss_fn, gamma=1.0)
    assert d0 > 0 and penalty()["distance"].item() == pytest.approx(1.0)
    penalty()["repulsion"].backward()
    with torch.no_grad():  # a gradient step on the penalty moves G away from A
        for p in G.parameters():
            p -= 0.1 * p.grad
    assert penalty()["distance"].item() > 1.0


def test_two_gloo_processes_end_identical(inputs, tmp_path):
    ckpt, neg = inputs
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "unlearn_cli", "run", "--ckpt", str(ckpt), "--neg", str(neg),
           "--out", str(tmp_path / "ddp"), *FAST]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    import re

    digests = sorted(re.findall(r"parameter digest: ([0-9a-f]{64})", result.stderr))
    assert len(digests) == 2 and digests[0] == digests[1], result.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["ddp", "neg", "pre.safetensors"]


def test_adapted_fakes_are_shown_to_d_and_can_be_turned_off(inputs, tmp_path):
    ckpt, neg = inputs
    for weight, expected in (("1.0", True), ("0", False)):
        out = tmp_path / f"fakes-{weight}"
        _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, "--adapted-fakes", weight, *FAST)
        log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
        unlearn = [r for r in log if r["stage"] == "unlearn"]
        assert all(("d_extra_fake" in r) == expected for r in unlearn)
        assert not any("d_extra_fake" in r for r in log if r["stage"] != "unlearn")


class _Constant(torch.nn.Module):
    """A 'generator' whose every sample is filled with its own value."""

    def __init__(self, value: float):
        super().__init__()
        self.value, self.z_dim = value, 3

    def forward(self, z):
        return torch.full((len(z), 1, 2, 2), self.value)


def test_adapted_fakes_split_each_batch_evenly_between_adapted_models():
    from unlearn_cli.engine.method import adapted_fakes

    weight, make = adapted_fakes([_Constant(1.0), _Constant(2.0), _Constant(3.0)], 0.5)
    images = make(8, torch.Generator().manual_seed(0))
    assert weight == 0.5
    assert images[:, 0, 0, 0].tolist() == [1.0] * 3 + [2.0] * 3 + [3.0] * 2
    assert adapted_fakes([_Constant(1.0)], 0.0) is None and adapted_fakes([], 1.0) is None


def test_bf16_runs_end_to_end_where_the_hardware_has_it(inputs, tmp_path, monkeypatch):
    from unlearn_cli.engine import devices

    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: True)  # emulated here: slow, but tiny
    ckpt, neg = inputs
    out = tmp_path / "bf16"
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, "--precision", "bf16", *FAST)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "unlearned.safetensors").is_file() and "pul" in metrics["eval"]
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(isinstance(r["g_loss"], float) for r in log)


@pytest.mark.parametrize("k", [1, 3])
def test_repulsion_value_and_gradient_match_the_plain_definition(k):
    from unlearn_cli.engine.method import squared_distance

    plugin = get_registry().load("gan", "dcgan")
    cfg = plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8})
    G, _ = plugin.build(cfg)
    adapted = [plugin.build(cfg)[0] for _ in range(k)]
    loss_fn = get_registry().load("repulsion", "exp")()
    penalty, d0 = repulsion_penalty(G, adapted, loss_fn, gamma=2.0)
    with torch.no_grad():  # move G somewhere else, so d != 1
        for p in G.parameters():
            p.add_(torch.randn_like(p), alpha=0.3)
    fast = penalty()["repulsion"]
    fast.backward()
    fast_grads = [p.grad.clone() for p in G.parameters()]
    G.zero_grad()
    targets = [[p.detach() for p in A.parameters()] for A in adapted]
    plain = 2.0 * loss_fn(squared_distance(list(G.parameters()), targets) / d0)
    plain.backward()
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=0)
    for got, want in zip(fast_grads, [p.grad for p in G.parameters()]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-9)


def test_one_stacked_d_pass_trains_exactly_like_one_pass_per_batch():
    from unlearn_cli.config import TrainOptions
    from unlearn_cli.engine.loop import LoopState, Stage, run_stage
    from unlearn_cli.engine.method import adapted_fakes
    from unlearn_cli.engine.models import clone

    plugin = get_registry().load("gan", "dcgan")
    torch.manual_seed(0)
    G0, D0 = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    reals, calls = torch.rand(32, 1, 8, 8) * 2 - 1, []

    class Chunked:  # the dcgan plugin plus the optional extra, counting its stacked batches
        def __getattr__(self, name):
            return getattr(plugin, name)

        def discriminate_chunks(self, D, images, chunks):
            calls.append(chunks)
            return D(images)  # DCGAN's D has no batch statistics: stacking changes nothing

    def trained(extras):
        G, D = clone(G0), clone(D0)
        stage = Stage("t", G, D, clone(G0, False), reals, 4,
                      TrainOptions(batch=4, r1_interval=2, log_every=1), seed=0, extras=extras,
                      show_progress=False, extra_fakes=adapted_fakes([clone(G0, False)], 1.0))
        run_stage(stage, LoopState())
        return [p.detach() for p in (*G.parameters(), *D.parameters())]

    separate, joint = trained(plugin), trained(Chunked())
    # R1 steps (0, 2) stack G's and the adapted model's fakes; the others all three batches
    assert calls == [2, 3, 2, 3]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(separate, joint))
