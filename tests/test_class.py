"""Running a class around labkit grade: the newest upload by the manifest, late policies and extensions, the
hand-grading sheet round trip, the Canvas and Moodle exports. Synthetic results: no kernel runs here except in
the one slow end-to-end test."""
import csv, datetime as dt, io, os, shutil
from pathlib import Path

import pytest

import labkit.teach.grading as G
from labkit.core import LabkitError
from labkit.teach.handgrades import SHEET, canvas_csv, merge_hand_grades, moodle_csv
from labkit.teach.roster import ClassInfo, LatePolicy, newest_uploads, read_manifest
from test_assign import make_instructor


def result(sid, assignment="toy", raw=5.0, answer="Because the mean is removed.", ts="2026-03-01 12:00:00", sub=None):
    "A graded result as labkit grade makes it: 7 automatic points, one answer worth 2 graded by hand."
    tests = [dict(name="mean is zero", hidden=False, hint=None, passed=True, points=raw, max_points=7.0, message="", seconds=0.1)]
    return dict(student_id=sid, assignment=assignment, submission=sub or f"subs/{sid}/{assignment}.ipynb", submission_sha256="x",
                settings_sha256="y", timestamp=ts, status="graded", error=None, raw_score=raw, auto_max=7.0, manual_max=2.0,
                exercises=[dict(id="q1_tests", kind="tests", points=raw, max_points=7.0, tests=tests, manual=False),
                           dict(id="q4_why", kind="answer", points=None, max_points=2.0, tests=[], manual=True)],
                notes=[], flags=[], run=dict(status="ok", error=None), answers={"q4_why": answer})


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(text); return path


# --- which upload counts ----------------------------------------------------------------------------------------

def test_newest_of_two_by_manifest(tmp_path):
    src = make_instructor(tmp_path / "toy.ipynb")
    a = G.read_assignment(src)
    subs = tmp_path / "subs"
    for f in ("ada/first.ipynb", "ada/second.ipynb", "bob/toy.ipynb"):
        (subs / f).parent.mkdir(parents=True, exist_ok=True); shutil.copy(src, subs / f)
    os.utime(subs / "ada/second.ipynb", (1e9, 1e9))          # the file times say the opposite of the manifest
    found = G.find_submissions([subs], [a])
    assert any("duplicate student id 'ada'" in (s.error or "") for s in found)   # no manifest: refused, as before
    man = read_manifest(write(tmp_path / "manifest.csv", "id,timestamp,file\nada,2026-03-01 09:00,ada/first.ipynb\n"
                                                         "ada,2026-03-02 18:30:00,ada/second.ipynb\nbob,2026-03-01T10:00,\n"))
    keep, notes = newest_uploads(G.find_submissions([subs], [a], keep_duplicates=True), man)
    assert sorted(str(s.path.relative_to(subs)) for s in keep) == ["ada/second.ipynb", "bob/toy.ipynb"]
    assert len(notes) == 1 and "first.ipynb, uploaded 2026-03-01 09:00:00" in notes[0] and "newer" in notes[0]
    cls = ClassInfo(manifest=man)
    r = cls.apply(result("ada", sub=str(subs / "ada/second.ipynb"), ts="2001-09-09 01:46:40"))
    assert (r["timestamp"], r["timestamp_source"]) == ("2026-03-02 18:30:00", "manifest")
    # without a manifest the file's time stays and the report says so
    r = ClassInfo().apply(result("ada", ts="2001-09-09 01:46:40"))
    assert r["timestamp"] == "2001-09-09 01:46:40" and "file's modification time" in ClassInfo().notes([r])[0]
    # an upload the manifest does not date cannot be chosen from
    with pytest.raises(LabkitError, match="add a row 'ada,<timestamp>,second.ipynb'"):
        newest_uploads(G.find_submissions([subs], [a], keep_duplicates=True), man[:1] + man[2:])


# --- due dates, extensions, late policies -------------------------------------------------------------------------

@pytest.mark.parametrize("policy, penalty", [("none", 0), ("zero", 6), ("per-day:0.1", 1.2), ("per-day:0.25:0.5", 3)])
def test_late_policies(tmp_path, policy, penalty):
    man = write(tmp_path / "m.csv", "student_id,submitted\nada,2026-03-03 20:00:00\nbob,2026-03-01 23:00:00\n")
    cls = ClassInfo.load(manifest=man, due=["toy=2026-03-01"], policy=policy)
    ada, bob = cls.apply(result("ada", raw=6.0)), cls.apply(result("bob", raw=6.0))
    assert ada["duedate"] == "2026-03-01 23:59:59" and ada["late_seconds"] > 0
    assert ada["late_submission_penalty"] == pytest.approx(penalty) and ada["score"] == pytest.approx(6 - penalty)
    assert (bob["late_submission_penalty"], bob["score"]) == (0, 6.0)      # on time


