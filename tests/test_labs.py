"""Every lab notebook runs under papermill, through `labkit lab`'s own runner, with tiny parameters on the tiny
preset, and writes sane metrics. The checks look for values that are present, finite and in range, and for
learning where it is meaningful even on tiny data (the one-batch overfit check); never for exact numbers."""
import json, math, os
from pathlib import Path

import nbformat, papermill as pm, pytest

from labkit.runner import list_labs, run_labs

LABS = list_labs()
CORE = {"data_dir", "preset", "epochs", "batch_size", "seed", "device", "out_dir"}
TINY = dict(epochs=1, batch_size=8, device="cpu", overfit_epochs=40, pretrain_epochs=1)


def test_there_are_labs():
    assert [p.name[:2] for p in LABS] == [f"{i:02d}" for i in range(1, len(LABS) + 1)] and len(LABS) >= 2


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_has_one_parameters_cell_and_a_kernelspec(lab):
    nb = nbformat.read(lab, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{lab.name}: {len(tagged)} cells tagged 'parameters'"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert CORE <= set(pm.inspect_notebook(str(lab))), f"{lab.name} lacks {CORE - set(pm.inspect_notebook(str(lab)))}"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    "Every lab on the tiny preset, with fit's live progress on (as a student in Jupyter has it), so the saved notebooks can be read back."
    out = tmp_path_factory.mktemp("run")
    params = {k: v for k, v in TINY.items() if any(k in pm.inspect_notebook(str(l)) for l in LABS)}
    before = os.environ.get("LABKIT_PROGRESS")
    os.environ["LABKIT_PROGRESS"] = "bar"
    try: results = run_labs(out, preset="tiny", params=params)
    finally:
        if before is None: os.environ.pop("LABKIT_PROGRESS")
        else: os.environ["LABKIT_PROGRESS"] = before
    return out, {r["name"]: r for r in results}


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
    models = {"AST-tiny, from scratch", "CNN, from scratch", "AST-tiny, genre-trained, frozen", "AST-tiny, genre-trained, fine-tuned"}
    assert set(m["map"]) == models and all(unit(v) for v in m["map"].values()) and unit(m["chance_map"])
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


def test_run_summary(tiny_run):
    out, results = tiny_run
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary] == [l.stem for l in LABS]
    md = (out / "summary.md").read_text()
    assert "| lab | status | time (s) |" in md and all(l.stem in md for l in LABS)


def test_the_explorer_lab_never_stalls(tmp_path):
    """Lab 1's explorer cell hung in about one papermill run in four while it drew into an `Output` widget (the client
    answers each capture on the channel it is polling for the cell's reply). Twelve fresh runs must all end: a
    1-in-4 stall would slip through with probability 0.75**12, about 3%."""
    from concurrent.futures import ThreadPoolExecutor
    from labkit.runner import execute_notebook
    from labkit.synth import make_corpus
    make_corpus("tiny")
    lab = list_labs(only=[1])[0]
    run = lambda i: execute_notebook(lab, tmp_path / f"{i}.ipynb", dict(preset="tiny", out_dir=str(tmp_path / f"out{i}")),
                                     cell_timeout=60, timeout=240)
    with ThreadPoolExecutor(2) as pool: results = list(pool.map(run, range(12)))
    assert [r["status"] for r in results] == ["ok"] * 12, [r["error"] for r in results if r["error"]]


FOREIGN = {"Brass": (9, 3), "Choir": (7, 2), "Drone": (5, 2), "Gamelan": (4, 1), "Koto": (4, 2), "Polka": (3, 2), "Tabla": (3, 2)}


def foreign_dataset(root, affect):
    "The real four-folder layout with 7 labels the lab's mapping does not know, uneven classes, one class with one test clip."
    import numpy as np
    from labkit.data import FOLDERS, save_fused, write_affect_labels, write_genre_labels
    rng = np.random.default_rng(1)
    for split, k in (("train", 0), ("test", 1)):
        ids = [f"{g[:2].lower()}{i:03d}" for g, n in FOREIGN.items() for i in range(n[k])]
        labels = [g for g, n in FOREIGN.items() for _ in range(n[k])]
        for key in ("genre", "genre_beat") + (("multitask", "multitask_beat") if affect else ()):
            for i in ids:
                T = int(rng.integers(12, 30)) if key.endswith("beat") else int(rng.integers(140, 200))
                save_fused(root / FOLDERS[key] / split / f"{i}.fused.full.npy",
                           np.vstack([rng.uniform(-80, 0, (128, T)), rng.uniform(0, 1, (12, T))]))
            if key.startswith("genre"):
                write_genre_labels(root / FOLDERS[key] / f"{split}_labels.txt", ids, labels,
                                   "beat" if key.endswith("beat") else "test" if split == "test" else "full")
            elif split == "train":
                write_affect_labels(root / FOLDERS[key] / "train_labels.txt", ids, rng.uniform(0, 1, (len(ids), 3)))
    return root


