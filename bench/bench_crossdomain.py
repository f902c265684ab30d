"""Lab 8's networks on spectrogram images: why EfficientNet-B0 learned nothing at first, its training throughput
against the narrow CNN lab 8 now trains, both networks against each domain's linear floor, the CNN over seeds, and
the cost of one full transfer matrix.

Diagnosis: EfficientNet-B0 trained from scratch for `--steps` optimiser steps (batch 32, SpecAugment, Adam) on the
urban domain of the small preset, then scored on its test split three ways: in evaluation mode with BatchNorm's
running averages (what `fit`/`evaluate` do), with each layer normalising by the test batch's own statistics
(training-mode BatchNorm, dropout off), and after `recalibrate_batchnorm` on clean training clips (what labkit's
cross-domain runs do). Three settings: torchvision's stochastic depth 0.2 at lr 1e-3 (the first version of lab 8),
the same at lr 3e-3, and stochastic depth 0 at lr 3e-3 (labkit's default). Reference: the pooled-feature linear
baseline of every embedded domain on the same preset, and chance.

Throughput: samples per second of training steps (forward, backward, Adam step; batch 32, random inputs, after two
warm-up steps) on the study's 20 MFCC x 61 frame input and on 128-band log-mel x 61 frames, with 1 and 2 torch
threads. Reference: lab 8's network, labkit's lab CNN at half width (`study_network('cnn')`), in the same run;
ratio = EfficientNet / CNN.

Against the floor: lab 8's scratch runs (100 % of each domain's training split, `--steps` steps) of both networks on
every domain of the study, seed 0, beside the pooled linear baseline; then the CNN over `--seeds` (each seed draws
its own corpus, subsets and initialisation): scratch against the floor per domain at 100 %, and the transfer gain
(transfer minus scratch, every ordered pair, nothing frozen) at 5 % and 100 %.

Transfer matrix: `transfer_study` with lab 8's default grid (urban and speech, or `--domains`; fractions 5 % and
100 %; the network's freezing curve on one pair; mix and multitask; lab 8's steps and learning rate) on the small preset,
from an empty run cache, with 2 processes. Reference: the sum of the runs' own training times, i.e. the same work in
one process; ratio = wall time / that sum. Its numbers are reported too, and the load average of the machine."""
import argparse, os, platform, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from labkit.studies.crossdomain import _loaders, _stats
from labkit.models import efficientnet_b0
from labkit.studies import learnability, run_study, study_network, subset, transfer_study
from labkit.viz import mixing_table, scratch_table, transfer_matrix
from labkit.train import recalibrate_batchnorm
from labkit.synth import DOMAINS, load_domains
from labkit.train import fit


def md_table(df):
    "A DataFrame as a markdown table (no tabulate needed)."
    head = [str(df.index.name or "")] + [str(c) for c in df.columns]
    rows = [[str(i)] + ["" if v != v else f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for i, r in zip(df.index, df.to_numpy())]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head)] + rows)


def scores(model, cal_dl, test_dl):
    "Test accuracy and distinct predicted classes: running averages, test-batch statistics, recalibrated."
    def run(train_bn):
        model.eval()
        if train_bn:
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d): m.train()
        with torch.no_grad():
            p = torch.cat([model(x, l).argmax(1) for x, _, l in test_dl]); y = torch.cat([y for _, y, _ in test_dl])
        return f"{(p == y).float().mean():.2f} ({len(p.unique())})"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = [run(False), run(True)]
    recalibrate_batchnorm(model, cal_dl); out.append(run(False))
    model.load_state_dict(state)
    return out