def test_extensions(tmp_path):
    man = write(tmp_path / "m.csv", "id,timestamp\nada,2026-03-03 20:00:00\nbob,2026-03-03 20:00:00\ncy,2026-03-03 20:00:00\n")
    ext = write(tmp_path / "ext.csv", "id,assignment,due,days\nada,toy,2026-03-04,\nbob,,,1\n")
    cls = ClassInfo.load(manifest=man, due=["2026-03-01T23:59"], extensions=ext, policy="per-day:0.1")
    ada, bob, cy = (cls.apply(result(s, raw=10.0)) for s in ("ada", "bob", "cy"))
    assert (ada["duedate"], ada["late_submission_penalty"]) == ("2026-03-04 23:59:59", 0)   # a new due date
    assert (bob["duedate"], bob["late_submission_penalty"]) == ("2026-03-02 23:59:00", 1)   # one more day: 1 day late
    assert (cy["duedate"], cy["late_submission_penalty"]) == ("2026-03-01 23:59:00", 2)     # 2 started days late
    with pytest.raises(LabkitError, match=r"ext.csv line 2"):
        ClassInfo.load(extensions=write(tmp_path / "ext.csv", "id,days\nada,soon\n"))
    with pytest.raises(LabkitError, match="per-day:RATE"):
        LatePolicy.parse("per-day:15")


def test_grades_csv_columns_filled(tmp_path):
    roster = write(tmp_path / "roster.csv", "id,first_name,last_name,email\nada,Ada,Lovelace,ada@x.org\n")
    man = write(tmp_path / "m.csv", "id,timestamp\nada,2026-03-02 10:00:00\n")
    cls = ClassInfo.load(roster, man, "2026-03-01", None, "zero")
    r = cls.apply(result("ada"))
    G.write_grades([r], tmp_path / "g", cls.notes([r]))
    row = next(csv.DictReader(open(tmp_path / "g" / "grades.csv")))
    assert {k: row[k] for k in ("duedate", "timestamp", "last_name", "first_name", "email", "raw_score",
                                "late_submission_penalty", "score")} == dict(
        duedate="2026-03-01 23:59:59", timestamp="2026-03-02 10:00:00", last_name="Lovelace", first_name="Ada",
        email="ada@x.org", raw_score="5", late_submission_penalty="5", score="0")
    assert "ada (toy) is 0.42 days late: 5 points off (zero)" in (tmp_path / "g" / "report.md").read_text()


# --- hand grading -----------------------------------------------------------------------------------------------

def test_hand_grade_round_trip(tmp_path):
    out = tmp_path / "grades"
    rs = [result("ada"), result("bob", answer="No idea.")]
    notes = merge_hand_grades(rs, out)                                  # 1. written
    rows = list(csv.DictReader(open(out / "toy" / SHEET)))
    assert [(r["student_id"], r["question"], r["max_points"], r["points"], r["answer"]) for r in rows] == [
        ("ada", "q4_why", "2", "", "Because the mean is removed."), ("bob", "q4_why", "2", "", "No idea.")]
    assert "2 of 2 answers still to grade" in notes[0]
    rows[0].update(points="1.5", comment="Right, and say why it matters.")   # 2. filled in a spreadsheet
    buf = io.StringIO(); w = csv.DictWriter(buf, list(rows[0]), lineterminator="\n"); w.writeheader(); w.writerows(rows)
    (out / "toy" / SHEET).write_text(buf.getvalue())
    rs = [result("ada"), result("bob", answer="No idea.")]
    notes = merge_hand_grades(rs, out)                                  # 3. merged
    assert rs[0]["raw_score"] == 6.5 and rs[1]["raw_score"] == 5.0
    text = G.write_grades(rs, out, notes)                               # 4. reported
    grades = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert (grades["ada"]["q4_why"], grades["ada"]["raw_score"], grades["ada"]["needs_manual_grading"]) == ("1.5", "6.5", "")
    assert (grades["bob"]["q4_why"], grades["bob"]["needs_manual_grading"]) == ("manual", "q4_why")
    assert "1 of 2 answers still to grade by hand" in text and "bob/q4_why" in text
    fb = G.feedback_markdown(rs[0])
    assert "| q4_why | 1.5 | 2 |" in fb and "Right, and say why it matters." in fb
    assert "**Score: 5 / 7** (automatically graded); 2 more points are graded by hand: 1.5 given so far." in fb
    # a new upload that changes the answer loses its points, and the report says so
    rs = [result("ada", answer="Another text."), result("bob", answer="No idea.")]
    notes = merge_hand_grades(rs, out)
    assert rs[0]["raw_score"] == 5.0 and any("answer changed since it was graded" in n for n in notes)
    (out / "toy" / SHEET).write_text(buf.getvalue().replace(",1.5,", ",3,"))
    with pytest.raises(LabkitError, match=rf"{SHEET} line 2: points '3'.*from 0 to 2"):
        merge_hand_grades([result("ada")], out)


# --- gradebook exports --------------------------------------------------------------------------------------------