FAST = dict(epochs=1, batch_size=8, device="cpu", pretrain_epochs=1, class_mapping="none")
args = lambda params: [a for k, v in params.items() for a in ("-p", f"{k}={v}")]


def test_every_lab_runs_on_labels_that_are_not_fmas(tmp_path):
    "Seven foreign labels and no affect folders: the genre labs adapt to the classes, the affect labs say why they skip."
    import subprocess, sys
    data = foreign_dataset(tmp_path / "data", affect=False)
    r = subprocess.run([str(Path(sys.executable).parent / "labkit"), "lab", "--data-dir", str(data), "--out",
                        str(tmp_path / "run"), *args({**FAST, "overfit_epochs": 3})], capture_output=True, text=True)
    summary = {s["name"]: s for s in json.loads((tmp_path / "run" / "summary.json").read_text())}
    assert r.returncode == 0, {k: v["error"] for k, v in summary.items() if v["error"]}
    m = {k: v["metrics"] for k, v in summary.items()}
    assert m["01_explore"]["n_classes"] == 7 and m["01_explore"]["n_dropped"] == 0
    assert m["02_lstm_genre"]["n_classes"] == 7 and m["02_lstm_genre"]["chance_accuracy"] == 1 / 7
    assert all(unit(v) for r in m["03_cnn_genre"]["test"].values() for v in r.values())
    for lab in ("04_regression", "05_transfer", "06_multitask"):
        assert "no affect labels" in m[lab]["skipped"]
    assert m["07_embeddings"]["n_clips"] == sum(n[1] for n in FOREIGN.values())


def test_the_affect_labs_run_on_a_foreign_dataset_that_has_affect_labels(tmp_path):
    import subprocess, sys
    data = foreign_dataset(tmp_path / "data", affect=True)
    r = subprocess.run([str(Path(sys.executable).parent / "labkit"), "lab", "--only", "4,5,6", "--data-dir", str(data),
                        "--out", str(tmp_path / "run"), *args(FAST)], capture_output=True, text=True)
    summary = {s["name"]: s for s in json.loads((tmp_path / "run" / "summary.json").read_text())}
    assert r.returncode == 0, {k: v["error"] for k, v in summary.items() if v["error"]}
    assert all(rho(v) for v in summary["04_regression"]["metrics"]["spearman"]["cnn"].values())
    assert summary["06_multitask"]["metrics"]["solution"]["rows"] == sum(n[1] for n in FOREIGN.values())


WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_a_reopened_lab_shows_its_results_as_text(tiny_run, lab):
    "What a notebook saved by papermill shows when reopened next week, with or without a kernel."
    out, _ = tiny_run
    nb = nbformat.read(out / lab.name, as_version=4)
    text = []
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        assert len(outputs) <= 50, f"{lab.stem}: a cell has {len(outputs)} outputs; JupyterLab hides those past 50"
        for o in outputs:
            data = o.get("data", {})
            assert WIDGET not in data or "image/png" in data, f"{lab.stem}: a widget view with nothing to show without its kernel"
            text.append(o.get("text", "") + data.get("text/plain", "") + data.get("text/html", ""))
            if o.get("output_type") == "execute_result":
                assert "NaN" not in data.get("text/plain", "") + data.get("text/html", ""), f"{lab.stem}: NaN in a results table"
    text = "\n".join(text)
    for hist in (out / lab.stem).rglob("history.json"):     # every epoch of every model trained, as text
        for r in json.loads(hist.read_text()):
            if "overfit" not in hist.parts: assert f"train_loss {r['train_loss']:.4f}" in text, f"{hist}: epoch {r['epoch']} missing"
