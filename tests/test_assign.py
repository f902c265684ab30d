"""labkit assign / grade on a toy assignment: the student copy, and a suite of submissions made from the instructor
copy by mutation (broken exercises, moved/deleted/retyped cells, hangs, crashes, floods, widgets, tampering), each
with its exact expected score. Runs its kernels two at a time with small time limits."""
import copy, csv, json, os
from pathlib import Path

import nbformat, pytest

import labkit.teach.grading as A
from labkit.core import LabkitError

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

INSTRUCTOR = [
    ("markdown", "# Toy lab\nNormalize, count, clip."),
    ("code", "scale = 1.0", ["parameters"]),
    ("code", "import numpy as np"),
    ("code", """# labkit: solution q1
def normalize(x):
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std()
    ### END SOLUTION"""),
    ("code", """# labkit: tests q1_tests points=3
import numpy as np
# test: mean is zero
assert np.isclose(normalize([1, 2, 3]).mean(), 0)
# test: std is one
assert np.isclose(normalize([1, 2, 3]).std(), 1)
### BEGIN HIDDEN TESTS
# test: longer input
assert np.isclose(normalize(np.arange(10)).std(), 1)
### END HIDDEN TESTS"""),
    ("code", """# labkit: solution q2
def count_words(s):
    return len(s.split())  # SOLUTION"""),
    ("code", """# labkit: tests q2_tests points=2
# test: three words
assert count_words("a bb c") == len(["a", "bb", "c"])
### BEGIN HIDDEN TESTS
# test: spaces
assert count_words("  x   y ") == 2
### END HIDDEN TESTS"""),
    ("code", """# labkit: solution q3
def clip(x, lo, hi):
    # BEGIN SOLUTION
    return np.clip(np.asarray(x, dtype=float), lo, hi)
    # END SOLUTION"""),
    ("code", """# labkit: tests q3_tests points=2
from numpy.testing import assert_allclose
# test: clips both ends
assert_allclose(clip([-5, 0, 5], -1, 1), [-1, 0, 1])
### BEGIN HIDDEN TESTS
# test: inside stays
assert_allclose(clip([0.5], 0, 1), [0.5])
### END HIDDEN TESTS"""),
    ("markdown", "<!-- labkit: answer q4_why points=2 -->\n### BEGIN SOLUTION\nBecause the mean is removed first.\n### END SOLUTION"),
    ("code", "print('done')"),
]
AUTO_MAX, MANUAL_MAX = 7, 2
WITHHELD = "withheld"          # the expected outcome of a tampering class the grader cannot score: flagged, no score given
Q1, Q2, Q3 = 3, 2, 2


