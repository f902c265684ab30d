"""Training recipes, one ingredient at a time, against the pooled-statistics baseline.

The lab's CNN (mel, 128-frame windows) and LSTM (beat-synchronous fused features) on the genre task (10 merged
classes: the lab's train/validation split of the train split, scored on the test split) and on the three affect
axes (one 3-output regressor, the labs' held-out split, Spearman per axis). Each row adds one ingredient of
`labkit.train.Recipe` to the row above (CNN: standardize, crops, cosine, specaugment; LSTM: standardize, specaugment,
cosine, keyalign), trained with three seeds; reported are the mean and the spread (min..max) over the seeds. The reference is
`labkit.metrics.linear_baseline` (per-band mean and std over each whole clip, logistic regression or ridge) on the
same clips, measured in the same run: on full-length fused features and on each model's own input. The defaults
of `labkit.train.RECIPES` are the rows that win here. Three options of the LSTM itself (mean readout, more
dropout, a smaller state) are also measured on top of its full recipe, and so is the CNN on affect reading fused input
(mel and chroma: the chroma rows carry the mode that valence follows) with its full recipe, with and without `keyalign`;
these single rows compete for the defaults like the others.

Finished runs are appended to `--runs` (by default results/ablation_runs.jsonl beside this script) and kept by the
next call with the same settings, so an interrupted run resumes and `--table-only` rebuilds the table; give another
`--runs` file to measure everything afresh. The baselines are always measured again."""
import argparse, json, os, platform, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROWS = {  # (model, task) -> cumulative ingredients, one row each ('none' first)
    ("cnn", "genre"): ["none", "standardize", "crops", "cosine", "specaugment"],
    ("lstm", "genre"): ["none", "standardize", "specaugment", "cosine", "keyalign"],
    ("cnn", "affect"): ["none", "standardize", "crops", "cosine", "specaugment"],
    ("lstm", "affect"): ["none", "standardize", "specaugment", "cosine", "keyalign"],
}
_LSTM_OPTIONS = [("readout='mean'", {"readout": "mean"}), ("readout='mean', dropout=0.3", {"readout": "mean", "dropout": 0.3}),
                 ("hidden_size=64", {"hidden_size": 64})]
INPUT = {"cnn": "mel", "lstm": "fused_beat"}  # each model's input in the cumulative rows
VARIANTS = {  # (model, task) -> (row, ingredients, create_model options, input): single rows beside the cumulative ones
    ("lstm", "genre"): [(row, "standardize specaugment cosine keyalign", o, "fused_beat") for row, o in _LSTM_OPTIONS],
    ("lstm", "affect"): [("keyshift", "standardize specaugment cosine keyshift", {}, "fused_beat")]  # the other way to key invariance
                        + [(row, "standardize specaugment cosine keyalign", o, "fused_beat") for row, o in _LSTM_OPTIONS],
    ("cnn", "affect"): [("fused", "standardize crops cosine specaugment", {}, "fused"),
                        ("fused keyalign", "standardize crops cosine specaugment keyalign", {}, "fused")],
}
AXES = ["valence", "energy", "danceability"]
_DATA = {}


def settings(quick: bool) -> dict:
    "Training settings of the run (quick: the tiny corpus and a few epochs, a smoke test only)."
    if quick: return dict(preset="tiny", seeds=[0], epochs={"cnn": 2, "lstm": 2}, patience=None, lr=1e-3, batch_size=16, frames=128)
    return dict(preset="small", seeds=[0, 1, 2], epochs={"cnn": 12, "lstm": 25}, patience=5, lr=1e-3, batch_size=32, frames=128)


def data(root, feature_set, split, task, max_frames=None):
    "One split, read once per process."
    from labkit.teach.labs import load_split
    key = (str(root), feature_set, split, task, max_frames)
    if key not in _DATA:
        extra = dict(class_mapping="lab") if task == "genre" else dict(target="all")
        _DATA[key] = load_split(root, feature_set, split, task="genre" if task == "genre" else "multitask",
                                max_frames=max_frames, **extra)
    return _DATA[key]


def splits(root, task, n):
    "(train, validation, test indices or None): the lab's split of the genre train split, the labs' held-out split of the affect set."
    from labkit.data import train_val_split
    from labkit.teach.labs import heldout_split
    if task == "genre":
        tr, va = train_val_split(n, val_size=0.2)
        return tr, va, None
    return heldout_split(n)


