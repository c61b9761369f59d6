"""`--compile auto|on|off` (issue 18): when a stage compiles, what the compiled path computes,
and the one-line refusal where torch.compile cannot work."""
import copy

import pytest
import torch
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.config import TrainOptions
from unlearn_cli.engine import compiling
from unlearn_cli.engine.loop import LoopState, Stage, make_optimizers, run_stage
from unlearn_cli.errors import UnlearnError
from unlearn_cli.plugins import get_registry

CPU = torch.device("cpu")


def test_auto_compiles_only_where_measured_faster_and_long_enough(monkeypatch):
    assert not compiling.wants_compile("off", CPU, 10**6)
    # CPU was measured not faster (docs/performance.md): auto stays eager there
    assert "cpu" not in compiling.AUTO_DEVICES and not compiling.wants_compile("auto", CPU, 10**6)
    monkeypatch.setattr(compiling, "AUTO_DEVICES", frozenset({"cpu"}))
    monkeypatch.setattr(compiling, "compile_problem", lambda device: "")
    assert compiling.wants_compile("auto", CPU, compiling.MIN_STEPS)
    assert not compiling.wants_compile("auto", CPU, compiling.MIN_STEPS - 1)  # never pays back
    assert compiling.wants_compile("on", CPU, 1)


def test_compile_on_without_a_compiler_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    with pytest.raises(UnlearnError, match="no C\\+\\+ compiler"):
        compiling.wants_compile("on", CPU, 10)
    ckpt, neg = tiny_dcgan_file(tmp_path / "pre.safetensors"), negative_folder(tmp_path / "neg")
    out = tmp_path / "run"
    result = CliRunner().invoke(create_app(), [
        "run", "--ckpt", str(ckpt), "--neg", str(neg), "--out", str(out), "--adapt-iters", "2",
        "--unlearn-iters", "2", "--batch", "2", "--quiet", "--device", "cpu", "--compile", "on"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--compile on" in lines[0] and "--compile off" in lines[0], result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_bad_compile_value_names_the_key(tmp_path):
    result = CliRunner().invoke(create_app(), ["run", "--compile", "fast", "--quiet"])
    assert result.exit_code != 0 and "compile" in result.output and "Traceback" not in result.output


def _stage(G, D, mode: str) -> Stage:
    plugin = get_registry().load("gan", "stylegan2")
    real = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    stage = Stage("test", G, D, copy.deepcopy(G).requires_grad_(False), real, 5,
                  TrainOptions(batch=4, r1_interval=4, log_every=1), seed=3, extras=plugin,
                  show_progress=False)
    compiling.attach(stage, mode)
    return stage


@pytest.mark.skipif(compiling.compile_problem(CPU) != "", reason="torch.compile cannot work here")
def test_compiled_stage_computes_what_the_eager_one_does():
    """Five steps (R1 on D and the path-length regulariser on G at steps 0 and 4, on the eager
    modules beside the compiled ones): same losses and parameters as eager, to rounding."""
    plugin = get_registry().load("gan", "stylegan2")
    torch.manual_seed(0)
    G, D = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "w_dim": 8,
                                                "mapping_layers": 1, "channel_max": 8,
                                                "img_channels": 1}))
    results = {}
    for mode in ("off", "on"):
        G_m, D_m = copy.deepcopy(G), copy.deepcopy(D)
        stage = _stage(G_m, D_m, mode)
        assert (stage.G_compiled is not None) == (mode == "on")
        torch.manual_seed(7)  # the noise inputs and style mixing draw from the global stream
        state = run_stage(stage, LoopState(), make_optimizers(stage))
        results[mode] = (state.history, torch.cat([p.detach().flatten() for p in G_m.parameters()]))
    assert compiling.compile_seconds() > 0
    eager, compiled = results["off"], results["on"]
    assert [r["step"] for r in eager[0]] == [r["step"] for r in compiled[0]] == [1, 2, 3, 4, 5]
    for a, b in zip(eager[0], compiled[0]):
        for key in ("d_loss", "g_loss", "r1"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), (key, a, b)
    assert torch.allclose(eager[1], compiled[1], atol=1e-4)
