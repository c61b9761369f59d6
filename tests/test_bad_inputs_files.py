"""Issue 19, the file and run-folder items (1-4, 13, 17-19, 22, 23): no command replaces an
existing file without --overwrite or ever writes over its own input; --overwrite of a run is a
fresh run; a run folder has one writer; failures remove only what the tool made; a full disk and
a signal keep what --resume needs.

Same rules as tests/test_bad_inputs.py (whose helpers these use): one ``error:`` line, the
documented exit code, no traceback, the quoted fragment in docs/errors.md, nothing left behind.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import save_file

from engine_helpers import negative_folder, tiny_dcgan_file
from test_bad_inputs import FAST, _documented, _invoke, _temp_files, check_one_error
from unlearn_cli.io.atomic import sha256_file


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("files19")
    tiny_dcgan_file(root / "pre.safetensors")
    negative_folder(root / "neg")
    return root


@pytest.fixture(scope="module")
def finished(files, tmp_path_factory) -> Path:
    """One finished run (seed 0, target 8), shared by the cases that must not touch it."""
    out = tmp_path_factory.mktemp("done") / "run"
    result = _run(files, out)
    assert result.exit_code == 0, result.output
    return out


def _run(files: Path, out: Path, *extra, command: str = "run"):
    return _invoke(command, "--ckpt", files / "pre.safetensors", "--neg", files / "neg",
                   "--out", out, *FAST, *extra)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in folder.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- item 1: outputs
def test_sample_never_writes_over_its_model_even_with_overwrite(files, tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes((files / "pre.safetensors").read_bytes())
    before = sha256_file(model)
    link = tmp_path / "link.safetensors"
    link.symlink_to(model)
    hard = tmp_path / "hard.safetensors"
    os.link(model, hard)
    for target in (model, link, hard):
        for extra in ([], ["--overwrite"]):
            check_one_error(_invoke("sample", model, "--tensors", target, "--device", "cpu", *extra),
                            1, "is an input of this command")
    assert sha256_file(model) == before and not _temp_files(tmp_path)
    _documented("is an input of this command")


def test_sample_tensors_and_grid_are_not_replaced_without_overwrite(files, tmp_path):
    model = files / "pre.safetensors"
    tensors = tmp_path / "t.safetensors"
    tensors.write_bytes(b"mine")
    check_one_error(_invoke("sample", model, "--tensors", tensors, "--device", "cpu"), 1,
                    "exists; pass --overwrite to replace it")
    assert tensors.read_bytes() == b"mine"
    grid = tmp_path / "s" / "grid.png"
    grid.parent.mkdir()
    grid.write_bytes(b"my grid")
    check_one_error(_invoke("sample", model, "--out", grid.parent, "--n", "2", "--device", "cpu"),
                    1, "grid.png exists; pass --overwrite")
    assert grid.read_bytes() == b"my grid" and sorted(os.listdir(grid.parent)) == ["grid.png"]
    done = _invoke("sample", model, "--out", grid.parent, "--n", "2", "--device", "cpu", "--overwrite")
    assert done.exit_code == 0, done.output
    assert grid.read_bytes() != b"my grid"
    # a latents file is an input too
    import torch
    z = tmp_path / "z.safetensors"
    save_file({"z": torch.randn(2, 8)}, str(z))
    check_one_error(_invoke("sample", model, "--latents", z, "--tensors", z, "--overwrite",
                            "--device", "cpu"), 1, "is an input of this command")
    _documented("exists; pass --overwrite to replace it")


def test_sample_with_a_smaller_n_leaves_no_older_samples(files, tmp_path):
    """--n 2 into a folder of 4 earlier samples: refused without --overwrite (they would sit
    beside the new ones as if from this model); with it, the two extra old ones go."""
    model, out = files / "pre.safetensors", tmp_path / "s"
    assert _invoke("sample", model, "--out", out, "--n", "4", "--device", "cpu").exit_code == 0
    check_one_error(_invoke("sample", model, "--out", out, "--n", "2", "--seed", "1", "--device", "cpu"),
                    1, "exists; pass --overwrite")
    done = _invoke("sample", model, "--out", out, "--n", "2", "--seed", "1", "--device", "cpu", "--overwrite")
    assert done.exit_code == 0, done.output
    assert sorted(os.listdir(out)) == ["grid.png", "sample-00000.png", "sample-00001.png"]


def test_convert_never_writes_over_its_source(files, tmp_path):
    model = tmp_path / "m.safetensors"
    model.write_bytes((files / "pre.safetensors").read_bytes())
    check_one_error(_invoke("convert", model, model, "--overwrite"), 1, "is an input of this command")
    assert sha256_file(model) == sha256_file(files / "pre.safetensors")


def test_eval_report_into_a_run_folder_keeps_its_report(finished):
    before = _hashes(finished)
    result = _invoke("eval", "--before", finished / "adapted.safetensors", "--after",
                     finished / "unlearned.safetensors", "--samples", "4", "--device", "cpu",
                     "--report", finished)
    check_one_error(result, 1, "report.md exists; pass --overwrite to replace it")
    assert _hashes(finished) == before


# --------------------------------------------------------------------------- item 2: --overwrite
def test_overwrite_of_a_run_is_a_fresh_run(files, tmp_path):
    out = tmp_path / "run"
    assert _run(files, out, "--seed", "0").exit_code == 0
    old = _hashes(out)
    result = _run(files, out, "--seed", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    new = _hashes(out)
    for name in ("samples.safetensors", "adapted.safetensors", "unlearned.safetensors"):
        assert new[name] != old[name], f"{name} was reused"
    assert "seed: 2" in (out / "config.yaml").read_text()
    assert not [p for p in os.listdir(out) if p.startswith(".replaced")]  # the old run is gone
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert not [name for name in manifest if name.startswith(".")]


def test_overwrite_that_fails_early_puts_the_old_run_back(files, tmp_path):
    out = tmp_path / "run"
    assert _run(files, out).exit_code == 0
    old = _hashes(out)
    bad = _invoke("run", "--ckpt", tmp_path / "missing.safetensors", "--neg", files / "neg",
                  "--out", out, "--overwrite", *FAST)
    assert bad.exit_code == 1
    assert _hashes(out) == old
    assert not [p for p in os.listdir(out) if p.startswith((".replaced", ".lock"))]


def test_overwrite_of_a_folder_of_the_users_own_keeps_their_files(files, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _run(files, out, "--overwrite").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "unlearned.safetensors").is_file()


# --------------------------------------------------------------------------- items 13, 19
def test_a_failed_run_keeps_the_empty_folder_the_user_made(files, tmp_path):
    out = tmp_path / "made-by-user"
    out.mkdir()
    empty = tmp_path / "no-images"
    empty.mkdir()
    result = _invoke("run", "--ckpt", files / "pre.safetensors", "--neg", empty, "--out", out, *FAST)
    assert result.exit_code == 1
    assert out.is_dir() and os.listdir(out) == []


def test_default_run_names_are_unique_within_a_second(tmp_path, monkeypatch):
    from unlearn_cli.engine.run_folder import RunFolder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "run-20260101-000000")
    first, second = RunFolder.fresh(None, False), RunFolder.fresh(None, False)
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    first.finished(), second.finished()


def test_a_second_writer_is_refused(files, finished, tmp_path):
    from unlearn_cli.engine.run_folder import FolderLock

    out = tmp_path / "busy"
    out.mkdir()
    held = FolderLock(out, "")  # another process's run, as far as flock is concerned
    try:
        check_one_error(_run(files, out), 1, "is in use by another gan-unlearn process")
        check_one_error(_run(files, out, "--overwrite"), 1, "is in use by another gan-unlearn process")
    finally:
        held.release()
    assert os.listdir(out) == []
    _documented("is in use by another gan-unlearn process")


def test_resume_of_a_running_folder_is_refused(files, tmp_path, monkeypatch):
    from unlearn_cli.engine.run_folder import FolderLock

    out = tmp_path / "r"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _run(files, out).exit_code == 130
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    held = FolderLock(out, "")
    try:
        check_one_error(_invoke("run", "--resume", out, "--quiet"), 1,
                        "is in use by another gan-unlearn process")
    finally:
        held.release()
    log = (out / "train_log.jsonl").read_text()
    assert _invoke("run", "--resume", out, "--quiet").exit_code == 0
    assert (out / "train_log.jsonl").read_text().startswith(log)


# --------------------------------------------------------------------------- item 17
def test_a_finished_run_is_never_replaced_by_a_resume(files, finished, tmp_path):
    before = _hashes(finished)
    for command in ("run", "adapt"):
        check_one_error(_invoke(command, "--resume", finished, "--quiet"), 1, "that run is finished")
    other = tmp_path / "other.safetensors"
    other.write_bytes((finished / "adapted.safetensors").read_bytes())
    check_one_error(_invoke("unlearn", "--resume", finished, "--adapted", other, "--quiet"), 1,
                    "that run is finished")
    assert _hashes(finished) == before
    _documented("that run is finished")


def test_resume_with_another_command_or_other_adapted_models_is_refused(files, tmp_path, monkeypatch):
    adapted = tmp_path / "a"
    assert _run(files, adapted, command="adapt").exit_code == 0
    model = adapted / "adapted.safetensors"
    out = tmp_path / "u"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _invoke("unlearn", "--ckpt", files / "pre.safetensors", "--neg", files / "neg",
                   "--adapted", model, "--out", out, *FAST).exit_code == 130
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    check_one_error(_invoke("run", "--resume", out, "--quiet"), 1, "that folder was made by `gan-unlearn unlearn`")
    other = tmp_path / "other.safetensors"
    assert _run(files, tmp_path / "a2", "--seed", "5", command="adapt").exit_code == 0
    other.write_bytes((tmp_path / "a2" / "adapted.safetensors").read_bytes())
    check_one_error(_invoke("unlearn", "--resume", out, "--adapted", other, "--quiet"), 1,
                    "that run unlearns from other --adapted files")
    assert list((out / "resume").iterdir())
    done = _invoke("unlearn", "--resume", out, "--adapted", model, "--quiet")
    assert done.exit_code == 0, done.output
    _documented("that folder was made by `gan-unlearn")
    _documented("that run unlearns from other --adapted files")


def test_a_second_signal_during_the_checkpoint_does_not_remove_the_folder(files, tmp_path, monkeypatch):
    """Ctrl-C twice in quick succession: the second arrives while the first one's checkpoint is
    being written; it must neither cut that write short nor make the run remove its folder."""
    from unlearn_cli.engine import resume

    real = resume.save_checkpoint

    def second_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives inside the write
        return real(*args, **kwargs)

    monkeypatch.setattr(resume, "save_checkpoint", second_signal)
    out = tmp_path / "r"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    result = _run(files, out)
    check_one_error(result, 130, "interrupted during unlearn at step 2")
    assert (out / "samples.safetensors").is_file() and (out / "adapted.safetensors").is_file()
    assert list((out / "resume").iterdir()) and not _temp_files(out)


# --------------------------------------------------------------------------- item 3: disk full
def test_disk_full_during_a_stage_keeps_what_resume_needs(files, tmp_path, monkeypatch):
    from unlearn_cli.engine import loop

    def full(log, path, line):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(loop, "_append", full)
    out = tmp_path / "r"
    result = _run(files, out)
    line = check_one_error(result, 1, "No space left on device")
    assert f"could not write {out / 'train_log.jsonl'}" in line and "--resume" in line
    assert (out / "samples.safetensors").is_file() and not _temp_files(out)
    monkeypatch.undo()
    done = _invoke("run", "--resume", out, "--quiet")
    assert done.exit_code == 0, done.output
    _documented("finished stages are kept: free space, then continue with")


# --------------------------------------------------------------------------- item 18: train
TRAIN = ["--data", "NEG", "--gan", "dcgan", "--arch", "resolution=8", "--arch", "z_dim=8",
         "--arch", "channels=8", "--iters", "6", "--batch", "4", "--device", "cpu", "--quiet"]


def _train(files, out, *extra, env=None):
    args = [str(files / "neg") if a == "NEG" else a for a in TRAIN]
    return subprocess.run([sys.executable, "-m", "unlearn_cli", "train", *args, "--out", str(out),
                           *map(str, extra)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_train_sigterm_keeps_its_checkpoint_and_resumes_bit_identical(files, tmp_path):
    whole = _train(files, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    cut = _train(files, tmp_path / "cut", env={"GAN_UNLEARN_TEST_SIGNAL": "train:2:TERM"})
    assert cut.returncode == 130, cut.stderr
    assert cut.stderr.strip() == (f"error: interrupted during train at step 3 of 6; its checkpoint "
                                  f"was saved: continue with gan-unlearn train --resume "
                                  f"{tmp_path / 'cut'}")
    resumed = subprocess.run([sys.executable, "-m", "unlearn_cli", "train", "--resume",
                              str(tmp_path / "cut"), "--quiet"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (sha256_file(tmp_path / "cut" / "model.safetensors")
            == sha256_file(tmp_path / "whole" / "model.safetensors"))


def test_train_overwrite_with_new_options_starts_fresh(files, tmp_path):
    out = tmp_path / "t"
    cut = _train(files, out, env={"GAN_UNLEARN_TEST_INTERRUPT": "train:3"})
    assert cut.returncode == 130 and (out / "resume-train.safetensors").is_file()
    fresh = _train(files, out, "--overwrite", "--seed", "4", "--lr", "0.001")
    assert fresh.returncode == 0, fresh.stderr
    reference = _train(files, tmp_path / "ref", "--seed", "4", "--lr", "0.001")
    assert reference.returncode == 0
    assert sha256_file(out / "model.safetensors") == sha256_file(tmp_path / "ref" / "model.safetensors")
    assert not (out / "resume-train.safetensors").exists()


# --------------------------------------------------------------------------- items 22, 23
def test_a_signal_that_surfaces_as_a_loader_error_is_an_interruption(files, tmp_path, monkeypatch):
    """SIGTERM while the model loads: some loaders turn it into their own error; the answer is
    'interrupted' (130), never 'the file is damaged'."""
    from unlearn_cli.errors import UnlearnError
    from unlearn_cli.engine import pipeline

    def load(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:  # what a careless `except BaseException` in a loader does
            raise UnlearnError(f"{files / 'pre.safetensors'} could not be read; re-create the file") from None

    monkeypatch.setattr(pipeline, "load_gan", load)
    result = _run(files, tmp_path / "r")
    line = check_one_error(result, 130, "interrupted")
    assert "re-create" not in line and not (tmp_path / "r").exists()


def test_a_signal_swallowed_during_loading_still_stops_the_run(files, tmp_path, monkeypatch):
    from unlearn_cli.engine import pipeline

    real = pipeline.load_gan

    def load(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:  # swallowed by accident
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_gan", load)
    result = _run(files, tmp_path / "r")
    check_one_error(result, 130, "interrupted")
    assert not (tmp_path / "r" / "unlearned.safetensors").exists()


def test_stale_temporary_files_never_reach_the_manifest(files, tmp_path, monkeypatch):
    out = tmp_path / "r"
    monkeypatch.setenv("GAN_UNLEARN_TEST_INTERRUPT", "unlearn:2")
    assert _run(files, out).exit_code == 130
    monkeypatch.delenv("GAN_UNLEARN_TEST_INTERRUPT")
    (out / ".unlearned.safetensors.abc123.tmp").write_bytes(b"half")  # a SIGKILL mid-write
    assert _invoke("run", "--resume", out, "--quiet").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert not [n for n in manifest if n.endswith(".tmp") or n.startswith(".")]
    assert not _temp_files(out) and not (out / ".lock").exists()


def test_sigterm_during_sample_leaves_no_temporary_file(files, tmp_path):
    """A real process stopped while it writes its tensors file: no .tmp remains, exit 130."""
    code = (
        "import os, signal, sys\n"
        "import unlearn_cli.io.safetensors_writer as w\n"
        "real = w.write_safetensors\n"
        "def slow(path, *a, **k):\n"
        "    real(path, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "w.write_safetensors = slow\n"
        "from unlearn_cli.cli.main import main\n"
        "sys.argv = ['gan-unlearn', 'sample', sys.argv[1], '--tensors', sys.argv[2], '--device', 'cpu']\n"
        "main()\n")
    out = tmp_path / "t.safetensors"
    result = subprocess.run([sys.executable, "-c", code, str(files / "pre.safetensors"), str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "error: interrupted"
    assert not out.exists() and not _temp_files(tmp_path)


@pytest.mark.parametrize("checkpoint, failing", [("adapt-1", 1), ("unlearn", 2)])
def test_disk_full_while_writing_a_checkpoint_keeps_the_folder(files, tmp_path, monkeypatch,
                                                              checkpoint, failing):
    """A periodic checkpoint cannot be written: an earlier one stays (atomic write), the folder
    and its samples stay (even with no stage finished yet), and --resume finishes the run."""
    import unlearn_cli.io.safetensors_writer as writer

    real, calls = writer.write_safetensors, []

    def fills_up(path, *args, **kwargs):
        if f".{checkpoint}.safetensors." in Path(path).name:
            calls.append(path)
            if len(calls) == failing:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(writer, "write_safetensors", fills_up)
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  checkpoint_every: 1\n")
    out = tmp_path / "r"
    result = _run(files, out, "--config", config)
    check_one_error(result, 1, "No space left on device")
    assert (out / "samples.safetensors").is_file() and not _temp_files(out)
    assert (out / "resume" / "unlearn.safetensors").is_file() == (failing > 1)
    monkeypatch.undo()
    done = _invoke("run", "--resume", out, "--quiet")
    assert done.exit_code == 0, done.output


def _on_a_terminal(args, answer: bytes, timeout: float = 120.0) -> tuple[int, str]:
    """Run gan-unlearn with a pseudo-terminal as stdin/stdout/stderr; send ``answer`` once the
    manual source's question is shown. Returns the exit code and everything printed."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "unlearn_cli", *map(str, args)], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not sent and b"undesired samples" in seen:
                os.write(master, answer)
                sent = True
            if proc.poll() is not None and not ready:
                break
    finally:
        os.close(master)
    proc.wait(timeout=30)
    return proc.returncode, seen.decode("utf-8", "replace").replace("\r\n", "\n")