def score(task, targets, preds) -> dict:
    "Accuracy and macro-F1, or Spearman per axis and their mean."
    from sklearn.metrics import accuracy_score, f1_score
    from labkit.metrics import regression_metrics
    targets, preds = np.asarray(targets), np.asarray(preds)
    if task == "genre":
        p = preds.argmax(1)
        return {"accuracy": float(accuracy_score(targets, p)), "macro_f1": float(f1_score(targets, p, average="macro", zero_division=0))}
    return regression_metrics(targets, preds, AXES)


def run_one(job: dict) -> dict:
    "Train one model with one recipe and seed; score it on the test (genre) or held-out (affect) clips."
    import torch
    from torch import nn
    from torch.utils.data import Subset
    from labkit.teach.labs import parse_feature_set
    from labkit.models import create_model
    from labkit.train import Recipe
    from labkit.train import evaluate, fit, load_checkpoint, make_loader
    torch.set_num_threads(1)
    arch, task, seed, s = job["arch"], job["task"], job["seed"], job["settings"]
    fs = job.get("input", INPUT[arch])
    recipe = Recipe(job["recipe"], crop_frames=s["frames"]).for_input(parse_feature_set(fs)[0])  # key steps on its chroma rows
    window = recipe.max_frames(s["frames"]) if arch == "cnn" else None
    train = data(job["root"], fs, "train", task, window)
    tr, va, ho = splits(job["root"], task, len(train))
    test = Subset(train, ho) if task == "affect" else data(job["root"], fs, "test", task, window)
    out = {"genre": len(train.classes), "affect": len(AXES)}[task]
    head = dict(n_classes=out) if task == "genre" else dict(n_targets=out)
    torch.manual_seed(seed)
    options = job.get("model", {})
    model = create_model("cnn", **head, **options) if arch == "cnn" else create_model("lstm", input_dim=train.feat_dim, **head, **options)
    model = recipe.wrap(model, Subset(train, tr))
    epochs, bucket = s["epochs"][arch], arch == "lstm"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        history = fit(model, make_loader(Subset(train, tr), batch_size=s["batch_size"], seed=seed, bucket=bucket),
                      make_loader(Subset(train, va), batch_size=s["batch_size"], shuffle=False),
                      loss_fn=nn.CrossEntropyLoss() if task == "genre" else nn.MSELoss(), epochs=epochs, lr=s["lr"],
                      patience=s["patience"], scheduler=recipe.scheduler(epochs), out_dir=tmp, seed=seed, progress=False,
                      device="cpu")
        load_checkpoint(Path(tmp) / "best.pt", model)
    res = evaluate(model, make_loader(test, batch_size=s["batch_size"], shuffle=False), device="cpu")
    return {**{k: job[k] for k in ("arch", "task", "row", "recipe", "seed")}, **score(task, res["targets"], res["preds"]),
            "epochs": len(history), "seconds": time.perf_counter() - t0}


class KeyAligned:
    "A dataset whose clips pass through `labkit.audio.KeyAlign` (what a model with the keyalign ingredient reads)."
    def __init__(self, dataset):
        from labkit.audio import KeyAlign
        self.dataset, self.align = dataset, KeyAlign()
    def __len__(self): return len(self.dataset)
    def __getitem__(self, i):
        import torch
        x, y, n = self.dataset[i]
        return self.align(torch.as_tensor(np.asarray(x, np.float32))).numpy(), y, n


BASELINE_INPUTS = (("fused, full length", "fused"), ("mel, full length (CNN input)", "mel"),
                   ("fused_beat (LSTM input)", "fused_beat"), ("fused_beat, chroma key-aligned", "fused_beat"))
OWN_BASELINE = {"fused": "fused, full length", "mel": "mel, full length (CNN input)", "fused_beat": "fused_beat (LSTM input)"}


def baselines(root) -> list[dict]:
    "The pooled linear baseline on the same clips: full-length fused, each model's own input, and the LSTM's key-aligned."
    from torch.utils.data import Subset
    from labkit.metrics import linear_baseline
    rows = []
    for task in ("genre", "affect"):
        for name, fs in BASELINE_INPUTS:
            train = data(root, fs, "train", task)
            if "key-aligned" in name: train = KeyAligned(train)
            tr, va, ho = splits(root, task, len(train))
            fit_on = Subset(train, np.concatenate([tr, va]))
            test = Subset(train, ho) if task == "affect" else data(root, fs, "test", task)
            if "key-aligned" in name and task == "genre": test = KeyAligned(test)
            r = linear_baseline(fit_on, test, target_names=AXES if task == "affect" else None)
            rows.append({"task": task, "input": name, **r})
    return rows