def make_instructor(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    for k, (kind, src, *tags) in enumerate(INSTRUCTOR):
        c = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
        if tags: c.metadata["tags"] = tags[0]
        c.id = f"cell{k:04d}"
        nb.cells.append(c)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("assign")
    src = make_instructor(root / "toy.ipynb")
    rows = A.main_assign([src], root / "release", quiet=True)
    return root, src, rows


def solved(student: dict) -> dict:
    "The student copy with the instructor's solutions typed in (markers removed), as a good student would."
    inst = {c.id: c.source for c in nbformat.read(TOY_SRC, as_version=4).cells}
    nb = copy.deepcopy(student)
    for c in nb.cells:
        if c.metadata.get("labkit", {}).get("kind") == "solution":
            lines = [l for l in inst[c.id].splitlines() if "BEGIN SOLUTION" not in l and "END SOLUTION" not in l]
            c.source = "\n".join(l.replace("  # SOLUTION", "") for l in lines)
    return nb


def cell_of(nb, id):
    return next(k for k, c in enumerate(nb.cells) if c.metadata.get("labkit", {}).get("id") == id)


def code(src):
    return nbformat.v4.new_code_cell(src)


def replace_solution(nb, id, src):
    nb.cells[cell_of(nb, id)].source = f"# labkit: solution {id}\n" + src
    return nb


BROKEN = {"q1": "def normalize(x):\n    return np.asarray(x, dtype=float)",
          "q2": "def count_words(s):\n    return len(s)",
          "q3": "def clip(x, lo, hi):\n    return np.zeros(len(x))"}


def mutations(student: dict, out_dir: Path) -> dict:
    "name -> (notebook or raw bytes, expected automatic score, or WITHHELD)."
    good = solved(student)
    m = {"correct": (good, AUTO_MAX), "student_copy": (student, 0)}
    for q, pts in (("q1", Q1), ("q2", Q2), ("q3", Q3)):
        m[f"broken_{q}"] = (replace_solution(copy.deepcopy(good), q, BROKEN[q]), AUTO_MAX - pts)
    nb = copy.deepcopy(good)
    nb.cells.insert(4, code("extra = 1")); nb.cells.insert(0, nbformat.v4.new_markdown_cell("my notes"))
    m["cells_inserted"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good); del nb.cells[-1]; del nb.cells[0]
    m["cells_deleted"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good); del nb.cells[cell_of(nb, "q2")]
    m["solution_deleted"] = (nb, AUTO_MAX - Q2)
    nb = copy.deepcopy(good)
    t1 = nb.cells.pop(cell_of(nb, "q1_tests")); nb.cells.append(t1)
    s3 = nb.cells.pop(cell_of(nb, "q3")); nb.cells.insert(cell_of(nb, "q2"), s3)
    m["cells_reordered"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good); k = cell_of(nb, "q2_tests")
    nb.cells[k] = nbformat.v4.new_markdown_cell(nb.cells[k].source, metadata=nb.cells[k].metadata)
    m["tests_to_markdown"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good); k = cell_of(nb, "q2")
    nb.cells[k] = nbformat.v4.new_markdown_cell(nb.cells[k].source, metadata=nb.cells[k].metadata)
    m["solution_to_markdown"] = (nb, AUTO_MAX - Q2)
    nb = copy.deepcopy(good); nb.cells.insert(cell_of(nb, "q2"), code("while True:\n    pass"))
    m["infinite_loop"] = (nb, AUTO_MAX)                                   # interrupted; the next cells run
    nb = copy.deepcopy(good)
    nb.cells.insert(cell_of(nb, "q2") + 1, code("import time\nwhile True:\n    try: time.sleep(0.1)\n    except BaseException: pass"))
    m["loop_ignores_interrupt"] = (nb, Q1 + Q2)                          # q2's tests ran before it; q3's never ran
    nb = copy.deepcopy(good); nb.cells.insert(cell_of(nb, "q1") + 1, code("import os\nos._exit(1)"))
    m["os_exit"] = (nb, Q1)                                              # q1's tests run right after q1, then it dies
    nb = copy.deepcopy(good); nb.cells.insert(3, code("print('x' * 10_000_000)"))
    m["print_10mb"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good)
    nb.cells.insert(3, code("import ipywidgets as w\nfrom IPython.display import display\ns = w.IntSlider(3)\ndisplay(s)\n"
                            "w.interact(lambda x: x, x=5)\nout = w.Output()\nwith out: print('hi')\ndisplay(out)"))
    m["widgets"] = (nb, AUTO_MAX)
    nb = copy.deepcopy(good); k = cell_of(nb, "q1")
    nb.cells[k].source += "\nimport sys, warnings\nwarnings.warn('deprecated thing')\nprint('noise ' * 50, file=sys.stderr)"
    m["stderr_warnings"] = (nb, AUTO_MAX)
    m["syntax_error"] = (replace_solution(copy.deepcopy(good), "q2", "def count_words(s) return 3"), AUTO_MAX - Q2)
    nb = replace_solution(copy.deepcopy(good), "q1", BROKEN["q1"]); k = cell_of(nb, "q1_tests")
    nb.cells[k].source = "# labkit: tests q1_tests points=3\n# test: mean is zero\nassert True\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
    m["tampered_tests"] = (nb, AUTO_MAX - Q1)
    nb = copy.deepcopy(good)
    for c in nb.cells: c.metadata = {}
    nb.metadata = {"kernelspec": KERNELSPEC}
    m["metadata_stripped"] = (nb, AUTO_MAX)
    # ordinary Jupyter edits: the tests run where the work is complete, and cost nothing
    nb = copy.deepcopy(good); stub = copy.deepcopy(student.cells[cell_of(student, "q1")]); stub.id = "pasted0001"
    nb.cells.insert(cell_of(nb, "q1"), stub)
    m["stub_left_above"] = (nb, AUTO_MAX)                                # a pasted answer below the untouched stub
    nb = replace_solution(copy.deepcopy(good), "q1", "def normalize(x):\n    return _center(x) / np.std(x)")
    nb.cells.insert(cell_of(nb, "q1") + 1, code("def _center(x):\n    x = np.asarray(x, dtype=float)\n    return x - x.mean()"))
    m["solution_split"] = (nb, AUTO_MAX)                                 # its helper in the next cell
    nb = copy.deepcopy(good); k = cell_of(nb, "q2")
    nb.cells[k].source = nb.cells[k].source.split("\n", 1)[1]; nb.cells[k].metadata = {}
    m["mark_removed"] = (nb, AUTO_MAX)                                   # no comment, no metadata: matched by what it defines
    nb = copy.deepcopy(good); nb.cells[cell_of(nb, "q1")].metadata["labkit"]["id"] = "q1_tests"
    m["id_retagged"] = (nb, AUTO_MAX)                                    # the metadata says tests, the comment says q1
    # tampering: each tries to win the exercise it broke
    nb = replace_solution(copy.deepcopy(good), "q3", BROKEN["q3"] + "\nimport numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None")
    m["patch_numpy_testing"] = (nb, AUTO_MAX - Q3)
    nb = replace_solution(copy.deepcopy(good), "q1", BROKEN["q1"] + "\nnp.isclose = lambda *a, **k: True")
    m["patch_tested_function"] = (nb, AUTO_MAX - Q1)
    nb = replace_solution(copy.deepcopy(good), "q2", BROKEN["q2"] + "\nimport builtins\nbuiltins.len = lambda x, _len=len: 6 if x == ['a', 'bb', 'c'] else _len(x)"
                          "\nbuiltins.print = lambda *a, **k: None")
    m["patch_builtins_print"] = (nb, AUTO_MAX - Q2)
    fake = json.dumps({"nonce": "0" * 32, "test": "q1_tests/mean is zero", "ok": True, "message": "", "seconds": 0})
    nb = replace_solution(copy.deepcopy(good), "q1", BROKEN["q1"] + f"""
import os, stat
for fd in range(3, 256):                 # every pipe the kernel holds: the grader's channel is one of them
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode): os.write(fd, {fake!r}.encode() + b"\\n")
    except OSError: pass
open({str(out_dir / 'grades.csv')!r}, 'w').write('student_id,score\\nfake_result_file,100\\n')
os.makedirs({str(out_dir / 'toy' / 'fake_result_file')!r}, exist_ok=True)
open({str(out_dir / 'toy' / 'fake_result_file' / 'result.json')!r}, 'w').write('{{"raw_score": 100}}')""")
    m["fake_result_file"] = (nb, WITHHELD)                               # forged lines on the channel
    nb = replace_solution(copy.deepcopy(good), "q1", BROKEN["q1"] + "\nprint('PASS q1_tests/mean is zero')\nprint(" + repr(fake) + ")")
    m["print_fake_results"] = (nb, AUTO_MAX - Q1)
    nb = replace_solution(copy.deepcopy(good), "q1", BROKEN["q1"] + """
import sys, builtins
sys.excepthook = lambda *a: None
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
builtins.AssertionError = type("AssertionError", (Exception,), {})""")
    m["catch_assertions"] = (nb, WITHHELD)                               # a custom exception handler during the tests
    nb = copy.deepcopy(good); nb.cells.insert(3, code("big = np.ones((8 << 30) // 8)"))
    m["memory_hog"] = (nb, AUTO_MAX)                                     # MemoryError in that cell only
    nb = copy.deepcopy(good)
    nb.cells.insert(3, code("import os, glob\nprint('ENV', sorted(os.environ))\nprint('CWD', os.getcwd(), glob.glob('**', recursive=True))"))
    m["probe"] = (nb, AUTO_MAX)
    return m


TOY_SRC = None


@pytest.fixture(scope="module")
def graded(toy):
    global TOY_SRC
    root, src, rows = toy
    TOY_SRC = src
    student = nbformat.read(root / "release" / "toy.ipynb", as_version=4)
    subs, out = root / "subs", root / "grades"
    subs.mkdir()
    muts = mutations(student, out)
    for name, (nb, _) in muts.items(): nbformat.write(nb, subs / f"{name}.ipynb")
    nbformat.write(nbformat.read(src, as_version=4), subs / "instructor.ipynb")
    (subs / "empty.ipynb").write_text("")
    (subs / "not_json.ipynb").write_text("{ this is not json")
    other = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "labkit": {"assignment": "other_lab"}})
    nbformat.write(other, subs / "other_assignment.ipynb")
    (subs / "correct").mkdir()
    nbformat.write(muts["correct"][0], subs / "correct" / "toy.ipynb")        # a second 'correct': duplicate id
    os.environ["LABKIT_TEST_INSTRUCTOR_SECRET"] = "s3cret"               # must not reach the kernels
    try: results = A.grade([subs], out, source=src, jobs=2, cell_timeout=3, timeout=60, progress=False)
    finally: del os.environ["LABKIT_TEST_INSTRUCTOR_SECRET"]
    return root, out, muts, {r["student_id"] + ("" if r["status"] == "graded" else "!" + Path(r["submission"]).name): r
                             for r in results}