def diagnosis(preset, steps):
    d = load_domains(["urban"], preset, progress=False)["urban"]
    md = [f"Urban ({preset}), {steps} steps of batch 32 from scratch; test accuracy (distinct classes predicted):", "",
          "| setting | running averages (evaluate) | test-batch statistics | recalibrated (labkit) | train loss, last epoch |",
          "|---|---|---|---|---|"]
    for label, sd, lr in (("stochastic depth 0.2, lr 1e-3 (first lab 8)", 0.2, 1e-3), ("stochastic depth 0.2, lr 3e-3", 0.2, 3e-3),
                          ("stochastic depth 0, lr 3e-3 (labkit)", 0.0, 3e-3)):
        spec = dict(batch_size=32, epochs=1, min_steps=steps, seed=0)
        train_dl, cal_dl, test_dl = _loaders(d.x_train, d.y_train, d.x_test, d.y_test, _stats(d.x_train), spec)
        torch.manual_seed(0)
        model = efficientnet_b0(n_classes=d.n_classes, stochastic_depth=sd)
        h = fit(model, train_dl, loss_fn=nn.CrossEntropyLoss(), epochs=1, lr=lr, device="cpu", seed=0, progress=False)
        md.append(f"| {label} | " + " | ".join(scores(model, cal_dl, test_dl)) + f" | {h.records[-1]['train_loss']:.2f} |")
        print(md[-1], flush=True)
    floor = [learnability(v) for v in load_domains(list(DOMAINS), preset, progress=False).values()]
    md += ["", f"Reference: pooled-feature linear baseline (`labkit.studies.learnability`) on the {preset} preset:", "",
           "| domain | classes | train clips | chance | linear |", "|---|---|---|---|---|"]
    md += [f"| {r['domain']} | {r['classes']} | {r['train']} | {r['chance']:.3f} | {r['linear']:.3f} |" for r in floor]
    return md


def throughput(name, rows, threads, steps=6, batch=32):
    torch.set_num_threads(threads); torch.manual_seed(0)
    model = study_network(name, n_classes=10); opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(batch, 61, rows), torch.randint(0, 10, (batch,))
    for i in range(steps + 2):
        if i == 2: t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    return batch * steps / (time.perf_counter() - t0)


def spread(v):
    "mean (min..max) of some numbers."
    return f"{np.mean(v):.3f} ({np.min(v):.3f}..{np.max(v):.3f})"


def against_floor(preset, seeds, steps, epochs, names=("urban", "radio", "speech")):
    "Both networks from scratch against each domain's floor (seed 0); the CNN over seeds: scratch vs floor, transfer gain per fraction."
    md, rows, gains = [], [], []
    with tempfile.TemporaryDirectory() as cache:
        for seed in seeds:
            floor = {n: learnability(d)["linear"] for n, d in load_domains(list(names), preset, seed, progress=False).items()}
            df = transfer_study(list(names), fractions=(0.05, 1.0), freeze=(0,), freeze_curve=(), epochs=epochs, min_steps=steps,
                                seed=seed, preset=preset, mix=False, multitask=False, n_jobs=2, cache=cache, progress=False)
            sc = scratch_table(df)
            rows += [dict(seed=seed, domain=n, floor=floor[n], scratch=sc.loc[n, 1.0]) for n in names]
            gains += [dict(seed=seed, fraction=f, gain=float(np.nanmean(transfer_matrix(df, f).to_numpy()))) for f in (0.05, 1.0)]
            print(rows[-3:], gains[-2:], flush=True)
        data = dict(names=list(names), preset=preset, seed=0, data_dir=None, features="mfcc")
        eff = run_study([dict(data=data, arch="efficientnet_b0", epochs=epochs, batch_size=32, lr=3e-3, min_steps=steps, seed=0,
                              device="cpu", kind="scratch", target=n, fraction=1.0, save=False) for n in names], 2, cache, progress=False)
    r = pd.DataFrame(rows)
    first = r[r["seed"] == seeds[0]].set_index("domain")
    md += ["", "### Against the linear floor", "",
           f"Scratch on 100 % of each domain's training split, {steps} steps, preset `{preset}`, seed {seeds[0]}: test accuracy. "
           "Reference: the pooled linear baseline (`labkit.studies.learnability`) on the same clips.", "",
           "| domain | EfficientNet-B0 | lab 8's CNN | reference: linear floor |", "|---|---|---|---|"]
    md += [f"| {n} | {e['accuracy']:.3f} | {first.loc[n, 'scratch']:.3f} | {first.loc[n, 'floor']:.3f} |" for n, e in zip(names, eff)]
    md += ["", f"Lab 8's CNN over seeds {', '.join(map(str, seeds))}: mean (min..max). Reference: the linear floor of the same seed's corpus.", "",
           "| domain | CNN from scratch, 100 % | reference: linear floor | difference | above the floor in |", "|---|---|---|---|---|"]
    for n, g in r.groupby("domain", sort=False):
        md.append(f"| {n} | {spread(g['scratch'])} | {spread(g['floor'])} | {(g['scratch'] - g['floor']).mean():+.3f} | "
                  f"{int((g['scratch'] > g['floor']).sum())} of {len(g)} seeds |")
    g = pd.DataFrame(gains)
    md += ["", "Transfer gain (transfer minus scratch, mean over the ordered pairs of "
           f"{', '.join(names)}), per seed; reference: 0, no gain:", "",
           "| target fraction | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |", "|---" * (len(seeds) + 2) + "|"]
    for f, h in g.groupby("fraction"):
        md.append(f"| {f:.0%} | " + " | ".join(f"{v:+.3f}" for v in h["gain"]) + f" | {h['gain'].mean():+.3f} |")
    return md