def jobs_for(root, s) -> list[dict]:
    "Every (model, task, row, seed) run, seed by seed, so a partial run already covers every row once."
    jobs = []
    for seed in s["seeds"]:
        for (arch, task), rows in ROWS.items():
            for i, row in enumerate(rows):
                jobs.append(dict(arch=arch, task=task, row=row, recipe=" ".join(rows[1:i + 1]) or "none",
                                 seed=seed, root=str(root), settings=s))
            for row, recipe, options, fs in VARIANTS.get((arch, task), []):
                jobs.append(dict(arch=arch, task=task, row=row, recipe=recipe, model=options, input=fs, seed=seed, root=str(root), settings=s))
    return jobs


def fmt(values) -> str:
    "mean (min..max) of `values`."
    v = np.asarray(values, float)
    return f"{v.mean():.3f} ({v.min():.3f}..{v.max():.3f})" if len(v) > 1 else f"{v.mean():.3f}"


def table(runs: list[dict], base: list[dict], s: dict, seconds: float, quick: bool, made: int = 0) -> tuple[str, dict]:
    "The markdown tables and the chosen rows."
    md = ["## Training recipes: ablation against the pooled baseline", "",
          f"Embedded corpus, `{s['preset']}` preset. Genre: 10 merged classes (`class_mapping='lab'`), trained on the lab's "
          "train part of the train split (validation part for early stopping and the best epoch), scored on the test split. "
          "Affect: one regressor with 3 outputs (valence, energy, danceability, MSE), the labs' `heldout_split` (held-out "
          "clips scored). CNN: the lab's `create_model('cnn')` on mel, 128-frame windows (without `crops`: the first 128 "
          "frames of each clip, as lab 3 reads them; with `crops`: random 128-frame crops in training and the mean over "
          "windows covering each whole clip at evaluation). LSTM: `create_model('lstm')` (2x128 bidirectional) on "
          "beat-synchronous fused features (140 rows); a row marked `input=fused` reads full-length mel and chroma (140 rows) "
          f"instead of mel. Adam lr {s['lr']}, weight decay 1e-4, batch {s['batch_size']}, at most "
          f"{s['epochs']['cnn']} (CNN) / {s['epochs']['lstm']} (LSTM) epochs, early stopping after {s['patience']} epochs "
          f"without a better validation loss, the best epoch's weights scored. Seeds {s['seeds']}: each cell is the mean "
          "over seeds (min..max). Each row adds one ingredient to the row above (`labkit.train.Recipe`); a row showing a "
          "recipe in full, or an LSTM option (`create_model('lstm', ...)`) with its recipe, stands alone, and competes for "
          "the defaults like the others. Reference: `labkit.metrics.linear_baseline` (per-band mean and std over each whole "
          "clip, standardised on the training clips, logistic regression / ridge) fitted on the same training+validation "
          "clips and scored on the same clips, in the same run; it has no seed. The targets compare with the plain pooled "
          "baseline; the row `fused_beat, chroma key-aligned` shows what the same linear model gains from the `keyalign` "
          "step (each clip's chroma rotated to its strongest pitch class, `labkit.audio.KeyAlign`).", ""]
    chosen = {}
    options_of = {(a, t, row): o for (a, t), rows in VARIANTS.items() for row, _, o, _ in rows}
    input_of = lambda a, t, row: next((fs for row_, _, _, fs in VARIANTS.get((a, t), []) if row_ == row), INPUT[a])
    runs_by = {}
    for r in runs: runs_by.setdefault((r["arch"], r["task"], r["row"]), []).append(r)
    bmap = {(b["task"], b["input"]): b for b in base}
    for task, keys in (("genre", ["accuracy", "macro_f1"]), ("affect", ["spearman_valence", "spearman_energy", "spearman_danceability", "mean_spearman"])):
        main = keys[0] if task == "genre" else "mean_spearman"
        md += [f"### {'Genre (test split)' if task == 'genre' else 'Affect (held-out clips)'}", "",
               "| model | row (adds) | " + " | ".join(keys) + f" | {main} − baseline (fused) | epochs run | s per run |",
               "|---|---|" + "---|" * (len(keys) + 3)]
        for name, _ in BASELINE_INPUTS:
            b = bmap[(task, name)]
            md.append(f"| pooled baseline | {name} | " + " | ".join(f"{b[k]:.3f}" for k in keys) + " | | | |")
        if task == "genre":
            b = bmap[(task, "fused, full length")]
            md.append(f"| chance / majority class | | {b['chance_accuracy']:.3f} / {b['majority_accuracy']:.3f} | | | | |")
        ref = bmap[(task, "fused, full length")][main]
        for arch in ("cnn", "lstm"):
            best = None
            for row in ROWS[(arch, task)]:
                rs = runs_by.get((arch, task, row), [])
                if not rs: continue
                m = float(np.mean([r[main] for r in rs]))
                if best is None or m > best[1]: best = (row, m, rs)
                md.append(f"| {arch.upper()} | {'+' + row if row != 'none' else 'none'} (n={len(rs)}) | "
                          + " | ".join(fmt([r[k] for r in rs]) for k in keys)
                          + f" | {m - ref:+.3f} | {np.mean([r['epochs'] for r in rs]):.1f} | {np.mean([r['seconds'] for r in rs]):.0f} |")
            for row, recipe, options, fs in VARIANTS.get((arch, task), []):   # single rows beside the cumulative ones
                rs = runs_by.get((arch, task, row), [])
                if not rs: continue
                m = float(np.mean([r[main] for r in rs]))
                if m > best[1]: best = (row, m, rs)
                label = ", ".join([f"input={fs}"] * (fs != INPUT[arch]) + [row] * bool(options) + [f"`{recipe}`"])
                md.append(f"| {arch.upper()} | {label} (n={len(rs)}) | "
                          + " | ".join(fmt([r[k] for r in rs]) for k in keys)
                          + f" | {m - ref:+.3f} | {np.mean([r['epochs'] for r in rs]):.1f} | {np.mean([r['seconds'] for r in rs]):.0f} |")
            if best: chosen[(arch, task)] = dict(recipe=best[2][0]["recipe"], model=options_of.get((arch, task, best[0]), {}), value=best[1], metric=main, baseline=ref, n=len(best[2]),
                                                 input=input_of(arch, task, best[0]),
                                                 own_baseline=bmap[(task, OWN_BASELINE[input_of(arch, task, best[0])])][main],
                                                 valence=float(np.mean([r.get("spearman_valence", np.nan) for r in best[2]])),
                                                 plain=float(np.mean([r[main] for r in runs_by.get((arch, task, "none"), [])] or [np.nan])),
                                                 plain_input=INPUT[arch])
        md.append("")
    md += ["### Chosen defaults (`labkit.train.RECIPES`): the row with the best mean", "",
           "| model, task | input | recipe | model options | metric | mean | pooled baseline, fused | − baseline | baseline on own input |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (arch, task), c in chosen.items():
        md.append(f"| {arch}, {task} | {c['input']} | `{c['recipe']}` | {c['model'] or ''} | {c['metric']} | {c['value']:.3f} | {c['baseline']:.3f} | "
                  f"{c['value'] - c['baseline']:+.3f} | {c['own_baseline']:.3f} |")
    md += ["", "### Targets (mean over seeds, chosen rows)", ""]
    get = lambda a, t: chosen.get((a, t))
    for a, t, need, what in (("cnn", "genre", 0.05, "CNN genre accuracy ≥ pooled baseline (fused) + 0.05"),
                             ("cnn", "affect", 0.05, "CNN mean Spearman ≥ pooled baseline (fused) + 0.05")):
        c = get(a, t)
        md.append(f"- {what}: " + (f"{c['value']:.3f} vs {c['baseline'] + need:.3f}: **{'met' if c['value'] >= c['baseline'] + need else 'not met'}**"
                                   f" (n={c['n']})" if c else "not measured in this run"))
    for t in ("genre", "affect"):
        c = get("lstm", t)
        md.append(f"- LSTM {t} ≥ pooled baseline on its own input (fused_beat): " + (
            f"{c['value']:.3f} vs {c['own_baseline']:.3f}: **{'met' if c['value'] >= c['own_baseline'] else 'not met'}** (n={c['n']})" if c else "not measured"))
    val = [(c["valence"], f"{a} {t}") for (a, t), c in chosen.items() if t == "affect"]
    if val:
        v, who = max(val)
        md.append(f"- valence Spearman of the best model ≥ 0.40: {v:.3f} ({who}): **{'met' if v >= 0.40 else 'not met'}**; "
                  f"the pooled baseline reaches {bmap[('affect', 'fused, full length')]['spearman_valence']:.3f}")
    took = (f"This call made {made} runs in {seconds / 60:.1f} min of wall time and kept {len(runs) - made} from the runs file"
            if made else "Table rebuilt from the runs file")
    md += ["", f"{took}; {len(runs)} training runs, {sum(r['seconds'] for r in runs) / 60:.0f} min of training in all "
           f"(2 runs at a time). Machine: {platform.machine()}, {os.cpu_count()} cores (shared), 1 torch "
           f"thread per run, device cpu, Python {platform.python_version()}.{' Quick mode (a smoke test; numbers mean nothing).' if quick else ''}", ""]
    return "\n".join(md), chosen


def main(quick: bool, out: Path, jobs: int, runs_file: Path | None, only: str | None, table_only: bool = False):
    from labkit.synth import data_root
    s = settings(quick)
    if runs_file is None and not quick: runs_file = Path(__file__).parent / "results" / "ablation_runs.jsonl"
    root = data_root(None, s["preset"])
    todo = jobs_for(root, s)
    if only: todo = [j for j in todo if f"{j['arch']}-{j['task']}" in only.split(",")]
    done = []
    if runs_file is not None and runs_file.exists():  # runs already made with the same settings are kept
        key = lambda r: (r["arch"], r["task"], r["row"], r["recipe"], r["seed"])
        wanted = {key(j) for j in todo}
        done = [r for r in map(json.loads, runs_file.read_text().splitlines())
                if r.pop("settings", None) == s and key(r) in wanted]  # other settings or rows: not this table's
        have = {key(r) for r in done}
        todo = [j for j in todo if key(j) not in have]
    if table_only: todo = []                          # the table from the runs file alone
    t0 = time.perf_counter()
    print(f"{len(todo)} runs to make ({len(done)} kept), {jobs} processes", flush=True)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, j) for j in todo]
        base = baselines(root)
        print("baselines: " + "; ".join(f"{b['task']} {b['input']}: " + f"{b.get('accuracy', b.get('mean_spearman')):.3f}" for b in base), flush=True)
        for i, f in enumerate(futures):
            r = f.result()
            done.append(r)
            if runs_file is not None:
                with runs_file.open("a") as fh: fh.write(json.dumps({**r, "settings": s}) + "\n")
            main_value = r.get("accuracy", r.get("mean_spearman"))
            print(f"[{i + 1}/{len(futures)} {(time.perf_counter() - t0) / 60:.1f} min] {r['arch']} {r['task']} +{r['row']} "
                  f"seed {r['seed']}: {main_value:.3f} ({r['epochs']} epochs, {r['seconds']:.0f} s)", flush=True)
    md, chosen = table(done, base, s, time.perf_counter() - t0, quick, made=len(todo))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    if not quick:  # the chosen rows for labkit: RECIPES is checked against them, and the labs quote them
        out.with_suffix(".json").write_text(json.dumps(
            [{"model": a, "task": t, "input": c["input"], "recipe": c["recipe"], "options": c["model"],
              **{k: c[k] for k in ("metric", "value", "n", "plain", "plain_input", "own_baseline")}, **({"valence": c["valence"]} if t == "affect" else {})}
             for (a, t), c in chosen.items()], indent=1) + "\n")
    print(md)
    return chosen


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the tiny corpus, one seed, 2 epochs (a smoke test)")
    ap.add_argument("--jobs", type=int, default=2, help="training runs in parallel (one torch thread each)")
    ap.add_argument("--runs", type=Path, default=None,
                    help="a .jsonl file: finished runs are appended, and kept on the next call with the same settings "
                         "(default results/ablation_runs.jsonl; none with --quick)")
    ap.add_argument("--only", default=None, help="e.g. cnn-genre,lstm-affect")
    ap.add_argument("--table-only", action="store_true", help="no training: the table from the runs in --runs (and the baselines)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ablation.md",
                    help="the table (markdown); the chosen rows go beside it as .json")
    a = ap.parse_args()
    main(a.quick, a.out, a.jobs, a.runs, a.only, a.table_only)
