"""The benchmark scripts whose numbers docs/ quotes keep working on a clean checkout."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_measures_one_bundled_step_through_the_real_loop():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--one",
                           "bundled:fp32:contiguous:off", "--steps", "1", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["config"] == "bundled" and row["gflop_per_step"] > 0
    assert 0 < row["plain_step_s"] <= row["r1_step_s"] * 2
    assert 0 < row["repulsion_share"] < 0.05 and row["sampling_images_per_s"] > 0
    assert 0 < row["fraction_of_peak"] < 1.5 and row["peak_memory_mb"] > 0
    # the launch-overhead figure: every step runs hundreds of operators; nothing was compiled
    assert row["launches_per_step"] > 100 and row["compile"] == "off" and row["compile_s"] == 0


def test_step_variants_times_every_variant_in_each_round(tmp_path):
    out = tmp_path / "variants.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_variants.py"),
                           "--config", "bundled", "--precisions", "fp32,bf16", "--rounds", "2",
                           "--warmup", "1", "--steps", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    times = json.loads(out.read_text())["times"]
    # the strided-blur variant differs only under bf16, so fp32 does not time it
    assert sorted(times) == ["bf16/all", "bf16/separate-d", "bf16/strided-blur",
                             "fp32/all", "fp32/separate-d"]
    assert all(len(ts) == 2 and min(ts) > 0 for ts in times.values())
    assert "| bf16 | strided-blur |" in done.stdout


def test_quality_table_reprints_from_the_recorded_rows():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--from",
                           str(ROOT / "docs" / "results-runs.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    results = (ROOT / "docs" / "results.md").read_text()
    assert lines[0].startswith("| method |") and len(lines) > 5
    for line in lines:  # docs/results.md shows exactly this table
        assert line in results, line


def test_gpu_check_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0


def test_suite_table_reprints_exactly_the_block_in_the_docs():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--from",
                           str(ROOT / "docs" / "results-suite.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    results = (ROOT / "docs" / "results.md").read_text()
    block = results.split("<!-- suite:begin -->\n", 1)[1].split("\n<!-- suite:end -->", 1)[0]
    assert done.stdout.strip() == block.strip() and block.startswith("| task |")


def test_suite_writes_its_table_between_the_markers(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import suite

    doc = tmp_path / "r.md"
    doc.write_text("# r\n\nbefore\n")
    suite.write_into(doc, ["| a |", "|---|"])
    suite.write_into(doc, ["| b |", "|---|"])  # replaced, not appended twice
    text = doc.read_text()
    assert text.count("<!-- suite:begin -->") == 1 and "| b |" in text and "| a |" not in text
    assert text.startswith("# r\n\nbefore\n")
