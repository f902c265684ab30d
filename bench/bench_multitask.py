"""Loss-weighting strategies for the lab's multitask regression, compared on the embedded corpus.

Valence, energy and danceability are three tasks on one dataset (the affect set of `make_corpus('small')`),
each with its own linear head on one shared CNN backbone (`MultiHead`). The same model, from the same seed,
is trained once per strategy on each of k stratified folds (`make_folds`: scaler fitted on each training side);
reported is each axis's Spearman correlation on the fold's held-out side, and their mean (the leaderboard's
score), averaged over the folds. The reference is the `equal` strategy (the plain sum of the losses) measured in
the same run; the ratio is strategy / equal on mean Spearman."""
import argparse, platform, time
from pathlib import Path
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from labkit.data import AFFECT, PadCollate, SpectrogramDataset
from labkit.train import make_folds
from labkit.models import CNNBackbone, MultiHead
from labkit.train import Task, compare_weightings
from labkit.synth import make_corpus
from labkit.train import get_device

STRATEGIES = {'equal': {}, 'fixed': {'weights': [0.4, 0.3, 0.3]}, 'uncertainty': {}, 'dwa': {}}


def main(quick: bool, out: Path, device: str, seed: int = 0):
    device = get_device(device)
    preset, n_splits, epochs, frames = ('tiny', 3, 4, 128) if quick else ('small', 3, 10, 128)
    root = make_corpus(preset, progress=False)
    data = SpectrogramDataset(root, task='multitask', split='train', target='all', max_length=frames,
                              in_memory=True, verbose=False)
    tasks = [Task(a, 'regression') for a in AFFECT]
    t0, tables = time.perf_counter(), []
    for fold in make_folds(data, n_splits=n_splits, seed=seed):
        train_dl = DataLoader(fold.train, batch_size=16, shuffle=True, collate_fn=PadCollate(),
                              generator=torch.Generator().manual_seed(seed))
        val_dl = DataLoader(fold.test, batch_size=64, collate_fn=PadCollate())
        table = compare_weightings(lambda: MultiHead(CNNBackbone(channels=(8, 16, 32)), {a: 1 for a in AFFECT}),
                                   train_dl, val_dl, tasks, STRATEGIES, epochs=epochs, seed=seed, lr=1e-3,
                                   progress=False, device=device)
        tables.append(table.assign(fold=fold.index))
        print(f"fold {fold.index}: " + ", ".join(f"{s} {v:.3f}" for s, v in table['mean'].items()), flush=True)
    allf = pd.concat(tables)
    mean, std = allf.groupby(level=0, sort=False).mean(), allf.groupby(level=0, sort=False).std()
    base = mean.loc['equal', 'mean']
    md = ["## Multitask loss weighting (valence, energy, danceability)", "",
          f"Mean Spearman on held-out folds of the embedded corpus (`make_corpus('{preset}')`, affect set, "
          f"{len(data)} labelled clips, {n_splits} stratified folds, fused features cut to {frames} frames). "
          f"One CNN backbone (channels 8/16/32) with a linear head per axis, Adam lr 1e-3, {epochs} epochs, batch 16, "
          "the same seed and initial weights for every strategy. labkit number: the strategy; reference: `equal` "
          "(plain sum of the three MSE losses) in the same run; ratio: strategy / equal. Weights: the strategy's "
          "weights in the last epoch (fold mean). `fixed` uses the lab's 0.4/0.3/0.3.", "",
          "| strategy | valence | energy | danceability | mean Spearman (± sd over folds) | reference (equal) | ratio | final weights v/e/d |",
          "|---|---|---|---|---|---|---|---|"]
    for s in STRATEGIES:
        r = mean.loc[s]
        md.append(f"| {s} | {r['valence_spearman']:.3f} | {r['energy_spearman']:.3f} | {r['danceability_spearman']:.3f} | "
                  f"{r['mean']:.3f} ± {std.loc[s, 'mean']:.3f} | {base:.3f} | {r['mean'] / base:.2f} | "
                  f"{r['w_valence']:.2f}/{r['w_energy']:.2f}/{r['w_danceability']:.2f} |")
    md += ["", f"Per fold (mean Spearman): " + "; ".join(
               f"{s} " + ", ".join(f"{v:.3f}" for v in allf.loc[[s], 'mean']) for s in STRATEGIES),
           "", f"Took {time.perf_counter() - t0:.0f} s. Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
           f"device {device}, Python {platform.python_version()}, torch {torch.__version__}.{' Quick mode.' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))
    return mean


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the tiny corpus, fewer epochs (under a minute)")
    ap.add_argument("--device", default="auto", help="'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda'")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "multitask.md")
    a = ap.parse_args()
    main(a.quick, a.out, a.device)
