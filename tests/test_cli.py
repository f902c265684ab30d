"The `labkit` command: help, data info, and refusing bad input before doing any work."
import multiprocessing.process, subprocess, sys
from pathlib import Path
import pytest
import labkit.run.labs, labkit.synth, labkit.synth.find
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


@pytest.mark.parametrize("args, message", [
    (["-p", "epochs=abc"], "expects a whole number"),
    (["-p", "epochs=0"], "-p epochs=0"),
    (["-p", "device=gpu"], "device='gpu'"),
    (["--data-dir", "/nowhere/at/all"], "does not exist"),
    (["--only", ""], "selects no lab"),
    (["--cell-timeout", "-5"], "seconds > 0"),
])
def test_lab_checks_its_input_before_any_kernel_starts(tmp_path, monkeypatch, capsys, args, message):
    "`labkit lab` (its entry point, in this process) refuses bad input before it builds the corpus or starts any process."
    started = []
    def record(what):
        def started_anyway(*a, **k):
            started.append(what)
            raise AssertionError(f"{what} started before the input was refused")
        return started_anyway
    monkeypatch.setattr(subprocess, "Popen", record("a child process (papermill, a kernel)"))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", record("a worker process"))
    for module in (labkit.synth, labkit.synth.find): monkeypatch.setattr(module, "make_corpus", record("the corpus"))
    monkeypatch.setattr(labkit.run.labs, "execute_notebook", record("a lab notebook"))
    monkeypatch.setattr(labkit.run.labs, "run_many", record("a run on workers"))
    try: code = main(["lab", "--preset", "tiny", "--out", str(tmp_path / "run"), *args])
    except SystemExit as e: code = e.code                     # argparse refuses a malformed option this way
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and started == []  # refused before the corpus or any kernel


def test_lab_out_must_be_a_folder(tmp_path, lab_root):
    (tmp_path / "file").write_text("x")
    r = run("lab", "--out", str(tmp_path / "file"), "--data-dir", str(lab_root))
    assert r.returncode == 2 and "is a file" in r.stderr and "Traceback" not in r.stderr


def test_data_info_on_a_file_says_it_is_a_file(lab_root, capsys):
    assert main(["data", "info", str(lab_root / "fma_genre_spectrograms" / "train_labels.txt")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_version_and_python_m_labkit():
    import labkit
    assert run("--version").stdout.strip() == f"labkit {labkit.__version__}"
    r = subprocess.run([sys.executable, "-m", "labkit", "labs", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "01_explore.ipynb" in r.stdout


def test_bench_is_offered_only_where_the_benchmarks_are(monkeypatch, capsys):
    import labkit.cli
    monkeypatch.setattr(labkit.cli, "_bench_dir", lambda: None)      # as in an installed wheel: no bench/ beside labkit
    assert "\n    bench " not in labkit.cli.build_parser().format_help() and "\n    bench " in run("--help").stdout
    with pytest.raises(SystemExit): main(["bench"])
    assert "invalid choice: 'bench'" in capsys.readouterr().err


def test_a_yaml_params_file_without_pyyaml_names_the_fix(tmp_path, monkeypatch):
    from labkit.core.errors import LabkitError
    from labkit.run.sweeps import read_param_sets
    (tmp_path / "sets.yaml").write_text("- {lr: 0.001}\n")
    assert read_param_sets(tmp_path / "sets.yaml") == [{"lr": 0.001}]
    monkeypatch.setitem(sys.modules, "yaml", None)                   # `import yaml` now fails as if not installed
    with pytest.raises(LabkitError, match="pip install pyyaml"): read_param_sets(tmp_path / "sets.yaml")


def test_lab_time_limits_follow_the_data_size(tmp_path, lab_root, monkeypatch):
    "A --data-dir gets the limits of its size: its embedded corpus's preset, or the smallest preset it fits; not always 4 h."
    from labkit.run.labs import TIME_LIMITS
    (tmp_path / "labs").mkdir()
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("data_dir = None\npreset = 'tiny'\nout_dir = 'out'", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, tmp_path / "labs" / "01_toy.ipynb")
    given = []
    def fake(nb, out_nb, params, **kw):
        given.append((kw["cell_timeout"], kw["timeout"]))
        return dict(status="ok", error=None, cell=None, seconds=0.0, log=str(out_nb) + ".log")
    monkeypatch.setattr(labkit.run.labs, "execute_notebook", fake)
    def limits(data):
        assert main(["lab", "--labs", str(tmp_path / "labs"), "--out", str(tmp_path / f"run{len(given)}"), "--data-dir", str(data)]) == 0
        return given[-1]
    assert limits(lab_root) == TIME_LIMITS["tiny"]                        # a few MB: the tiny preset's minutes
    (lab_root / "INFO.json").write_text('{"preset": "small"}')            # an embedded corpus says its preset
    assert limits(lab_root) == TIME_LIMITS["small"]
    (lab_root / "INFO.json").unlink()
    with open(lab_root / "big.bin", "wb") as f: f.truncate(3 * 10**9)    # past twice the small corpus: real data's hours
    assert limits(lab_root) == TIME_LIMITS["full"]
