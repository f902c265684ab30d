"""Every lab notebook runs under papermill, through `labkit lab`'s own runner, with tiny parameters on the tiny
preset, and writes sane metrics. The checks look for values that are present, finite and in range, and for
learning where it is meaningful even on tiny data (the one-batch overfit check); never for exact numbers."""
import ast, json, math, re
from pathlib import Path

import nbformat, papermill as pm, pytest

from labkit.run.params import list_labs
from test_lab_outputs import PLAYERS, output_faults, players

LABS = list_labs()
CORE = {"data_dir", "preset", "epochs", "batch_size", "seed", "device", "out_dir"}
# `tiny_run` (conftest.py): every lab on the tiny preset, run once per session and read by the tests marked slow below


def test_there_are_labs():
    assert [p.name[:2] for p in LABS] == [f"{i:02d}" for i in range(1, len(LABS) + 1)] and len(LABS) >= 2


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_has_one_parameters_cell_and_a_kernelspec(lab):
    nb = nbformat.read(lab, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{lab.name}: {len(tagged)} cells tagged 'parameters'"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    declared = set(pm.inspect_notebook(str(lab)))
    assert CORE <= declared, f"{lab.name} lacks {CORE - declared}"
    assigned = {t.id for s in ast.parse(tagged[0].source).body if isinstance(s, ast.Assign) for t in s.targets}
    assert assigned == declared, f"{lab.name}: papermill cannot read {assigned - declared} (a second '=' on the line?)"


def finite(x): return isinstance(x, (int, float)) and math.isfinite(x)
def unit(x): return finite(x) and 0 <= x <= 1
def rho(x): return finite(x) and -1 <= x <= 1


def check_01(m):
    assert m["n_classes"] == 10 and m["n_raw_genres"] == 20 and m["n_dropped"] > 0
    assert m["n_train"] + m["n_dropped"] == m["n_train_raw"]
    assert m["beat_shortening"] > 5 and len(m["examples"]) == 2 and len(set(m["examples"].values())) == 2


def check_02(m):
    assert m["overfit"]["final_loss"] < 0.5 * m["overfit"]["first_loss"]  # it can learn one batch
    assert set(m["test"]) == {"mel", "mel_beat", "chroma", "fused", "fused_beat"}
    assert all(unit(v) for r in m["test"].values() for v in r.values())
    assert m["chance_accuracy"] == 0.1 and m["best_input"] in m["test"]
    assert set(m["baseline"]) == set(m["test"]) and all(unit(v) for r in m["baseline"].values() for v in r.values())
    assert len(m["vs_baseline"]) == 2 * len(m["test"])  # every model shown beside its baseline


def check_03(m):
    assert m["overfit"]["final_loss"] < 0.5 * m["overfit"]["first_loss"]
    assert set(m["test"]) == {"mel", "mel_beat"} and all(unit(v) for r in m["test"].values() for v in r.values())
    assert m["n_parameters"] > 100_000 and m["compared_with_lstm"] is True  # lab 2 ran before it in the batch
    assert set(m["baseline"]) == set(m["test"]) and len(m["vs_baseline"]) == 2 * len(m["test"])


def check_04(m):
    assert m["n_heldout"] > 0 and m["n_train"] > m["n_val"] > 0
    for arch in ("lstm", "cnn"):
        assert set(m["spearman"][arch]) == {"valence", "energy", "danceability", "mean"}
        assert all(rho(v) for v in m["spearman"][arch].values())
    assert all(rho(v) for b in m["baseline"].values() for v in b.values()) and len(m["vs_baseline"]) == 8


def check_05(m):
    assert m["pretrained"].endswith("03_cnn_genre/mel/best.pt")  # lab 3's checkpoint was found and reused
    assert set(m["spearman"]) == {"from scratch (lab 4)", "transfer, frozen backbone", "transfer, fine-tuned"}
    assert all(rho(v) for v in m["spearman"].values())
    assert 0 < m["trainable_frozen"] < m["trainable_finetuned"] / 100  # only the head trains when frozen


def check_06(m):
    assert set(m["spearman"]) == {"valence", "energy", "danceability", "mean"} and all(rho(v) for v in m["spearman"].values())
    assert m["solution"]["rows"] == m["solution"]["n_test_clips"] > 0
    lines = Path(m["solution"]["path"]).read_text().splitlines()
    assert lines[0] == "Id.fused.full.npy.gz,valence,energy,danceability" and len(lines) == m["solution"]["rows"] + 1


def check_07(m):
    assert m["embedding_size"] > 0 and m["n_clips"] > 0
    assert all(finite(v) and -1 <= v <= 1 for v in m["silhouette"].values())


def check_09(m):
    assert m["overfit"]["final_loss"] < 0.5 * m["overfit"]["first_loss"]  # the transformer can learn one batch
    models = {"AST-tiny, from scratch", "CNN, from scratch", "AST-tiny, pretrained, frozen", "AST-tiny, pretrained, fine-tuned"}
    assert set(m["map"]) == models and all(unit(v) for v in m["map"].values()) and unit(m["chance_map"])
    assert set(m["start_gain"]) == {"frozen", "fine-tuned"}
    for k, gain in m["start_gain"].items():                  # the start's gain is the difference of the two scores
        assert math.isclose(gain, m["map"][f"AST-tiny, pretrained, {k}"] - m["map"]["AST-tiny, from scratch"])
    assert all(v > 0 for v in m["clips_per_s"].values()) and set(m["clips_per_s"]) == models
    assert 0 < m["parameters"]["AST trainable, frozen"] < m["parameters"]["AST trainable, fine-tuned"] / 100  # only the head
    assert all(s == "no positive clip" or s.startswith("every clip") for s in m["unscored"].values())
    assert m["n_patches"] > 0 and m["attention_sums_to_one"] is True and len(m["tags"]) == 14


def check_08(m):
    doms = m["domains"]
    assert len(doms) >= 2 and set(m["scratch"]) == set(doms)
    acc = lambda v: finite(v) and 0 <= v <= 1
    for f, mat in m["transfer_matrix"].items():            # every ordered pair (source != target) has a number
        assert all(acc(mat[s][t]) for s in doms for t in doms if s != t), (f, mat)
    assert all(acc(v) for row in m["scratch"].values() for v in row.values())
    assert all(acc(row["mixed label space"]) and acc(row["multitask heads"]) for row in m["mixing"].values())
    assert any(len(depths) > 1 for depths in m["freezing"].values())  # a freezing curve was trained
    assert all(finite(x) and x > 0 for losses in m["train_loss"].values() for x in losses)
    assert all(-1 <= v <= 1 for v in m["mean_gain"].values()) and m["n_runs"] >= 2 * len(doms) + 2
    runs = m["n_runs"] - 2 + len(doms) * 2                  # every run beside its domain's linear floor, mix and multitask per domain
    assert len(m["vs_baseline"]) == runs and all(acc(v["value"]) and acc(v["baseline"]) for v in m["vs_baseline"])
    assert all(acc(r["chance"]) and all(acc(v) for v in r["linear"].values()) for r in m["learnability"].values())


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_runs_and_writes_sane_metrics(tiny_run, lab):
    out, results = tiny_run
    r = results[lab.stem]
    assert r["status"] == "ok", r["error"]
    assert (out / lab.name).exists() and (out / lab.stem / "metrics.json").exists()
    assert list((out / lab.stem / "figures").glob("*.png")) or lab.stem in NO_FIGURES
    check = globals().get(f"check_{lab.name[:2]}")   # every lab has a check_NN(metrics) in this file
    assert check, f"no metrics check written for {lab.name}"
    check(r["metrics"])


NO_FIGURES = set()


@pytest.mark.slow
def test_run_summary(tiny_run):
    out, results = tiny_run
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary] == [l.stem for l in LABS]
    md = (out / "summary.md").read_text()
    assert "| lab | status | time (s) |" in md and all(l.stem in md for l in LABS)


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_a_reopened_lab_shows_its_results_as_text(tiny_run, lab):
    "What a notebook saved by papermill shows when reopened next week, with or without a kernel."
    out, _ = tiny_run
    nb = nbformat.read(out / lab.name, as_version=4)
    text = []
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        assert len(outputs) <= 50, f"{lab.stem}: a cell has {len(outputs)} outputs; JupyterLab hides those past 50"
        for o in outputs:       # widget views without a picture and NaN in tables: output_faults (test_lab_outputs.py)
            data = o.get("data", {})
            text.append(o.get("text", "") + data.get("text/plain", "") + data.get("text/html", ""))
    text = "\n".join(text)
    for hist in (out / lab.stem).rglob("history.json"):     # every epoch of every model trained, as text
        for r in json.loads(hist.read_text()):
            if "overfit" not in hist.parts: assert f"train_loss {r['train_loss']:.4f}" in text, f"{hist}: epoch {r['epoch']} missing"


