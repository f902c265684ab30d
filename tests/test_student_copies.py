"""The student copies made by `labkit assign` run to their end under papermill whatever the exercises hold: every
exercise unanswered, every exercise wrong (a plausible mistake per exercise, below), every exercise right. Each tests
cell prints one ✓/✗ line per visible test and a summary, and each later step that uses an exercise's function says
in one line whether it uses the student's version or labkit's, and why. Their outputs read as well as the
instructor's (`output_faults`)."""
import re, textwrap

import nbformat, papermill as pm, pytest

from labkit.run.labs import run_labs
from labkit.run.params import list_labs
from labkit.teach.release import main_assign, read_assignment
from conftest import TINY, once_per_session
from test_lab_outputs import output_faults

LABS = [p for p in list_labs() if p.name[:2] in {f"{i:02d}" for i in range(1, 8)}]

# a mistake a student could make in each exercise: the body that replaces the stub
WRONG = {
    "q1_n_frames": "return int(seconds * sr) // hop",                                        # forgets the first frame
    "q1_beat_sync": "edges = [0, *(int(b) for b in beats)]\n"                                # forgets the last segment
                    "return np.stack([np.median(x[a:b], axis=0) for a, b in zip(edges[:-1], edges[1:])])",
    "q1_class_counts": "return Counter(labels)",                                             # ignores the mapping
    "q2_pad_batch": "xs, ys, lengths = zip(*items)\n"                                        # forgets batch_first
                    "return torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x) for x in xs]), torch.tensor(ys), torch.tensor(lengths)",
    "q2_last_real_step": "return out[:, -1]",                                                # the padded end
    "q2_learned_one_batch": "return float(losses[-1]) < float(losses[0])",
    "q2_should_stop": "return len(val_losses) >= patience",
    "q3_conv_block": "return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.MaxPool2d(2))",
    "q3_masked_time_mean": "return h.mean(-1)",                                              # averages the padding too
    "q4_spearman": "return float(np.corrcoef(rankdata(y_true), y_pred)[0, 1])",              # ranks one side only
    "q5_freeze": "for p in model.parameters(): p.requires_grad_(False)\nreturn model",       # freezes the head too
    "q6_weighted_loss": "return sum(w * nn.functional.mse_loss(outputs[a][:, 0], y[:, k].float())"   # a mean, not a sum
                        " for k, (a, w) in enumerate(zip(AFFECT, weights))) / len(AFFECT)",
    "q6_solution_rows": "return [f'{i},' + ','.join(map(str, v)) for i, v in zip(ids, values)]",  # no header
    "q7_band_stats": "x = np.asarray(x)\nreturn np.concatenate([x.mean(0), x.std(0)])",      # ignores the padding
    "q7_standardise": "x = np.asarray(x)\nreturn x - x.mean(0)",                             # does not scale
}
STUB = re.compile(r"^(?P<indent>[ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)", re.M)
SOLUTION = re.compile(r"^[ \t]*#+ BEGIN SOLUTION\n(?P<body>.*?)^[ \t]*#+ END SOLUTION\n?", re.M | re.S)


def answered(lab, student, how):
    "The student copy with every exercise answered `how` ('wrong' or 'right')."
    by_id = {g.mark.id: g for g in read_assignment(lab).cells}
    for c in student.cells:
        g = by_id.get(c.metadata.get("labkit", {}).get("id"))
        if g is None or g.mark.kind != "solution": continue
        if how == "right": body = textwrap.dedent(SOLUTION.search(g.source)["body"])
        else: body = WRONG[g.mark.id] + "\n"
        c.source = STUB.sub(lambda m: "".join(m["indent"] + l for l in body.splitlines(True)).rstrip("\n"), c.source)
        assert "NotImplementedError" not in c.source, f"{lab.name} {g.mark.id}: the stub was not replaced"
    return student


def student_run(tmp_path_factory, how):
    """The student copies of labs 1-7, released once per session, answered `how` and run on the tiny preset once per
    session: (run folder, results). Each way of answering is a group of its own (conftest.py), run beside the others."""
    release, _ = once_per_session(tmp_path_factory, "student_release", lambda folder: main_assign(LABS, out=folder, quiet=True))
    def make(folder):
        labs = folder / "labs"; labs.mkdir(parents=True)
        for lab in LABS:
            nb = nbformat.read(release / lab.name, as_version=4)
            nbformat.write(nb if how == "unanswered" else answered(lab, nb, how), labs / lab.name)
        declared = set().union(*(pm.inspect_notebook(str(lab)) for lab in LABS))
        params = {**TINY, "feature_sets": ["mel"], "overfit_epochs": 5}   # the exercises are the point here, not the models
        results = run_labs(folder / "run", preset="tiny", labs_dir=labs, params={k: v for k, v in params.items() if k in declared})
        return [dict(name=r["name"], status=r["status"], error=r.get("error")) for r in results]
    folder, results = once_per_session(tmp_path_factory, f"student_{how}", make)
    return folder / "run", results


def cell_text(cell) -> str:
    "What a cell printed (stdout and stderr), as one string."
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_wrong_answers_cover_every_exercise():
    ids = {g.mark.id for lab in LABS for g in read_assignment(lab).cells if g.mark.kind == "solution"}
    assert ids == set(WRONG)


# one class per way of answering: pytest-xdist (`--dist loadscope`) gives each class to one worker, the three side by side
@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
class StudentCopy:
    how = None
    def test_runs_to_its_end_and_reports_each_test(self, tmp_path_factory, lab):
        check_student_copy(tmp_path_factory, lab, self.how)

class TestUnanswered(StudentCopy): how = "unanswered"
class TestWrong(StudentCopy): how = "wrong"
class TestRight(StudentCopy): how = "right"


def check_student_copy(tmp_path_factory, lab, how):
    "The copy of `lab` answered `how` ran to its end, and each tests cell and fallback said what it should."
    run, results = student_run(tmp_path_factory, how)
    result = next(r for r in results if r["name"] == lab.stem)
    assert result["status"] == "ok", result
    nb = nbformat.read(run / lab.name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert code[-1].get("execution_count") is not None, "the last cell did not run"
    assert not output_faults(nb), output_faults(nb)                 # reads as well as the instructor's copy
    a = read_assignment(lab)
    for g in (g for g in a.cells if g.mark.kind == "tests"):
        cell = next(c for c in code if c.metadata.get("labkit", {}).get("id") == g.mark.id)
        lines = [l for l in cell_text(cell).splitlines() if l[:1] in "✓✗"]
        visible = [t.name for t in g.tests if not t.hidden]
        assert [l[2:].split(":")[0] for l in lines] == visible, (g.mark.id, cell_text(cell))   # one line per visible test
        assert "Traceback" not in cell_text(cell)
        summary = cell_text(cell).splitlines()[-1]
        passed = sum(l.startswith("✓") for l in lines)
        assert summary.startswith(f"{passed}/{len(visible)} tests passed."), summary
        if how == "right": assert passed == len(visible), (g.mark.id, cell_text(cell))
        if how == "wrong": assert passed < len(visible) and "not answered" not in cell_text(cell), (g.mark.id, cell_text(cell))
        if how == "unanswered": assert passed == 0 and "is not written yet" in summary, summary
    # each later step that uses an exercise's function says which version it uses, and why
    said = "\n".join(cell_text(c) for c in code)
    for name in re.findall(r"with_fallback\((\w+)", "\n".join(c.source for c in code)):
        expect = {"unanswered": f"{name} is not written yet", "wrong": f"{name} failed ", "right": f"{name} passed its"}[how]
        assert expect in said, f"{lab.name}: no line saying '{expect}...'"
