"""Every lab on a dataset in the lab layout whose labels are not FMA's, with and without the affect folders."""
import json, math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs the labs on a dataset of its own


def finite(x): return isinstance(x, (int, float)) and math.isfinite(x)
def unit(x): return finite(x) and 0 <= x <= 1
def rho(x): return finite(x) and -1 <= x <= 1


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
                        str(tmp_path / "run"), *args({**FAST, "overfit_epochs": 3, "feature_sets": ["mel", "mel_beat"]})], capture_output=True, text=True)
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
