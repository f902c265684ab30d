"""Batch grading: `labkit.teach.grading.grade` with --jobs 2 and with --jobs 1, against a plain sequential papermill
loop over the same mutated submissions of a toy assignment (same run). Reports submissions per minute, the ratios, and
how many submissions each got exactly their expected outcome (a score, or withheld for review)."""
import argparse, copy, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import test_assign as toy                      # the toy assignment and its mutation suite (one home: the tests)
from labkit.teach.marks import read_mark
from labkit.teach.release import main_assign
from labkit.teach.grading import grade

CELL_TIMEOUT, TIMEOUT = 3, 60


def naive_score(executed: dict) -> float:
    "What a papermill loop alone can grade: a tests cell left in the submission earns its points if it ran without error."
    score = 0.0
    for c in executed.cells:
        mark = read_mark(c)
        if c.cell_type != "code" or mark is None or mark.kind != "tests": continue
        ran = c.get("execution_count") is not None and c.metadata.get("papermill", {}).get("status") == "completed"
        if ran and not any(o.get("output_type") == "error" for o in c.get("outputs", [])): score += mark.points or 0
    return score


def main(n: int, out: Path):
    import papermill as pm
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-grading-"))
    try:
        src = toy.make_instructor(tmp / "toy.ipynb"); toy.TOY_SRC = src
        main_assign([src], tmp / "release", quiet=True)
        student = nbformat.read(tmp / "release" / "toy.ipynb", as_version=4)
        muts = list(toy.mutations(student, tmp / "grades").items())
        subs, expected = tmp / "subs", {}
        subs.mkdir()
        for k in range(n):
            name, (nb, exp) = muts[k % len(muts)]
            sid = f"s{k:03d}_{name}"
            nbformat.write(nb, subs / f"{sid}.ipynb"); expected[sid] = exp
        # labkit grade, two kernels at a time
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        results = grade([subs], tmp / "grades", source=src, jobs=2, cell_timeout=CELL_TIMEOUT, timeout=TIMEOUT, progress=False)
        t_lab = time.perf_counter() - t0
        outcome = lambda rs: {r["student_id"]: toy.WITHHELD if r.get("withheld") else r["raw_score"] for r in rs}
        got = outcome(results)
        ok_lab = sum(got.get(s) == e for s, e in expected.items())
        # the same submissions, one kernel at a time, into a fresh grade folder
        t0 = time.perf_counter()
        results1 = grade([subs], tmp / "grades_jobs1", source=src, jobs=1, cell_timeout=CELL_TIMEOUT, timeout=TIMEOUT, progress=False)
        t_lab1 = time.perf_counter() - t0
        got1 = outcome(results1)
        ok_lab1 = sum(got1.get(s) == e for s, e in expected.items())
        # the reference: papermill, one notebook after the other, same per-cell limit
        t0, naive, crashed = time.perf_counter(), {}, 0
        for s in expected:
            dest = tmp / "pm" / f"{s}.ipynb"; dest.parent.mkdir(exist_ok=True)
            try: pm.execute_notebook(str(subs / f"{s}.ipynb"), str(dest), kernel_name="python3", progress_bar=False,
                                     execution_timeout=CELL_TIMEOUT, cwd=str(tmp / "pm"), log_output=False)
            except Exception: crashed += 1
            naive[s] = naive_score(nbformat.read(dest, as_version=4)) if dest.exists() else 0.0
        t_pm = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        ok_pm = sum(naive[s] == e for s, e in expected.items())
        wrong = sorted({s.split("_", 1)[1] for s, e in expected.items() if got.get(s) != e})
        wrong_pm = sorted({s.split("_", 1)[1] for s, e in expected.items() if naive[s] != e})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate_lab, rate_lab1, rate_pm = n / t_lab * 60, n / t_lab1 * 60, n / t_pm * 60
    md = [f"## Batch grading ({n} mutated submissions of a toy assignment)", "",
          f"labkit `grade` (`--jobs 2`: one worker and kernel per submission, tests re-injected and sent one by one over "
          f"the grader's channel, per-cell limit {CELL_TIMEOUT} s, whole-notebook limit {TIMEOUT} s) against a plain "
          f"sequential loop of `papermill.execute_notebook` over the same files with the same per-cell limit (papermill "
          f"stops a notebook at its first error; its 'score' is the points of the tests cells left in the submission that "
          f"ran without error, which is all a loop without re-injected tests can tell). The {len(muts)} mutations of "
          "`tests/test_assign.py` (correct, each exercise broken, inserted / deleted / reordered / retyped cells, an "
          "infinite loop and one that ignores interrupts, `os._exit`, a 10 MB print, widgets, stderr warnings, a syntax "
          "error, tampered tests, stripped metadata, ordinary edits (a stub left above the answer, a split solution, a "
          "removed mark, a retagged id), six tampering attempts) cycled to reach the count; each has its "
          "expected outcome: a score, or withheld for review for the tampering the grader cannot score honestly.", "",
          "| measure | labkit grade --jobs 2 | labkit grade --jobs 1 | papermill loop | jobs 2 / papermill | jobs 2 / jobs 1 |",
          "|---|---|---|---|---|---|",
          f"| submissions per minute | {rate_lab:.1f} | {rate_lab1:.1f} | {rate_pm:.1f} | **{rate_lab / rate_pm:.2f}x** | "
          f"**{rate_lab / rate_lab1:.2f}x** |",
          f"| wall time | {t_lab:.1f} s | {t_lab1:.1f} s | {t_pm:.1f} s | | |",
          f"| graded with their expected outcome | **{ok_lab} / {n}** | {ok_lab1} / {n} | {ok_pm} / {n} | | |",
          f"| runs that raised (papermill) | | | {crashed} / {n} | | |", "",
          f"Mutations scored differently from expected: labkit: {', '.join(wrong) or 'none'}; labkit --jobs 1: "
          f"{', '.join(sorted({s.split('_', 1)[1] for s, e in expected.items() if got1.get(s) != e})) or 'none'}; papermill loop: "
          f"{', '.join(wrong_pm) or 'none'}.", "",
          "The two do not do the same work: papermill stops a notebook at its first error (half of these "
          "submissions), while labkit runs every cell and every test, starts one worker process per submission "
          "besides the kernel, and gives a stuck cell 5 s after interrupting it. Two kernels at a time can only "
          f"pay off when two cores are free: the 1-minute load average was {load0:.1f} when grading started and "
          f"{load1:.1f} at the end (2 cores).",
          f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (other processes may share them), Python "
          f"{platform.python_version()}, papermill {pm.__version__}.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="20 submissions instead of 54")
    ap.add_argument("--n", type=int, default=None)
    a = ap.parse_args()
    main(a.n or (20 if a.quick else 54), Path(__file__).parent / "results" / "grading.md")
