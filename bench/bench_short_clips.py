"""The default recipes on data they were not chosen on: short spoken digits, padded in every batch.

The recipes of `labkit.train.RECIPES` were chosen by `bench_ablation.py` on the music corpus, whose clips are all cut to
one length. This benchmark trains the same models, the way labs 2 and 3 train them, on a second corpus made the other
way: `labkit.synth.domains.spoken_digits`, ten digits said by a new random speaker each time, clips of 0.3 to 1.5 s
recorded at 8 kHz (the mel bands above 4 kHz are a constant -80 dB), test clips by other speakers. A batch of these is
mostly padding. Rows:

- CNN on mel with lab 3's default recipe (`lab_recipe('auto', 'cnn', 'genre')`), and with plain training for reference;
- LSTM with lab 2's default recipe on fused (mel + chroma) and on chroma input, given the training clips
  (`lab_recipe(..., train=...)`: key alignment is left out where the chroma shows no key), and the same recipe with
  key alignment kept whatever the data, to show what it costs on speech.

The reference is `labkit.metrics.linear_baseline` (per-band mean and std over each clip's real frames, logistic
regression) on each row's input, fitted on the same training clips in the same run; the table gives each row's test
accuracy, mean (min..max) over the seeds, and its difference from that baseline."""
import argparse, platform, tempfile, time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from labkit.data import train_val_split
from labkit.metrics import classification_metrics, linear_baseline
from labkit.synth.domains import spoken_digits
from labkit.teach.labs import describe_recipe, lab_recipe, load_split, train_and_score
from labkit.train import Recipe, make_loader, seed_everything

ROWS = [  # (model, input, recipe name, how the recipe is made)
    ("CNN", "mel", "lab 3's default", lambda train: lab_recipe("auto", "cnn", "genre")),
    ("CNN", "mel", "plain training", lambda train: Recipe("none")),
    ("LSTM", "fused", "lab 2's default", lambda train: lab_recipe("auto", "lstm", "genre", "fused", train=train)),
    ("LSTM", "fused", "lab 2's default, key alignment kept", lambda train: lab_recipe("auto", "lstm", "genre", "fused")),
    ("LSTM", "chroma", "lab 2's default", lambda train: lab_recipe("auto", "lstm", "genre", "chroma", train=train)),
    ("LSTM", "chroma", "lab 2's default, key alignment kept", lambda train: lab_recipe("auto", "lstm", "genre", "chroma")),
]


def run(root, model, feature, make_recipe, seed, epochs, out):
    "Train one row's model with one seed as the labs do; test accuracy at the best validation epoch, and the recipe."
    train, test = (load_split(root, feature, s, class_mapping="none") for s in ("train", "test"))
    tr, va = train_val_split(train, val_size=0.2, stratify=True)
    recipe = make_recipe(Subset(train, tr))
    seed_everything(seed)
    net = (recipe.create_model("cnn", n_classes=len(train.classes)) if model == "CNN"
           else recipe.create_model("lstm", input_dim=train.feat_dim, n_classes=len(train.classes)))
    net = recipe.wrap(net, Subset(train, tr))
    scored = train_and_score(net, make_loader(Subset(train, tr), batch_size=16, seed=seed),
                             make_loader(Subset(train, va), batch_size=32, shuffle=False), make_loader(test, batch_size=32, shuffle=False),
                             out, loss_fn=nn.CrossEntropyLoss(), epochs=epochs, lr=1e-3, patience=5, seed=seed,
                             scheduler=recipe.scheduler(epochs), metric_fn=classification_metrics, progress=False, device="cpu",
                             score_fn=classification_metrics)
    return scored.scores["accuracy"], describe_recipe(recipe)


def main(quick: bool, out: Path):
    n_train, n_test, seeds, epochs = (8, 3, [0], 3) if quick else (24, 8, [0, 1, 2], 20)
    t0, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        root = spoken_digits(Path(tmp) / "data", n_train=n_train, n_test=n_test, seed=0)
        lengths = [int(n) for *_, n in load_split(root, "mel", "train", class_mapping="none")]
        base = {f: linear_baseline(*(load_split(root, f, s, class_mapping="none") for s in ("train", "test")))["accuracy"]
                for f in ("mel", "fused", "chroma")}
        for model, feature, name, make in ROWS:
            accs = []
            for seed in seeds:
                acc, said = run(root, model, feature, make, seed, epochs, Path(tmp) / "run")
                accs.append(acc)
            rows.append((model, feature, name, said, accs))
            print(f"{model} {feature} {name}: {np.mean(accs):.3f} against {base[feature]:.3f}", flush=True)
    md = ["## Default recipes on short padded clips (spoken digits)", "",
          f"`spoken_digits`: {n_train} training and {n_test} test clips per digit (10 digits, test speakers unseen), "
          f"{min(lengths)}..{max(lengths)} frames (median {int(np.median(lengths))}), 8 kHz recordings. Lab 2/3 training: "
          f"20 % of the training clips for validation (stratified), Adam lr 0.001, batch 16, at most {epochs} epochs, "
          f"early stopping after 5, the best epoch scored on the test clips. Seeds {seeds}; accuracy as mean (min..max). "
          "Chance is 0.100.", "",
          "| model | input | recipe | what it trained with | test accuracy | pooled baseline (same input) | difference |",
          "|---|---|---|---|---|---|---|"]
    for model, feature, name, said, accs in rows:
        md.append(f"| {model} | {feature} | {name} | {said} | {np.mean(accs):.3f} ({min(accs):.3f}..{max(accs):.3f}) | "
                  f"{base[feature]:.3f} | {np.mean(accs) - base[feature]:+.3f} |")
    md += ["", f"Took {time.perf_counter() - t0:.0f} s. Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
           f"CPU, Python {platform.python_version()}, torch {torch.__version__}.{' Quick mode.' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few clips, one seed, 3 epochs (a smoke test)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "short_clips.md")
    a = ap.parse_args()
    main(a.quick, a.out)
