"""Interruption and resume: a stopped stage keeps its checkpoint, --resume finishes it, and the
result is bit-identical (same file hash) to a run that was never interrupted."""
import pytest
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.io.atomic import sha256_file

ARGS = ["--adapt-iters", "6", "--unlearn-iters", "6", "--candidates", "24", "--eval-samples", "20",
        "--batch", "4", "--quiet", "--device", "cpu", "--seed", "3"]


@pytest.fixture
def inputs(tmp_path):
    return tiny_dcgan_file(tmp_path / "pre.safetensors"), negative_folder(tmp_path / "neg")


def _run(*args):
    return CliRunner().invoke(create_app(), [str(a) for a in args])


@pytest.mark.parametrize("stop_at", ["adapt-1:3", "unlearn:2", "unlearn:5"])
def test_interrupted_then_resumed_equals_uninterrupted(inputs, tmp_path, monkeypatch, stop_at):
    ckpt, neg = inputs
    whole = _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "whole", *ARGS)
    assert whole.exit_code == 0, whole.output
    stage = "adapt#3" if stop_at.startswith("adapt") else "unlearn"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", f"{stage}:{stop_at.split(':')[1]}")
    cut = _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "cut", *ARGS)
    assert cut.exit_code == 130
    assert "interrupted during" in cut.output and "--resume" in cut.output
    assert list((tmp_path / "cut" / "resume").iterdir())
    assert not (tmp_path / "cut" / "unlearned.safetensors").exists()
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    resumed = _run("run", "--resume", tmp_path / "cut", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    for name in ("adapted.safetensors", "unlearned.safetensors"):
        assert sha256_file(tmp_path / "cut" / name) == sha256_file(tmp_path / "whole" / name), name
    assert not list((tmp_path / "cut" / "resume").iterdir())


def test_finished_stages_are_not_redone(inputs, tmp_path, monkeypatch):
    ckpt, neg = inputs
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "r", *ARGS).exit_code == 130
    adapted = tmp_path / "r" / "adapted.safetensors"
    before = adapted.stat().st_mtime_ns
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    assert _run("run", "--resume", tmp_path / "r", "--quiet").exit_code == 0
    assert adapted.stat().st_mtime_ns == before
    manifest = (tmp_path / "r" / "manifest.json").read_text()
    assert sha256_file(adapted) in manifest and "samples.safetensors" in manifest


def test_resume_refuses_other_options_and_non_run_folders(inputs, tmp_path, monkeypatch):
    """Finished stages are reused only for the same job: options given with --resume must be
    the saved ones; every key that differs is named (issue 19, item 2)."""
    ckpt, neg = inputs
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _run("run", "--ckpt", ckpt, "--neg", neg, "--out", tmp_path / "r", *ARGS).exit_code == 130
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    result = _run("run", "--resume", tmp_path / "r", "--gamma", "2", "--seed", "4")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "options differ from its config.yaml" in result.output
    assert "--gamma (saved 1.0, given 2.0)" in result.output and "--seed (saved 3, given 4)" in result.output
    result = _run("run", "--resume", tmp_path / "r", "--overwrite")
    assert result.exit_code == 1 and "drop one of them" in result.output
    assert list((tmp_path / "r" / "resume").iterdir())  # refusals touch nothing
    same = _run("run", "--resume", tmp_path / "r", "--seed", "3", "--quiet")  # the saved value
    assert same.exit_code == 0, same.output
    result = _run("run", "--resume", tmp_path / "r")  # finished: nothing to resume, nothing replaced
    assert result.exit_code == 1 and "that run is finished" in result.output
    result = _run("run", "--resume", neg)
    assert result.exit_code == 1 and "no config.yaml" in result.output


def test_failed_run_leaves_no_folder(inputs, tmp_path):
    ckpt, _ = inputs
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run("run", "--ckpt", ckpt, "--neg", empty, "--out", tmp_path / "x", *ARGS)
    assert result.exit_code == 1
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- the bundled StyleGAN2
# Real processes and real signals (issue 19, item 4): a signal arrives in the middle of a step
# (GAN_UNLEARN_TEST_SIGNAL makes the process send it to itself between the D and the G update),
# the stage stops at the next step boundary with its checkpoint, and `--resume` ends with the
# same files as a run never interrupted. StyleGAN2 has a non-persistent buffer the loop updates
# (pl_mean) and path-length steps every 4th step: both must survive the checkpoint.
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

SG2 = ["--adapt-iters", "10", "--unlearn-iters", "10", "--candidates", "64", "--eval-samples", "20",
       "--batch", "4", "--quiet", "--device", "cpu"]


