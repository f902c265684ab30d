"The `labkit` command: help, data info, and refusing bad input before doing any work."
import subprocess, sys
from pathlib import Path
import pytest
from labkit.cli import main

LABKIT = str(Path(sys.executable).parent / "labkit")


def run(*args):
    return subprocess.run([LABKIT, *args], capture_output=True, text=True)


def test_help_explains_each_subcommand():
    r = run("--help")
    assert r.returncode == 0
    for sub in ("data", "lab", "bench"): assert sub in r.stdout
    r = run("lab", "--help")
    for opt in ("--preset", "--out", "--only", "--data-dir", "-p KEY=VALUE"): assert opt in r.stdout
    assert "--preset" in run("data", "synth", "--help").stdout


def test_data_info_reads_the_real_layout(lab_root, capsys):
    assert main(["data", "info", str(lab_root)]) == 0
    out = capsys.readouterr().out
    assert "fma_genre_spectrograms_beat" in out and "test_labels.txt, train_labels.txt" in out
    assert "multitask_dataset " in out


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: error:") and "does not exist" in err


def test_lab_rejects_unknown_parameter_before_running(tmp_path):
    r = run("lab", "--preset", "tiny", "--out", str(tmp_path / "run"), "-p", "epoch=1")
    assert r.returncode == 2 and "Unknown parameter 'epoch'" in r.stderr and "Did you mean 'epochs'" in r.stderr
    assert not (tmp_path / "run").exists()


def test_lab_rejects_unknown_lab_number(tmp_path):
    r = run("lab", "--only", "99", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "No lab numbered [99]" in r.stderr