def test_end_of_input_at_the_manual_prompt_is_a_line_of_its_own(tmp_path):
    code, text = _on_a_terminal(["run", "--source", "manual", "--ui", "terminal", "--candidates",
                                 "16", "--out", tmp_path / "r", "--quiet", "--device", "cpu"],
                                b"\x04")  # Ctrl-D: end of input
    errors = [line for line in text.splitlines() if "error:" in line]
    assert code == 1, text
    assert len(errors) == 1 and errors[0].startswith("error: "), text  # not glued to the question
    assert "no answer to the question (end of input)" in errors[0] and "--pick" in errors[0]
    assert "Traceback" not in text
    _documented("no answer to the question (end of input)")


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_a_signal_while_the_cli_starts_is_one_line_and_exit_130(tmp_path, delay, sig):
    """Ctrl-C or SIGTERM while Python imports the CLI or its plugins: one line, exit 130, no
    run folder. (A Ctrl-C while plugins loaded was taken as a plugin's failure and lost: the
    run went on to exit 0.)"""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "unlearn_cli", "run", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(getattr(signal, f"SIG{sig}"))
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and proc.returncode != 0
    if proc.returncode < 0:  # (a loaded machine: killed before Python ran any of our code)
        assert err == "" and proc.returncode == -getattr(signal, f"SIG{sig}")
        assert not out.exists()
    else:  # where the signal lands depends on the machine's speed: start-up, collection or a stage
        assert proc.returncode == 130 and len(err.strip().splitlines()) == 1, err
        assert err.startswith("error: interrupted"), err
        if err.strip() == "error: interrupted":  # before any stage: nothing is kept
            assert not out.exists()
