"""`labkit sweep` (labkit's parser, then labkit.run.sweeps' run_cli) on a Dask LocalCluster: one folder per run, a failing run
recorded with its cell, the summary table and plot, and a resumed sweep that runs only what did not finish."""
import json
from pathlib import Path
import nbformat, pandas as pd, pytest
from labkit.core import LabkitError
from labkit.cli import build_parser
from labkit.run.sweeps import RECORD, run_cli


def toy(path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1.0\nseed = 0\nout_dir = 'out'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\nout = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)"),
                nbformat.v4.new_code_cell("assert x < 3, 'x too large'\n"
                                          "json.dump({'test': {'score': x * 10 + seed}}, open(out / 'metrics.json', 'w'))")]
    nbformat.write(nb, path)
    return path


def labkit_sweep(*argv):
    return run_cli(build_parser().parse_args(["sweep", *map(str, argv)]))


@pytest.mark.slow
def test_sweep_on_a_local_cluster_records_failures_and_resumes(tmp_path):
    nb, out = toy(tmp_path / "toy.ipynb"), tmp_path / "sweep"
    rc = labkit_sweep(nb, "-p", "x=1.0,3.0", "-p", "seed=0,1", "--out", out, "--scheduler", "local:2",
                      "--metric", "test.score", "--by", "x", "--cell-timeout", 60, "--run-timeout", 120)
    assert rc == 1                                                     # one parameter set fails
    table = pd.read_csv(out / "summary.csv")
    assert list(table["run"]) == ["seed=0_x=1.0", "seed=0_x=3.0", "seed=1_x=1.0", "seed=1_x=3.0"]
    assert list(table["status"]) == ["ok", "failed", "ok", "failed"]
    assert list(table["test.score"].fillna(-1)) == [10.0, -1, 11.0, -1]
    failed = json.loads((out / "seed=0_x=3.0" / RECORD).read_text())
    assert failed["cell"] == 4 and "AssertionError: x too large" in failed["error"] and failed["params"] == {"seed": 0, "x": 3.0}
    assert (out / "seed=1_x=1.0" / "metrics.json").exists() and (out / "seed=1_x=1.0" / "toy.ipynb").exists()
    assert (out / "test.score_by_x.png").exists() and "x too large" in (out / "summary.md").read_text()
    # an interrupted sweep: one finished run lost its record; the same command runs it and the failed ones, nothing else
    kept = (out / "seed=0_x=1.0" / RECORD).stat().st_mtime_ns
    (out / "seed=1_x=1.0" / RECORD).unlink()
    rc = labkit_sweep(nb, "-p", "x=1.0", "-p", "seed=0,1", "--out", out, "--jobs", 2)
    assert rc == 0
    assert (out / "seed=0_x=1.0" / RECORD).stat().st_mtime_ns == kept                 # not run again
    assert json.loads((out / "seed=1_x=1.0" / RECORD).read_text())["metrics"] == {"test": {"score": 11.0}}


def test_parameters_are_checked_before_anything_runs(tmp_path):
    nb, out = toy(tmp_path / "toy.ipynb"), tmp_path / "sweep"
    with pytest.raises(LabkitError, match="Did you mean 'seed'"): labkit_sweep(nb, "-p", "sed=0,1", "--out", out)
    with pytest.raises(LabkitError, match="expects a whole number"): labkit_sweep(nb, "-p", "seed=0,'a'", "--out", out)
    with pytest.raises(LabkitError, match="out_dir is set by the sweep"): labkit_sweep(nb, "-p", "out_dir='x'", "--out", out)
    sets = tmp_path / "sets.json"; sets.write_text('{"x": 1}')
    with pytest.raises(LabkitError, match="expected a non-empty list of dicts"): labkit_sweep(nb, "--params-file", sets)
    assert not out.exists()
