"""Calibrated checks: `labkit assign --calibrate` measures each check's band on the instructor copy over a few seeds
(calibration.json beside the student copies), and `labkit grade --calibration` gives full points inside the band,
a linear share between the pooled baseline and the band, none at or below the baseline. A toy assignment (a
15-nearest-neighbour model of noisy two-class points, a majority-class baseline) keeps the runs to seconds."""
import json, math, subprocess, sys
from pathlib import Path

import nbformat, pytest

from labkit.core.errors import LabkitError
from labkit.teach.grading import _score, grade_one
from labkit.teach.release import CALIBRATION, read_assignment, read_calibration

LABKIT = str(Path(sys.executable).parent / "labkit")
SOLUTION = "    return x.copy(), y.copy()\n"
SHUFFLED = "    return x.copy(), np.random.default_rng(1).permutation(y)\n"   # labels shuffled before training
TOY = ["seed = 0\nn = 1000",
       "import numpy as np\nrng = np.random.default_rng(seed)\ny = rng.integers(0, 2, n)\n"
       "x = rng.normal(size=(n, 2)) + 1.2 * y[:, None]\ntrain, test = slice(0, n // 2), slice(n // 2, n)",
       "# labkit: solution fit\ndef fit(x, y):\n    ### BEGIN SOLUTION\n" + SOLUTION + "    ### END SOLUTION",
       "mx, my = fit(x[train], y[train])\nnear = ((x[test, None] - mx[None]) ** 2).sum(-1).argsort(1)[:, :15]\n"
       "pred = (my[near].mean(1) > 0.5).astype(int)\naccuracy = float((pred == y[test]).mean())\n"
       "baseline = float((y[test] == np.bincount(y[train]).argmax()).mean())",
       "# labkit: tests fit_tests points=3\n# test: every point kept\nassert len(fit(x, y)[1]) == len(y)\n"
       "### BEGIN HIDDEN TESTS\n# test: it learned points=2\n# calibrate: accuracy baseline=baseline\n### END HIDDEN TESTS"]
KEY = "fit_tests/it learned"


def toy(path):
    cells = [nbformat.v4.new_code_cell(s, metadata={"tags": ["parameters"]} if k == 0 else {}) for k, s in enumerate(TOY)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "python3",
                                                                                  "language": "python"}}), path)
    return path


def answered(student:Path, body:str, dest:Path) -> Path:
    "The student copy with the stub of `fit` replaced by `body`."
    nb = nbformat.read(student, as_version=4)
    for c in nb.cells:
        if c.source.startswith("# labkit: solution fit"):
            c.source = c.source.replace("    # YOUR CODE HERE\n    raise NotImplementedError()", body.rstrip("\n"))
    nbformat.write(nb, dest)
    return dest