def _process(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    env.pop("GAN_UNLEARN_TEST_INTERRUPT", None)
    return subprocess.run([sys.executable, "-m", "unlearn_cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sg2_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg2") / "fast.yaml"
    path.write_text("fisher_samples: 4\ntrain:\n  log_every: 1\n")
    return path


@pytest.fixture(scope="module")
def sg2_whole(tmp_path_factory, sg2_config):
    """One uninterrupted run per seed, shared by the cases."""
    done = {}

    def whole(seed: int):
        if seed not in done:
            out = tmp_path_factory.mktemp(f"whole{seed}") / "run"
            result = _process("run", "--config", sg2_config, "--seed", seed, "--out", out, *SG2)
            assert result.returncode == 0, result.stderr
            done[seed] = out
        return done[seed]
    return whole


@pytest.mark.parametrize("seed, stage, step, sig", [
    (3, "adapt#3", 5, "TERM"), (3, "unlearn", 4, "INT"),
    (5, "adapt#5", 4, "INT"), (5, "unlearn", 7, "TERM"),
])
def test_stylegan2_real_signal_mid_step_resumes_bit_identical(sg2_whole, sg2_config, tmp_path,
                                                               seed, stage, step, sig):
    out = tmp_path / "cut"
    cut = _process("run", "--config", sg2_config, "--seed", seed, "--out", out, *SG2,
                   env_extra={"GAN_UNLEARN_TEST_SIGNAL": f"{stage}:{step}:{sig}"})
    assert cut.returncode == 130, cut.stderr
    lines = cut.stderr.strip().splitlines()
    assert lines == [f"error: interrupted during {stage} at step {step + 1} of 10; its checkpoint "
                     f"was saved: continue with --resume {out}"], cut.stderr
    assert cut.stdout.strip() == "" or "Traceback" not in cut.stdout  # --quiet: no progress bars
    assert not (out / "unlearned.safetensors").exists()
    resumed = _process("run", "--resume", out, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    whole = sg2_whole(seed)
    for name in ("adapted.safetensors", "unlearned.safetensors"):
        assert sha256_file(out / name) == sha256_file(whole / name), name
    # the log is the uninterrupted run's, line for line apart from timings
    def steps(folder):
        return [(r["stage"], r["step"], r.get("g_loss")) for r in
                map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())]
    assert steps(out) == steps(whole)


def test_stylegan2_clean_stop_keeps_pl_mean(sg2_whole, sg2_config, tmp_path):
    """The step-boundary stop alone (no signal) was not identical: pl_mean was not saved."""
    from safetensors import safe_open

    env = {"GAN_UNLEARN_TEST_INTERRUPT": "adapt#3:6"}
    out2 = tmp_path / "cut2"
    result = subprocess.run([sys.executable, "-m", "unlearn_cli", "run", "--config", str(sg2_config),
                             "--seed", "3", "--out", str(out2), *SG2],
                            env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stderr
    with safe_open(str(out2 / "resume" / "adapt-1.safetensors"), framework="pt") as handle:
        assert "buffers.G.pl_mean" in handle.keys()
        assert float(handle.get_tensor("buffers.G.pl_mean")) != 0.0  # it was updated: it matters
    assert _process("run", "--resume", out2, "--quiet").returncode == 0
    assert sha256_file(out2 / "unlearned.safetensors") == sha256_file(sg2_whole(3) / "unlearned.safetensors")


def test_log_of_a_killed_run_has_no_duplicates_after_resume(tmp_path):
    """SIGKILL after the log got lines past the checkpoint: the resumed stage drops them."""
    from unlearn_cli.engine.resume import truncate_log

    log = tmp_path / "train_log.jsonl"
    rows = [{"stage": "adapt#0", "step": s} for s in (1, 2, 3)] + [{"stage": "unlearn", "step": s} for s in (1, 2, 3, 4)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"stage": "unl')  # cut mid-line
    truncate_log(log, "unlearn", 2)
    kept = [json.loads(line) for line in log.read_text().splitlines()]
    assert kept == rows[:5]
    truncate_log(log, "adapt#0", 0)  # a stage restarted from scratch keeps none of its lines
    assert [r["stage"] for r in map(json.loads, log.read_text().splitlines())] == ["unlearn", "unlearn"]


def test_a_checkpoint_with_infinite_adam_moments_is_never_written(tmp_path):
    """Finite weights but an infinite exp_avg_sq diverge again on resume: such a state is not a
    'last good checkpoint' (issue 19, item 4)."""
    import torch
    from unlearn_cli.engine.loop import Stage, _check_parameters, make_optimizers
    from unlearn_cli.config import TrainOptions
    from unlearn_cli.errors import UnlearnError

    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    G.z_dim = 2
    stage = Stage("unlearn", G, D, torch.nn.Linear(2, 2), torch.zeros(4, 2), 4, TrainOptions(),
                  0, resume_path=tmp_path / "resume" / "unlearn.safetensors")
    g_opt, d_opt = make_optimizers(stage)
    G(torch.ones(1, 2)).sum().backward()
    g_opt.step()
    _check_parameters(stage, 1, None, (g_opt, d_opt))  # finite: fine
    next(iter(g_opt.state.values()))["exp_avg_sq"].fill_(float("inf"))
    with pytest.raises(UnlearnError, match="optimiser's moments became NaN or infinite by step 2"):
        _check_parameters(stage, 2, 1, (g_opt, d_opt))