def test_canvas_and_moodle_exports(tmp_path):
    roster = {"ada": dict(first_name="Ada", last_name="Lovelace", email="ada@x.org", sis_user_id="S001", section="Tue"),
              "bob": dict(first_name="Bob", last_name="Ross", email="bob@x.org", canvas_id="4242")}
    cls = ClassInfo(roster=roster)
    rs = [cls.apply(result("ada", raw=6.0)), cls.apply(result("bob", raw=3.0)), cls.apply(result("ada", "lab2", raw=1.0))]
    rows = list(csv.reader(io.StringIO(canvas_csv(rs, roster, {"lab2": 77}))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lab2 (77)", "toy"]
    assert rows[1] == ["Points Possible", "", "", "", "", "9", "9"]
    assert rows[2] == ["Lovelace, Ada", "", "S001", "ada@x.org", "Tue", "1", "6"]
    assert rows[3] == ["Ross, Bob", "4242", "bob", "bob@x.org", "", "", "3"]
    rows = list(csv.reader(io.StringIO(moodle_csv(rs, roster))))
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "lab2", "lab2 feedback", "toy", "toy feedback"]
    assert rows[1] == ["Ada", "Lovelace", "ada", "ada@x.org", "1", "raw 1 / 9", "6", "raw 6 / 9"]


# --- end to end ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_grade_with_roster_manifest_late_policy_and_hand_sheet(tmp_path):
    src = make_instructor(tmp_path / "toy.ipynb")
    subs = tmp_path / "subs"
    for f in ("ada/v1.ipynb", "ada/v2.ipynb"):
        (subs / f).parent.mkdir(parents=True, exist_ok=True); shutil.copy(src, subs / f)
    write(tmp_path / "roster.csv", "id,name,email\nada,Ada Lovelace,ada@x.org\n")
    write(tmp_path / "m.csv", "id,timestamp,file\nada,2026-03-01 09:00,v1.ipynb\nada,2026-03-03 09:00,v2.ipynb\n")
    args = ["grade", str(subs), "--out", str(tmp_path / "g"), "--source", str(src), "--roster", str(tmp_path / "roster.csv"),
            "--manifest", str(tmp_path / "m.csv"), "--due", "toy=2026-03-02", "--late-policy", "per-day:0.5", "--cell-timeout", "60"]
    from labkit.cli import main
    assert main(args) == 0
    row = next(csv.DictReader(open(tmp_path / "g" / "grades.csv")))
    assert (row["timestamp"], row["raw_score"], row["late_submission_penalty"], row["score"], row["email"]) == (
        "2026-03-03 09:00:00", "7", "3.5", "3.5", "ada@x.org")
    assert "v1.ipynb, uploaded 2026-03-01 09:00:00, is replaced by the newer" in (tmp_path / "g" / "report.md").read_text()
    sheet = (tmp_path / "g" / "toy" / SHEET).read_text()
    (tmp_path / "g" / "toy" / SHEET).write_text(sheet.replace("ada,q4_why,2,,", "ada,q4_why,2,2,Good"))
    assert main(args) == 0                                              # graded again from the cache: only the sheet is new
    row = next(csv.DictReader(open(tmp_path / "g" / "grades.csv")))
    assert (row["raw_score"], row["score"], row["q4_why"]) == ("9", "4.5", "2")
    assert "Good" in (tmp_path / "g" / "toy" / "ada" / "feedback.md").read_text()
    assert (tmp_path / "g" / "canvas.csv").read_text().splitlines()[2] == '"Lovelace, Ada",,ada,ada@x.org,,4.5'
    assert "1 submissions, 1 graded" in (tmp_path / "g" / "toy" / "class.md").read_text()


# --- class analytics ----------------------------------------------------------------------------------------------

def test_class_report_figures_from_known_results(tmp_path):
    from labkit.teach.classreport import class_report
    from labkit.viz.grades import pass_rate_plot, score_histograms
    rs = [result("ada", raw=7.0), result("bob", raw=0.0), result("cy", raw=0.0)]
    for r, msg in zip(rs[1:], ("expected 2, got 3", "expected 2, got 11")):
        r["exercises"][0]["tests"][0].update(passed=False, points=0.0, message=msg)
    rs[2]["flags"] = ["imports os"]
    refused = dict(result("dan"), status="error", error="not a notebook", exercises=[], raw_score=0.0)
    fig = score_histograms(rs, bins=7)
    assert [ax.get_title() for ax in fig.axes] == ["q1_tests", "q4_why (0 graded)", "total"]
    assert [p.get_height() for p in fig.axes[0].patches] == [2, 0, 0, 0, 0, 0, 1]        # two at 0 points, one at 7
    fig = pass_rate_plot(rs)
    assert [p.get_width() for p in fig.axes[0].patches] == pytest.approx([1 / 3])
    class_report(rs + [refused], tmp_path)
    md = (tmp_path / "toy" / "class.md").read_text()
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["class.md", "pass_rates.png", "scores.png"]
    assert "4 submissions, 3 graded" in md and "| q1_tests: mean is zero | 1/3 | 0.1 |" in md
    assert "| 2 | q1_tests: mean is zero | expected #, got # |" in md
    assert "**cy** flagged: imports os" in md and "**dan** refused: not a notebook" in md