def labkit(*args):
    return subprocess.run([LABKIT, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    "The toy assignment released and calibrated over 3 seeds by the command line."
    d = tmp_path_factory.mktemp("calibration")
    lab = toy(d / "toy.ipynb")
    r = labkit("assign", lab, "--out", d / "release", "--calibrate", "--seeds", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    return d, lab, r.stdout


@pytest.mark.slow
def test_calibration_stores_each_checks_band(calibrated):
    d, lab, stdout = calibrated
    cal = json.loads((d / "release" / CALIBRATION).read_text())["assignments"]["toy"]
    assert cal["sha256"] == read_assignment(lab).sha256 and cal["seeds"] == [0, 1, 2] and cal["seconds"] > 0
    assert cal["params"] == {}                            # the toy declares none of preset, epochs, device
    b = cal["checks"][KEY]
    assert len(b["values"]) == 3 and b["min"] == min(b["values"]) and b["max"] == max(b["values"])
    assert math.isclose(b["low"], b["min"] - b["sd"]) and b["sd"] > 0
    assert 0.4 < b["baseline"] < 0.6 < b["low"] <= b["mean"] < 0.95, b   # a majority guess below, the model above
    assert "toy: fit_tests/it learned" in stdout and (d / "release" / "toy.ipynb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_instructor_copy_passes_on_every_calibration_seed(calibrated, seed):
    d, lab, _ = calibrated
    a = read_assignment(lab)
    bands = read_calibration(d / "release" / CALIBRATION, [a], {"toy": {}})["toy"]
    r = grade_one(a, a.nb, {"seed": seed}, bands=bands, cell_timeout=60, timeout=120)
    learned = r["exercises"][0]["tests"][1]
    assert learned["passed"] and learned["points"] == 2.0 and "in the calibrated band" in learned["message"], learned


@pytest.mark.slow
def test_grading_scores_against_the_band(calibrated):
    d, lab, _ = calibrated
    subs = d / "subs"; subs.mkdir()
    answered(d / "release" / "toy.ipynb", SOLUTION, subs / "alice.ipynb")
    answered(d / "release" / "toy.ipynb", SHUFFLED, subs / "mallory.ipynb")
    r = labkit("grade", subs, "--out", d / "grades", "--source", lab, "--calibration", d / "release" / CALIBRATION)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = {s: json.loads((d / "grades" / "toy" / s / "result.json").read_text()) for s in ("alice", "mallory")}
    learned = {s: res[s]["exercises"][0]["tests"][1] for s in res}
    assert learned["alice"]["passed"] and res["alice"]["raw_score"] == 3
    band = json.loads((d / "release" / CALIBRATION).read_text())["assignments"]["toy"]["checks"][KEY]
    assert not learned["mallory"]["passed"] and learned["mallory"]["value"] < band["low"], learned["mallory"]
    assert learned["mallory"]["points"] < 1, learned["mallory"]           # about chance: little or no credit
    feedback = (d / "grades" / "students" / "mallory" / "toy" / "feedback.md").read_text()
    assert "✗ it learned (hidden): " in feedback and "pooled baseline" in feedback and "band " in feedback, feedback


@pytest.mark.slow
def test_other_grading_parameters_are_refused(calibrated):
    d, lab, _ = calibrated
    with pytest.raises(LabkitError, match="calibrated with"):
        read_calibration(d / "release" / CALIBRATION, [read_assignment(lab)], {"toy": {"n": 400}})


def test_a_calibration_of_another_notebook_is_refused(tmp_path):
    lab = toy(tmp_path / "toy.ipynb")
    (tmp_path / CALIBRATION).write_text(json.dumps({"assignments": {"toy": {"sha256": "0" * 64, "params": {}, "checks": {}}}}))
    with pytest.raises(LabkitError, match="another version"):
        read_calibration(tmp_path / CALIBRATION, [read_assignment(lab)], {"toy": {}})


@pytest.mark.parametrize("value, points", [(0.80, 2.0), (0.70, 2.0), (0.60, 1.0), (0.55, 0.5), (0.50, 0.0), (0.30, 0.0)])
def test_partial_credit_is_linear_between_the_baseline_and_the_band(tmp_path, value, points):
    a = read_assignment(toy(tmp_path / "toy.ipynb"))
    band = dict(mean=0.75, sd=0.03, min=0.73, max=0.78, low=0.70, baseline=0.50, values=[0.73, 0.75, 0.78])
    ok = value >= band["low"]
    v = dict(ok=ok, message="" if ok else f"ValueError: calibrated value {value!r} baseline 0.5", seconds=0.0)
    (e,) = _score(a, {("fit_tests", 0): dict(ok=True, message=""), ("fit_tests", 1): v}, {"status": "ok"}, {KEY: band})
    assert math.isclose(e["tests"][1]["points"], points) and e["tests"][1]["passed"] == ok


def test_no_calibration_grades_the_check_against_the_baseline(tmp_path):
    t = read_assignment(toy(tmp_path / "toy.ipynb")).by_id("fit_tests").tests[1]
    assert t.calibrate == ("accuracy", "baseline") and t.code == "assert float(accuracy) > float(baseline)\n"


@pytest.mark.slow
def test_without_a_calibration_the_check_asks_for_the_baseline_and_the_report_says_so(calibrated, tmp_path):
    d, lab, _ = calibrated
    answered(d / "release" / "toy.ipynb", SOLUTION, tmp_path / "alice.ipynb")
    answered(d / "release" / "toy.ipynb", SHUFFLED.replace("permutation(y)", "permutation(y) * 0"), tmp_path / "bob.ipynb")
    r = labkit("grade", tmp_path / "alice.ipynb", tmp_path / "bob.ipynb", "--out", tmp_path / "grades", "--source", lab)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    learned = {s: json.loads((tmp_path / "grades" / "toy" / s / "result.json").read_text())["exercises"][0]["tests"][1]
               for s in ("alice", "bob")}
    assert learned["alice"]["passed"] and not learned["bob"]["passed"] and not learned["bob"]["calibrated"]
    assert "calibrated checks have no band" in (tmp_path / "grades" / "report.md").read_text()
