"`labkit lab` on a folder of toy labs: a failing lab is reported with its cell and error, the others still run."
import json, subprocess, sys
from pathlib import Path
import nbformat

LABKIT = str(Path(sys.executable).parent / "labkit")


def toy_lab(path, body):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    params = "data_dir = None\npreset = 'tiny'\nepochs = 1\nbatch_size = 8\nseed = 0\ndevice = 'cpu'\nout_dir = 'out'"
    nb.cells = [nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\nout = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)"),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def test_failing_lab_is_reported_and_the_rest_still_run(tmp_path, lab_root):
    labs = tmp_path / "labs"; labs.mkdir()
    toy_lab(labs / "01_ok.ipynb", "json.dump({'epochs': epochs}, open(out / 'metrics.json', 'w'))")
    toy_lab(labs / "02_broken.ipynb", "raise ValueError('the model diverged')")
    toy_lab(labs / "03_plot.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
                                    "json.dump({'seed': seed}, open(out / 'metrics.json', 'w'))")
    run = tmp_path / "run"
    r = subprocess.run([LABKIT, "lab", "--labs", str(labs), "--out", "run", "--data-dir", str(lab_root),
                        "-p", "epochs=3"], capture_output=True, text=True, cwd=tmp_path)  # a relative --out, as `make lab` gives
    assert r.returncode == 1, r.stderr
    summary = {s["name"]: s for s in json.loads((run / "summary.json").read_text())}
    assert [summary[n]["status"] for n in ("01_ok", "02_broken", "03_plot")] == ["ok", "failed", "ok"]
    assert "ValueError: the model diverged" in summary["02_broken"]["error"] and "cell" in summary["02_broken"]["error"]
    assert summary["01_ok"]["metrics"] == {"epochs": 3} and summary["03_plot"]["metrics"] == {"seed": 0}
    assert list((run / "03_plot" / "figures").glob("*.png"))  # figures are drawn inline and extracted
    md = (run / "summary.md").read_text()
    assert "## Failures" in md and "02_broken" in md and "| 01_ok | epochs | 3 |" in md
    assert (run / "02_broken.ipynb").exists()  # the executed notebook shows where it stopped
    assert (run / "01_ok" / "metrics.json").exists() and not (labs / "run").exists()  # outputs land in --out
