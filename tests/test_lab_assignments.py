"""The seven labs are assignments: `labkit assign` makes their student copies (at least 15 exercises, nothing of
the solutions or hidden tests left, kernelspec and parameters cell kept), and `labkit grade` gives the instructor
copies every automatic point and the student copies none, while the student copy still runs to its end (the
later steps fall back on labkit's own code)."""
import csv, json, subprocess, sys
from pathlib import Path

import nbformat, pytest

from labkit.teach.release import read_assignment
from labkit.run.params import list_labs
from conftest import TINY

LABKIT = str(Path(sys.executable).parent / "labkit")
LABS = [p for p in list_labs() if p.name[:2] in {f"{i:02d}" for i in range(1, 8)}]
GRADED = ("06_multitask", "07_embeddings")  # the two cheapest labs on the tiny preset
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "# SOLUTION")


def labkit(*args):
    return subprocess.run([LABKIT, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    r = labkit("assign", *LABS, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r.stdout


def test_seven_labs():
    assert [p.name[:2] for p in LABS] == [f"{i:02d}" for i in range(1, 8)]


def test_release_checklist(release):
    out, stdout = release
    total = next(l for l in stdout.splitlines() if l.startswith("total")).split()
    exercises, auto_points, visible, hidden = map(float, total[1:5])
    assert exercises >= 15 and auto_points > 0 and visible >= exercises and hidden >= exercises, stdout
    assert "warning" not in stdout, stdout
    for lab in LABS:
        a = read_assignment(lab)
        kinds = [g.mark.kind for g in a.cells]
        assert kinds.count("tests") >= 1, f"{lab.name} has no exercise"
        for g in a.cells:
            if g.mark.kind == "tests":
                assert any(not t.hidden for t in g.tests) and any(t.hidden for t in g.tests), f"{lab.name} {g.mark.id}"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_student_copy(release, lab):
    out, _ = release
    student, instructor = nbformat.read(out / lab.name, as_version=4), nbformat.read(lab, as_version=4)
    assert student.metadata["kernelspec"] == instructor.metadata["kernelspec"]
    tagged = [c for c in student.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source == next(c.source for c in instructor.cells if "parameters" in c.metadata.get("tags", []))
    text = "\n".join(c.source for c in student.cells)
    for marker in MARKERS: assert marker not in text, f"{lab.name}: {marker!r} left in the student copy"
    assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")
    a = read_assignment(lab)
    for g in a.cells:
        if g.mark.kind == "solution":
            body = g.source.split("BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
            answer = [l.strip() for l in body.splitlines()[1:] if l.strip()]
            assert answer and not any(l in text for l in answer), f"{lab.name} {g.mark.id}: solution text left"
            assert "raise NotImplementedError()" in g.student
        if g.mark.kind == "answer":
            assert "YOUR ANSWER HERE" in g.student
        for t in g.tests:
            if t.hidden: assert t.code.strip() not in text, f"{lab.name} {g.mark.id}: hidden test {t.name!r} left"


@pytest.fixture(scope="module")
def grades(release, tmp_path_factory):
    out, _ = release
    subs = tmp_path_factory.mktemp("submissions")
    params = []
    for name in GRADED:
        lab = next(p for p in LABS if p.stem == name)
        for who, src in (("instructor", lab), ("student", out / lab.name)):
            (subs / who).mkdir(exist_ok=True)
            (subs / who / lab.name).write_bytes(src.read_bytes())
        declared = nbformat.read(lab, as_version=4)
        source = next(c.source for c in declared.cells if "parameters" in c.metadata.get("tags", []))
        params += [f"{k}={v}" for k, v in TINY.items() if f"\n{k} =" in "\n" + source]
    gdir = tmp_path_factory.mktemp("grades")
    args = ["grade", subs, "--out", gdir, "-j", "2", "-p", "preset=tiny", "--cell-timeout", "300", "--timeout", "600"]
    for p in dict.fromkeys(params): args += ["-p", p]
    for name in GRADED: args += ["--source", next(p for p in LABS if p.stem == name)]
    r = labkit(*args)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    rows = list(csv.DictReader(open(gdir / "grades.csv")))
    return gdir, {(row["assignment"], row["student_id"]): row for row in rows}


@pytest.mark.slow
@pytest.mark.parametrize("name", GRADED)
def test_instructor_copy_earns_every_point(grades, name):
    gdir, rows = grades
    res = json.loads((gdir / name / "instructor" / "result.json").read_text())
    assert res["run"]["status"] == "ok", res["run"]
    failed = [(e["id"], t["name"], t["message"]) for e in res["exercises"] for t in e["tests"] if not t["passed"]]
    assert not failed and res["auto_max"] > 0 and res["raw_score"] == res["auto_max"], failed
    assert float(rows[name, "instructor"]["raw_score"]) == res["auto_max"]


@pytest.mark.slow
@pytest.mark.parametrize("name", GRADED)
def test_student_copy_scores_zero_and_runs_to_the_end(grades, name):
    gdir, rows = grades
    res = json.loads((gdir / name / "student" / "result.json").read_text())
    assert res["status"] == "graded" and res["run"]["status"] == "ok", res["run"]
    tests = [t for e in res["exercises"] for t in e["tests"]]
    assert tests and not any(t["passed"] for t in tests) and res["raw_score"] == 0
    assert all("NotImplementedError" in t["message"] for t in tests), [t["message"] for t in tests if "NotImplementedError" not in t["message"]]
    assert float(rows[name, "student"]["raw_score"]) == 0
    executed = nbformat.read(gdir / name / "student" / "executed.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code" and c.metadata.get("labkit_grade", {}).get("role") != "tests"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[:1]
    assert "metrics.json" in code[-1].source and code[-1].get("outputs"), "the last cell did not run"
