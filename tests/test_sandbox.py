"""The grading sandbox and the harness's defences, on the toy assignment of test_assign: each tampering class either
scores what the honest work earns or is withheld for review (never silently awarded), each run records its isolation,
and the kernel sees none of the grader's files."""
import copy, json, os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat, pytest

import labkit.teach.grading as A
from labkit.run.sandbox import sandbox_problem
import test_assign as T

HOOK_LOG = "seen = []\nget_ipython().events.register('pre_run_cell', lambda info: seen.append(info.raw_cell))"


def tampering(good, secret: Path) -> dict:
    "name -> (notebook, expected automatic score or T.WITHHELD, what the flag or the withholding reason starts with, or None)."
    rs = lambda q, src: T.replace_solution(copy.deepcopy(good), q, src)
    m = {}
    m["harness_by_name"] = (rs("q1", T.BROKEN["q1"] + "\nfor k in [k for k in globals() if k.startswith('_lk_')]:\n"
                               "    globals()[k] = lambda *a, **kw: None"), T.AUTO_MAX - T.Q1, None)
    m["input_transformer"] = (rs("q1", T.BROKEN["q1"] + "\nget_ipython().input_transformers_post.append("
                                 "lambda lines: [l.replace('assert ', 'assert True or ') for l in lines])"), T.WITHHELD, "changed while the tests ran: input transformers")
    m["always_equal"] = (rs("q2", "class Yes:\n    def __eq__(self, o): return True\n    def __bool__(self): return True\n"
                            "def count_words(s):\n    return Yes()"), T.AUTO_MAX - T.Q2, None)
    m["counter_eq_patched"] = (rs("q2", "import collections\ncollections.Counter.__eq__ = lambda s, o: True\n"
                                  "def count_words(s):\n    return collections.Counter(x=1)"), T.WITHHELD, "replaces special methods")
    nb = copy.deepcopy(good); nb.cells.insert(1, T.code(HOOK_LOG)); nb.cells.append(T.code("print('SEEN', seen)"))
    m["pre_run_cell_hook"] = (nb, T.WITHHELD, "changed while the tests ran: event callbacks")
    m["reads_grader_files"] = (rs("q1", T.BROKEN["q1"] + f"\nimport os\nfor p in {[str(secret), str(Path.home())]!r}:\n"
                                  "    try: print('LISTED', p, os.listdir(p) if os.path.isdir(p) else open(p).read())\n"
                                  "    except OSError as e: print('DENIED', p)"), T.AUTO_MAX - T.Q1, None)
    return m


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    src = T.make_instructor(root / "toy.ipynb"); T.TOY_SRC = src
    A.main_assign([src], root / "release", quiet=True)
    good = T.solved(nbformat.read(root / "release" / "toy.ipynb", as_version=4))
    secret = root / "grades"; secret.mkdir(); (secret / "grades.csv").write_text("student_id,score\n")
    cases = tampering(good, secret)
    a = A.read_assignment(src)
    def one(item):
        name, (nb, exp, flag) = item
        nb = nbformat.reads(nbformat.writes(nb), as_version=4)
        return name, A.grade_one(a, nb, None, cell_timeout=3, timeout=60)
    with ThreadPoolExecutor(2) as pool: res = dict(pool.map(one, cases.items()))
    return cases, res, secret


@pytest.mark.slow
def test_tampering_classes(graded):
    cases, res, secret = graded
    got = {n: (T.WITHHELD if res[n]["review"] else sum(e["points"] or 0 for e in res[n]["exercises"]), exp)
           for n, (_, exp, _) in cases.items()}
    assert all(g == e for g, e in got.values()), f"(got, expected): {got}"
    for n, (_, _, flag) in cases.items():
        if flag: assert any(f.startswith(flag) for f in res[n]["flags"] + res[n]["review"]), (n, res[n]["flags"], res[n]["review"])
    expect = "bwrap sandbox" if sandbox_problem() is None else "process limits only"
    assert {res[n]["isolation"] for n in cases} == {expect}
    seen = res["pre_run_cell_hook"]["executed"]
    assert "SEEN" in seen and "arange(10)" not in seen and "labkit_test" not in seen      # the hook never saw a test


@pytest.mark.slow
@pytest.mark.skipif(sandbox_problem() is not None, reason="bubblewrap cannot run here")
def test_sandbox_hides_grader_files(graded):
    cases, res, secret = graded
    ex = res["reads_grader_files"]["executed"]
    assert f"DENIED {secret}" in ex and "student_id,score" not in ex
    assert "LISTED" not in ex or "'.bashrc'" not in ex


@pytest.mark.slow
def test_hidden_tests_show_name_and_outcome_only(graded):
    cases, res, secret = graded
    ex = nbformat.reads(res["always_equal"]["executed"], as_version=4)
    text = json.dumps(ex)
    assert "longer input (hidden): passed" in text and "spaces (hidden): failed" in text
    assert "arange(10)" not in text and "x   y" not in text


@pytest.mark.slow
def test_fallback_without_bwrap(graded, monkeypatch):
    cases, res, secret = graded
    monkeypatch.setenv("LABKIT_BWRAP", "off")
    nb, exp, _ = cases["always_equal"]
    a = A.read_assignment(T.TOY_SRC)
    g = A.grade_one(a, nbformat.reads(nbformat.writes(nb), as_version=4), None, cell_timeout=3, timeout=60)
    assert sum(e["points"] or 0 for e in g["exercises"]) == exp and g["run"]["status"] == "ok"
    assert g["isolation"] == "process limits only" and g["review"] == []