def test_student_copy(toy):
    root, src, rows = toy
    nb = nbformat.read(root / "release" / "toy.ipynb", as_version=4)
    text = (root / "release" / "toy.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN" not in text and "longer input" not in text and "mean is removed" not in text
    q1 = nb.cells[cell_of(nb, "q1")]
    assert q1.source == "# labkit: solution q1\ndef normalize(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert nb.cells[cell_of(nb, "q2")].source.endswith("    return ...")
    assert nb.cells[cell_of(nb, "q4_why")].source == "<!-- labkit: answer q4_why points=2 -->\nYOUR ANSWER HERE"
    assert nb.cells[1].metadata["tags"] == ["parameters"] and nb.metadata["kernelspec"]["name"] == "python3"
    assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert rows[0] | {} and (rows[0]["exercises"], rows[0]["auto_points"], rows[0]["hidden_tests"], rows[0]["manual"]) == (3, 7, 3, 1)
    A.main_assign([src], root / "release2", quiet=True)                  # deterministic bytes
    assert (root / "release2" / "toy.ipynb").read_bytes() == (root / "release" / "toy.ipynb").read_bytes()


def test_bad_markers(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = [code("x = 1"), code("# labkit: solution q1\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION")]
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(LabkitError, match=r"bad.ipynb, cell 1 .*cannot nest"): A.main_assign([tmp_path / "bad.ipynb"], tmp_path / "o")
    nb.cells[1] = code("def f():\n    return 1\n### END SOLUTION")
    nbformat.write(nb, tmp_path / "bad.ipynb")
    with pytest.raises(LabkitError, match=r"bad.ipynb, cell 1 .*line 3 .*no matching BEGIN"): A.main_assign([tmp_path / "bad.ipynb"], tmp_path / "o")
    nb.cells[1] = code("y = 2  # SOLUTION")
    nbformat.write(nb, tmp_path / "ok.ipynb")
    with pytest.raises(LabkitError, match="overwrite the instructor copy"): A.main_assign([tmp_path / "ok.ipynb"], tmp_path)


@pytest.mark.slow
def test_mutation_scores(graded):
    root, out, muts, res = graded
    got = {n: WITHHELD if res[n]["withheld"] else res[n]["raw_score"] for n in muts}
    wrong = {n: (got[n], exp) for n, (_, exp) in muts.items() if got[n] != exp}
    assert not wrong, f"(got, expected): {wrong}"
    assert all("forged" in w for w in res["fake_result_file"]["withheld"])
    assert any("custom exception handlers" in w for w in res["catch_assertions"]["withheld"])
    assert A.exit_status(list(res.values())) == 1                      # withheld and refused: the instructor's attention
    assert res["instructor"]["raw_score"] == AUTO_MAX
    for n in muts: assert res[n]["auto_max"] == AUTO_MAX and res[n]["manual_max"] == MANUAL_MAX
    assert res["os_exit"]["run"]["status"] == "kernel died" and res["loop_ignores_interrupt"]["run"]["status"] == "timed out"
    q3 = next(e for e in res["os_exit"]["exercises"] if e["id"] == "q3_tests")
    assert all(not t["passed"] and t["message"].startswith("did not run") for t in q3["tests"])
    assert res["infinite_loop"]["run"]["status"] == "ok"
    assert any("reads" in f or "replaces" in f for f in res["patch_numpy_testing"]["flags"])
    assert res["correct"]["flags"] == [] and res["correct"]["notes"] == []
    assert any("q2" in n and "markdown" in n for n in res["solution_to_markdown"]["notes"])
    assert (out / "toy" / "print_10mb" / "executed.ipynb").stat().st_size < 1_000_000
    assert "MemoryError" in (out / "toy" / "memory_hog" / "executed.ipynb").read_text()
    probe = (out / "toy" / "probe" / "executed.ipynb").read_text()
    assert "'OMP_NUM_THREADS'" in probe and "INSTRUCTOR_SECRET" not in probe     # stripped environment, one BLAS thread
    assert "labkit-grade-" in probe and "toy.ipynb" not in probe.split("CWD", 1)[1][:2000]   # an empty scratch folder


@pytest.mark.slow
def test_grade_outputs(graded):
    root, out, muts, res = graded
    errors = {k.split("!")[1]: r["error"] for k, r in res.items() if "!" in k}
    dup = set(errors) - {"empty.ipynb", "not_json.ipynb", "other_assignment.ipynb"}
    assert len(errors) == 4 and len(dup) == 1 and dup <= {"correct.ipynb", "toy.ipynb"}    # the second of the two 'correct'
    errors["dup"] = errors[dup.pop()]
    assert "empty" in errors["empty.ipynb"] and "not valid JSON" in errors["not_json.ipynb"]
    assert "other_lab" in errors["other_assignment.ipynb"] and "duplicate student id 'correct'" in errors["dup"]
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert list(rows[0])[:11] == A.NBGRADER_COLUMNS
    by = {r["student_id"]: r for r in rows}
    assert len(rows) == len(by)                                        # one row per student
    assert by["correct"]["score"] == "7" and by["correct"]["max_score"] == "9" and by["correct"]["q4_why"] == "manual"
    assert by["correct"]["needs_manual_grading"] == "q4_why" and by["broken_q1"]["q1_tests"] == "0"
    assert by["fake_result_file"]["score"] == by["fake_result_file"]["raw_score"] == ""       # withheld: no number to take
    assert by["fake_result_file"]["status"].startswith("withheld (review): forged")
    assert "withheld for review" in (out / "students" / "fake_result_file" / "toy" / "feedback.md").read_text().lower()
    r = json.loads((out / "toy" / "broken_q1" / "result.json").read_text())
    t = r["exercises"][0]["tests"]
    assert [x["passed"] for x in t] == [False, False, False]
    assert t[0]["message"] == "np.isclose(normalize([1, 2, 3]).mean(), 0) is false"
    fb = (out / "toy" / "broken_q1" / "feedback.md").read_text()
    assert "q1_tests" in fb and "4 / 7" in fb and "longer input" in fb and "arange" not in fb   # hidden: name, no code
    assert "- ✗ mean is zero: np.isclose(normalize([1, 2, 3]).mean(), 0) is false (1 pt)" in fb        # the student copy's line
    assert "- ✗ longer input (hidden) (1 pt)" in fb and "## q1_tests: 0/3 tests passed" in fb
    ex = nbformat.read(out / "toy" / "correct" / "executed.ipynb", as_version=4)
    assert "np.arange(10)" not in json.dumps(ex)                       # hidden tests' code stays out of it (names show)
    report = (out / "report.md").read_text()
    assert "could not be graded" in report and "other_lab" in report
    assert "## Withheld for review" in report and "Isolation: " in report
    iso = json.loads((out / "toy" / "correct" / "result.json").read_text())["isolation"]
    assert iso in ("bwrap sandbox", "process limits only") and f"| {iso} |" in report


@pytest.mark.slow
def test_students_folders_hold_no_hidden_test(graded):
    "What students get back (students/STUDENT/) holds neither the hidden tests' code nor their expected values."
    root, out, muts, res = graded
    files = [p for p in (out / "students").rglob("*") if p.is_file()]
    assert {p.parent.parent.name for p in files} >= {"correct", "broken_q1", "broken_q2", "student_copy"}
    assert {p.name for p in files} == {"feedback.md", "toy.ipynb"}    # no result.json, no grades, no report
    hidden = ["np.arange(10)", "count_words(\"  x   y \")", "  x   y ", "clip([0.5], 0, 1)", "[0.5]"]
    leaks = [(str(p.relative_to(out)), h) for p in files for h in hidden if h in p.read_text()]
    assert not leaks, leaks
    assert "np.arange(10)" in (out / "toy" / "broken_q1" / "result.json").read_text()   # the instructor's copy has it: the grep can see

@pytest.mark.slow
def test_resume(graded, monkeypatch):
    root, out, muts, res = graded
    calls = []
    import labkit.teach.grading as G
    real = G.grade_one
    monkeypatch.setattr(G, "grade_one", lambda a, nb, *args: calls.append(1) or real(a, nb, *args))
    subs = root / "subs"
    nb = nbformat.read(subs / "broken_q2.ipynb", as_version=4)
    nbformat.write(replace_solution(nb, "q2", "def count_words(s):\n    return len(s.split())"), subs / "broken_q2.ipynb")
    results = A.grade([subs], out, source=root / "toy.ipynb", jobs=2, cell_timeout=3, timeout=60, progress=False)
    assert len(calls) == 1                                             # only the changed submission ran again
    assert next(r for r in results if r["student_id"] == "broken_q2")["raw_score"] == AUTO_MAX
    assert next(r for r in results if r["student_id"] == "broken_q1")["raw_score"] == AUTO_MAX - Q1


@pytest.mark.slow
def test_cli(graded):
    from labkit.cli import build_parser
    root, out, muts, res = graded
    p = build_parser()
    args = p.parse_args(["grade", str(root / "subs" / "correct.ipynb"), "--source", str(root / "toy.ipynb"), "--out", str(out),
                          "--cell-timeout", "3", "--timeout", "60"])
    assert A.run_cli(args) == 0                                        # already graded: skipped, nothing runs
    assert len(list(csv.DictReader(open(out / "grades.csv")))) == len(muts) + 1   # the others keep their rows
    args = p.parse_args(["grade", str(root / "subs" / "empty.ipynb"), "--source", str(root / "toy.ipynb"), "--out", str(root / "g2")])
    assert A.run_cli(args) == 1


def test_interrupted_batch_keeps_finished_grades(toy, tmp_path, monkeypatch):
    "A batch stopped half-way (Ctrl-C while the third submission runs) keeps the two finished grades; the next run grades only the rest."
    root, src, rows = toy
    student = nbformat.read(root / "release" / "toy.ipynb", as_version=4)
    subs, out = tmp_path / "subs", tmp_path / "grades"
    subs.mkdir()
    for k in range(5): nbformat.write(student, subs / f"s{k}.ipynb")
    calls = []
    def fake(a, nb, *args):                                            # no kernel: a run with every test failed
        calls.append(1)
        if stop and len(calls) == 3: raise KeyboardInterrupt
        return dict(exercises=A._score(a, {}, {"status": "ok"}), notes=[], answers={}, flags=[], review=[], isolation="none",
                    run=dict(status="ok", error=None, cell=None, seconds=0.0), executed=None)
    monkeypatch.setattr(A, "grade_one", fake)
    stop = True
    with pytest.raises(KeyboardInterrupt): A.grade([subs], out, source=src, jobs=1, progress=False)
    done = sorted(p.parent.name for p in out.glob("toy/*/result.json"))
    assert done == ["s0", "s1"]
    assert sorted(r["student_id"] for r in csv.DictReader(open(out / "grades.csv"))) == ["s0", "s1"]
    stop, calls[:] = False, []
    results = A.grade([subs], out, source=src, jobs=1, progress=False)
    assert len(calls) == 3 and len(results) == 5                       # s2, s3 and s4 only
    assert len(list(csv.DictReader(open(out / "grades.csv")))) == 5


def test_grader_failure_is_not_a_grade(toy, tmp_path, monkeypatch):
    "A run that failed on the grader's side (the kernel did not start) is not scored, exits 2, and a plain rerun grades it."
    root, src, rows = toy
    subs, out = tmp_path / "subs", tmp_path / "grades"
    subs.mkdir(); nbformat.write(nbformat.read(root / "release" / "toy.ipynb", as_version=4), subs / "alice.ipynb")
    status = ["error"]
    def fake(a, nb, *args):
        return dict(exercises=A._score(a, {}, {"status": status[0]}), notes=[], answers={}, flags=[], review=[], isolation="none",
                    run=dict(status=status[0], error="RuntimeError: kernel failed to start" if status[0] == "error" else None,
                             cell=None, seconds=0.0), executed=None)
    monkeypatch.setattr(A, "grade_one", fake)
    r, = A.grade([subs], out, source=src, progress=False)
    assert r["status"] == "grader failure" and "tries it again" in r["error"] and A.exit_status([r]) == 2
    row, = csv.DictReader(open(out / "grades.csv"))
    assert row["score"] == "" and row["status"] == "grader failure"
    status[0] = "ok"
    r, = A.grade([subs], out, source=src, progress=False)                # no --force
    assert r["status"] == "graded" and A.exit_status([r]) == 0


@pytest.mark.slow
def test_cold_cache_scores_as_warm(tmp_path, monkeypatch):
    "On a fresh LABKIT_CACHE the corpus a lab reads is built once before the first kernel: the same scores as on a warm cache."
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    for k, (src, tags) in enumerate([("data_dir = None\npreset = 'tiny'", ["parameters"]),
                                     ("from labkit.teach.labs import _lab_data\nroot = _lab_data(data_dir, preset)", []),
                                     ("# labkit: solution q1\ndef has_corpus():\n    ### BEGIN SOLUTION\n"
                                      "    return (root / 'INFO.json').is_file()\n    ### END SOLUTION", []),
                                     ("# labkit: tests q1_tests points=1\n# test: corpus read\nassert has_corpus() is True", [])]):
        c = code(src); c.id = f"cell{k:04d}"
        if tags: c.metadata["tags"] = tags
        nb.cells.append(c)
    src = tmp_path / "corpus_lab.ipynb"; nbformat.write(nb, src)
    A.main_assign([src], tmp_path / "release", quiet=True)
    student = nbformat.read(tmp_path / "release" / "corpus_lab.ipynb", as_version=4)
    subs = tmp_path / "subs"; subs.mkdir()
    nbformat.write(replace_solution(copy.deepcopy(student), "q1", "def has_corpus():\n    return (root / 'INFO.json').is_file()"),
                   subs / "alice.ipynb")
    nbformat.write(student, subs / "bob.ipynb")
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cold"))
    scores = lambda rs: {r["student_id"]: r["raw_score"] for r in rs}
    kw = dict(source=src, jobs=2, cell_timeout=20, timeout=120, progress=False)
    cold = A.grade([subs], tmp_path / "g_cold", **kw)
    warm = A.grade([subs], tmp_path / "g_warm", **kw)
    assert scores(cold) == scores(warm) == {"alice": 1, "bob": 0}
    assert "Shared data for corpus_lab: the 'tiny' corpus" in (tmp_path / "g_cold" / "report.md").read_text()


def test_exit_status():
    "0 graded; 1 the instructor's attention (an empty upload among good ones, a timed-out run, a withheld score); 2 could not run."
    ok = dict(status="graded", withheld=[], run=dict(status="ok"))
    assert A.exit_status([ok, ok]) == 0
    assert A.exit_status([ok, dict(status="error", withheld=[], run={})]) == 1
    assert A.exit_status([ok, dict(ok, run=dict(status="timed out"))]) == 1
    assert A.exit_status([ok, dict(ok, withheld=["forged results on the grader's channel"])]) == 1
    assert A.exit_status([ok, dict(status="grader failure", withheld=[], run=dict(status="error"))]) == 2
