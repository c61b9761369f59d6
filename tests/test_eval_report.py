"""`eval` and the report: same PUL as `run`, report files with valid PNGs, --json, one-line
errors, charts that survive odd data, and the Inception FID path through torch-fidelity."""
import json
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli.cli.main import create_app
from unlearn_cli.errors import UnlearnError

SAMPLES = "40"
FAST = ["--adapt-iters", "3", "--unlearn-iters", "3", "--candidates", "32", "--eval-samples", SAMPLES,
        "--batch", "4", "--quiet", "--device", "cpu", "--reference", "digits", "--classifier", "digits"]
REPORT_PNGS = ["before_after.png", "samples_before.png", "samples_after.png", "class_shares.png",
               "loss_curves.png", "distance.png", "negatives.png", "positives.png"]


def _invoke(*args, code=0):
    result = CliRunner().invoke(create_app(), [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny run shared by the tests here (a few seconds)."""
    root = tmp_path_factory.mktemp("eval")
    ckpt, neg = tiny_dcgan_file(root / "pre.safetensors"), negative_folder(root / "neg")
    out = root / "run"
    _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, *FAST)
    return ckpt, out


def _eval_args(ckpt, out, *extra):
    return ["eval", "--before", ckpt, "--after", out / "unlearned.safetensors", "--samples", SAMPLES,
            "--seed", "0", "--device", "cpu", *extra]


# --------------------------------------------------------------------------- run's report
def test_run_folder_holds_report_with_valid_pngs(tiny_run):
    _, out = tiny_run
    for name in REPORT_PNGS:
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    # the headline comes first and names each FID's kind
    assert md.index("PUL") < md.index("Samples before and after") < md.index("Resolved config")
    assert "classifier-feature FID" in md and "share of '8'" in md and "non-target class shift" in md
    for name in set(REPORT_PNGS) - {"samples_before.png", "samples_after.png"}:  # those two: as files
        assert f"]({name})" in md
    # self-contained: every image inline, nothing fetched from elsewhere
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(REPORT_PNGS) - 2  # all but the two single grids
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<script" not in html
    assert "method: adapt-then-unlearn" in html  # the resolved config


def test_run_metrics_present(tiny_run):
    _, out = tiny_run
    ev = json.loads((out / "metrics.json").read_text())["eval"]
    assert ev["samples"] == int(SAMPLES) and ev["target"] == "8"
    assert {"pul", "target_count_before", "target_count_after", "nontarget_tv_distance",
            "fid_before", "fid_after"} <= set(ev)
    assert ev["fid_kind"].startswith("classifier-feature FID")


# --------------------------------------------------------------------------- eval
def test_eval_gives_the_same_numbers_as_run(tiny_run):
    ckpt, out = tiny_run
    result = _invoke(*_eval_args(ckpt, out, "--reference", "digits", "--json"))
    data = json.loads(result.stdout)
    ran = json.loads((out / "metrics.json").read_text())["eval"]
    for key in ("pul", "target_count_before", "target_count_after", "class_share_before",
                "class_share_after", "nontarget_tv_distance", "fid_before", "fid_after", "fid_kind"):
        assert data["eval"][key] == ran[key], key
    assert data["models"]["after"]["sha256"] == json.loads(
        (out / "metrics.json").read_text())["outputs"]["unlearned"]["sha256"]


def test_eval_json_as_a_subprocess_is_only_json(tiny_run, tmp_path):
    ckpt, out = tiny_run
    args = _eval_args(ckpt, out, "--json", "--retrained", out / "adapted.safetensors")
    result = subprocess.run([sys.executable, "-m", "unlearn_cli", *map(str, args)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["command"] == "eval" and "pul" in data["eval"]
    assert data["eval"]["ret_fid_kind"].startswith("classifier-feature FID")
    assert data["eval"]["ret_fid"] is not None


def test_eval_human_output_labels_fid_by_kind(tiny_run):
    ckpt, out = tiny_run
    result = _invoke(*_eval_args(ckpt, out, "--reference", "digits"))
    assert "PUL" in result.stdout and "classifier-feature FID" in result.stdout


def test_eval_report_into_a_new_folder(tiny_run, tmp_path):
    ckpt, out = tiny_run
    folder = tmp_path / "report"
    _invoke(*_eval_args(ckpt, out, "--report", folder))
    assert {"report.md", "report.html", "eval.json", "before_after.png"} <= {p.name for p in folder.iterdir()}
    md = (folder / "report.md").read_text()
    # no --reference given: the run's own (recorded in the --after file) is used
    assert "PUL" in md and "classifier-feature FID" in md and "reference: digits" in md
    assert "Training" not in md  # no train_log.jsonl there
    assert "## Evaluation settings" in md and "Resolved config" not in md  # no run config there


def _error_line(result):
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("args, text", [
    (["--before", "{tmp}/nope.safetensors", "--after", "{after}"], "checkpoint not found"),
    (["--before", "{ckpt}", "--after", "{tmp}/nope.safetensors"], "checkpoint not found"),
    (["--before", "{ckpt}", "--after", "{after}", "--classifier", "nope"], "unknown classifier 'nope'"),
    (["--before", "{ckpt}", "--after", "{after}", "--inception-weights", "{tmp}/w.pth"], "--inception-weights file not found"),
    (["--before", "{ckpt}", "--after", "{after}", "--retrained", "{tmp}/r.safetensors"], "--retrained file not found"),
    (["--before", "{ckpt}", "--after", "{after}", "--samples", "1"], "--samples must be at least 2"),
    (["--before", "{ckpt}", "--after", "{after}", "--target", "cat"], "unknown target 'cat'"),
    (["--before", "{ckpt}", "--after", "{after}", "--reference", "nowhere"], "neither a folder nor a dataset"),
])
def test_eval_errors_are_one_line(tiny_run, tmp_path, args, text):
    ckpt, out = tiny_run
    values = {"tmp": tmp_path, "ckpt": ckpt, "after": out / "unlearned.safetensors"}
    argv = ["eval", *[a.format(**values) for a in args], "--device", "cpu"]
    if "--samples" not in args:
        argv += ["--samples", "4"]
    result = CliRunner().invoke(create_app(), argv)
    assert text in _error_line(result)


# --------------------------------------------------------------------------- report pieces
def test_report_without_eval_or_training_still_writes(tmp_path):
    from unlearn_cli.config import RunConfig
    from unlearn_cli.metrics.report import write_report

    path = write_report(tmp_path, {"method": "adapt"}, None, None, RunConfig(classifier=""), "cpu")
    assert path.is_file() and "not measured" in (tmp_path / "report.md").read_text()


def test_charts_survive_odd_data(tmp_path):
    from unlearn_cli.metrics.plots import bar_chart, framed_grid, line_chart, nice_ticks, stack

    charts = [
        line_chart({"a": ([1, 2, 3], [1.0, float("nan"), 3.0]), "b": ([5], [float("inf")])}, "nan"),
        line_chart({"one": ([7], [0.5])}, "single point"),
        line_chart({"flat": (list(range(100)), [2.0] * 100)}, "constant"),
        line_chart({}, "empty"),
        bar_chart(["0", "1"], {"before": [0.0, 0.0]}, "zeros", highlight="1"),
    ]
    grid = framed_grid(np.zeros((5, 4, 4, 1), np.uint8), [True, False, True, False, True], nrow=3)
    big = framed_grid(np.zeros((2, 300, 300, 3), np.uint8), nrow=2)  # shrunk to 128 px cells
    assert big.size[1] < 150
    stack(charts + [grid], columns=2).save(tmp_path / "all.png")
    with Image.open(tmp_path / "all.png") as img:
        img.verify()
    ticks = nice_ticks(0.013, 0.97)
    assert ticks[0] <= 0.013 and ticks[-1] >= 0.97 and len(ticks) <= 8
    assert grid.size[0] > grid.size[1]


def test_report_skips_a_torn_log_line(tmp_path):
    from unlearn_cli.metrics.report import _read_log

    (tmp_path / "train_log.jsonl").write_text('{"stage": "unlearn", "step": 1, "g_loss": 1.0}\n{"stage": "unl')
    assert len(_read_log(tmp_path / "train_log.jsonl")) == 1


# --------------------------------------------------------------------------- Inception FID
def test_missing_torch_fidelity_is_one_line_with_the_install_hint(tiny_run, tmp_path, monkeypatch):
    ckpt, out = tiny_run
    weights = tmp_path / "w.pth"
    torch.save({"x": torch.zeros(1)}, weights)
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # import fails as if not installed
    result = CliRunner().invoke(create_app(), [*map(str, _eval_args(ckpt, out, "--inception-weights", weights))])
    assert "pip install 'gan-unlearn[fid]'" in _error_line(result)


def test_inception_weights_are_read_without_running_code(tmp_path):
    from unlearn_cli.metrics.inception import read_weights

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(UnlearnError, match="cannot read Inception weights"):
        read_weights(tmp_path / "evil.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(UnlearnError, match="not a state dict"):
        read_weights(tmp_path / "list.pth")


@pytest.fixture
def torch_fidelity(monkeypatch):
    """torch-fidelity if installed. Its package imports torchvision for models we do not use; where
    torchvision is absent or built for another torch, a stub stands in so the Inception path runs."""
    try:
        import torchvision  # noqa: F401
    except Exception:
        stub = types.ModuleType("torchvision")
        stub.datasets = types.ModuleType("torchvision.datasets")
        for name in ("CIFAR10", "CIFAR100", "STL10"):
            setattr(stub.datasets, name, type(name, (), {}))
        stub.transforms = types.ModuleType("torchvision.transforms")
        stub.transforms.functional = types.ModuleType("torchvision.transforms.functional")
        for name, module in (("torchvision", stub), ("torchvision.datasets", stub.datasets),
                             ("torchvision.transforms", stub.transforms),
                             ("torchvision.transforms.functional", stub.transforms.functional)):
            monkeypatch.setitem(sys.modules, name, module)
    return pytest.importorskip("torch_fidelity")


def _random_inception_weights(path, monkeypatch):
    """A randomly initialised Inception-v3 in torch-fidelity's format (half precision: smaller)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        model = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    return path


def test_inception_fid_through_torch_fidelity_offline(torch_fidelity, tiny_run, tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from unlearn_cli.metrics.report import headline

    ckpt, out = tiny_run
    weights = _random_inception_weights(tmp_path / "inception.pth", monkeypatch)

    def no_download(*args, **kwargs):
        raise AssertionError("torch-fidelity tried to download weights")

    monkeypatch.setattr(fe, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    # the network at 75 px instead of 299 (its smallest input): the same code, 16x less CPU time
    monkeypatch.setattr(fe.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    reference = negative_folder(tmp_path / "real", n=3)
    result = _invoke("eval", "--before", ckpt, "--after", out / "unlearned.safetensors", "--samples", "3",
                     "--device", "cpu", "--reference", reference, "--inception-weights", weights, "--json")
    ev = json.loads(result.stdout)["eval"]
    assert ev["inception_fid_kind"].startswith("Inception FID")
    assert ev["fid_kind"].startswith("classifier-feature FID")
    for key in ("inception_fid_before", "inception_fid_after"):
        assert ev[key] is not None and ev[key] >= 0
    labels = [label for label, _ in headline({"eval": ev})]
    assert "Inception FID" in labels and "classifier-feature FID" in labels


def test_wrong_inception_weights_are_one_line(torch_fidelity, tmp_path):
    from safetensors.torch import save_file

    from unlearn_cli.metrics.inception import load_inception

    save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "small.safetensors"))
    with pytest.raises(UnlearnError, match="torch-fidelity's format"):
        load_inception(tmp_path / "small.safetensors", "cpu")


def test_frechet_distance_sample_space_matches_the_full_formula():
    from unlearn_cli.metrics.fid import _sqrt_psd, frechet_distance

    torch.manual_seed(0)
    a, b = torch.randn(20, 48).double() * 2, torch.randn(30, 48).double() + 0.5  # fewer samples than dims
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    root = _sqrt_psd(ca)
    full = ((a.mean(0) - b.mean(0)).square().sum() + ca.trace() + cb.trace()
            - 2 * _sqrt_psd(root @ cb @ root).trace())
    assert frechet_distance(a, b) == pytest.approx(float(full), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_eval_repeats_the_runs_settings_recorded_in_the_after_file(tiny_run):
    """No --classifier/--target/--samples/--seed/--reference: those of the run that made --after."""
    ckpt, out = tiny_run
    result = _invoke("eval", "--before", ckpt, "--after", out / "unlearned.safetensors", "--json",
                     "--device", "cpu")
    ran = json.loads((out / "metrics.json").read_text())["eval"]
    data = json.loads(result.stdout)["eval"]
    assert data["samples"] == int(SAMPLES) and data["target"] == ran["target"]
    assert data["pul"] == ran["pul"] and data["fid_before"] == ran["fid_before"]


def test_a_run_on_a_foreign_model_has_no_digits_classifier_by_default(tmp_path):
    """The bundled digits classifier is the bundled model's default only: a user's model gets
    no eval (and says why) rather than PUL from a classifier meant for other images."""
    ckpt, neg = tiny_dcgan_file(tmp_path / "pre.safetensors"), negative_folder(tmp_path / "neg")
    out = tmp_path / "run"
    fast = [a for a in FAST if a not in ("--classifier", "digits", "--reference")]
    result = _invoke("run", "--ckpt", ckpt, "--neg", neg, "--out", out, *fast)
    metrics = json.loads((out / "metrics.json").read_text())
    assert "eval" not in metrics and "no classifier" in metrics["eval_note"]
    assert (out / "unlearned.safetensors").is_file()
    line = _error_line(CliRunner().invoke(create_app(), [
        "eval", "--before", str(ckpt), "--after", str(out / "unlearned.safetensors"), "--device", "cpu"]))
    assert "eval needs a classifier to count the target" in line
    line = _error_line(CliRunner().invoke(create_app(), [
        "run", "--ckpt", str(ckpt), "--out", str(tmp_path / "r2"), *fast]))
    assert "the 'classifier' source needs a classifier" in line and not (tmp_path / "r2").exists()