def main(quick: bool, out: Path, domains: list, steps: int, seeds: list):
    preset = "tiny" if quick else "small"
    load_avg = lambda: "/".join(f"{v:.1f}" for v in os.getloadavg())
    md = ["## Lab 8's networks on spectrograms", "", f"Machine load average (1/5/15 min) at the start: {load_avg()} "
          f"on {os.cpu_count()} cores (other jobs share this machine; CPU-bound times scale with it).", "",
          "### Why the first lab 8 reported chance: BatchNorm statistics", ""]
    md += diagnosis(preset, 2 if quick else 48)    # the first lab 8's budget
    md += ["", "### Training throughput", "",
           "Samples/s (batch 32, Adam, CPU). Reference: lab 8's network (the lab CNN at half width) on the same input in the same run.", "",
           "| input | threads | EfficientNet-B0 (samples/s) | reference: lab 8's CNN (samples/s) | ratio |", "|---|---|---|---|---|"]
    for label, rows in (("20 MFCC x 61", 20), ("128 log-mel x 61", 128)):
        for threads in (1, 2):
            e, c = throughput("efficientnet_b0", rows, threads), throughput("cnn", rows, threads)
            md.append(f"| {label} | {threads} | {e:.0f} | {c:.0f} | {e / c:.2f} |"); print(md[-1], flush=True)
    torch.set_num_threads(2)
    md += against_floor(preset, seeds, 2 if quick else steps, epochs=1 if quick else 3)
    load_domains(domains, preset, progress=False)        # data built before timing
    md += ["", "### One full transfer matrix", "",
           f"Lab 8's default grid on {', '.join(domains)}, preset `{preset}`, empty run cache, 2 processes. Reference: the sum of "
           "the runs' own training times (the same work in one process).", "",
           "| processes | runs | wall time (s) | CPU time (s) | reference: sum of run times (s) | ratio |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as cache:
        t0, c0 = time.perf_counter(), os.times()
        df = transfer_study(domains, fractions=(0.05, 1.0), freeze=(0,), epochs=1 if quick else 3,
                            batch_size=32, lr=3e-3, min_steps=2 if quick else steps, preset=preset, n_jobs=2, cache=cache, progress=False)
        wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system) - (c0.user + c0.system + c0.children_user + c0.children_system)
    md.append(f"| 2 | {len(df)} | {wall:.0f} | {cpu:.0f} | {df['seconds'].sum():.0f} | {wall / df['seconds'].sum():.2f} |")
    md += ["", "Scratch test accuracy (rows: domain, columns: target fraction):", "", md_table(scratch_table(df)), ""]
    for f in (0.05, 1.0):
        md += [f"Transfer minus scratch at {f:.0%} of target data (rows: source, columns: target):", "", md_table(transfer_matrix(df, f)), ""]
    pair = df[(df["kind"] == "transfer") & (df["source"] == domains[0]) & (df["target"] == domains[1]) & np.isclose(df["fraction"], 0.05)]
    curve = pair.set_index("freeze")[["accuracy"]].sort_index()
    md += [f"Freezing curve, {domains[0]} -> {domains[1]} at 5 %: accuracy by conv layers frozen (scratch at 5 %: "
           f"{scratch_table(df).loc[domains[1], 0.05]:.3f}):", "", md_table(curve), "",
           "Mixing (per-domain test accuracy; time in s):", "", md_table(mixing_table(df)), "",
           f"Load average at the end: {load_avg()}. Machine: {platform.machine()}, Python {platform.python_version()}, "
           f"torch {torch.__version__}.{' Quick mode.' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text("\n".join(md)); print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the tiny preset and a couple of steps")
    ap.add_argument("--domains", default="urban,speech", help="comma-separated embedded domains of the grid")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps per single-domain run (lab 8's min_steps)")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of the floor comparison")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "crossdomain.md")
    a = ap.parse_args()
    main(a.quick, a.out, a.domains.split(","), a.steps, [int(s) for s in a.seeds.split(",")])