# what a student cannot resolve in a lab's words: the repository's own files, seed numbers, course codes
JARGON = re.compile(r"(?<![\w/])(?:bench|tests|tools|nbs)/[\w./-]+|\bseed \d{2,}\b|\b(?:CS|EE|ECE|COMP) ?\d{3}\b")


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_prose_speaks_to_a_student(lab):
    "No repository paths, seed numbers or course codes in a lab's prose: name the study, the paper or the idea instead."
    found = [(i, m.group(0)) for i, c in enumerate(nbformat.read(lab, as_version=4).cells) if c.cell_type == "markdown"
             for m in JARGON.finditer(c.source)]
    assert not found, f"{lab.name}: {found}"


# the executed labs' outputs, here beside the other checks of `tiny_run` (one xdist worker reads it, none waits for it)
@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_an_executed_lab_reads_well(tiny_run, lab):
    out, results = tiny_run
    assert results[lab.stem]["status"] == "ok", results[lab.stem]["error"]
    faults = output_faults(nbformat.read(out / lab.name, as_version=4))
    assert not faults, f"{lab.name}:\n" + "\n".join(faults)


@pytest.mark.slow
@pytest.mark.parametrize("lab", [p for p in LABS if p.stem in PLAYERS], ids=lambda p: p.stem)
def test_a_music_lab_lets_you_listen(tiny_run, lab):
    out, _ = tiny_run
    assert players(nbformat.read(out / lab.name, as_version=4)) >= PLAYERS[lab.stem], f"{lab.name}: players missing"
