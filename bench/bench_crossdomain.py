"""EfficientNet-B0 on spectrogram images: training throughput, and the cost of one full transfer matrix.

Throughput: samples per second of training steps (forward, backward, Adam step; batch 32, random inputs, after two
warm-up steps) of `create_model('efficientnet_b0', n_classes=10)` on the study's 20 MFCC x 61 frame input and on
128-band log-mel x 61 frames, with 1 and 2 torch threads. Reference: labkit's 4-block lab CNN
(`create_model('cnn', n_classes=10)`) measured in the same run on the same inputs; ratio = EfficientNet / CNN.

Transfer matrix: `transfer_study` with lab 8's default grid (urban, radio, speech; fractions 5 % and 100 %; no frozen
layers in the matrix; freezing curve 10/30/60 on one pair; mix and multitask runs; 3 epochs, at least 30 steps) on
the small preset, from an empty run cache, with 2 processes and with 1. Its numbers are reported too."""
import argparse, platform, tempfile, time
from pathlib import Path

import torch
from torch import nn

from labkit.crossdomain import mixing_table, scratch_table, transfer_matrix, transfer_study
from labkit.domains import load_domains
from labkit.models import create_model


def md_table(df):
    "A DataFrame as a markdown table (no tabulate needed)."
    head = [str(df.index.name or "")] + [str(c) for c in df.columns]
    rows = [[str(i)] + ["" if v != v else f"{v:.3f}" for v in r] for i, r in zip(df.index, df.to_numpy())]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head)] + rows)


def throughput(name, rows, threads, steps=6, batch=32):
    torch.set_num_threads(threads); torch.manual_seed(0)
    model = create_model(name, n_classes=10); opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(batch, 61, rows), torch.randint(0, 10, (batch,))
    for i in range(steps + 2):
        if i == 2: t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    return batch * steps / (time.perf_counter() - t0)


def main(quick: bool, out: Path):
    md = ["## EfficientNet-B0 on spectrograms (lab 8)", "",
          "Training throughput, samples/s (batch 32, Adam, CPU). Reference: labkit's lab CNN on the same input in the same run.", "",
          "| input | threads | EfficientNet-B0 (samples/s) | reference: lab CNN (samples/s) | ratio |", "|---|---|---|---|---|"]
    for label, rows in (("20 MFCC x 61", 20), ("128 log-mel x 61", 128)):
        for threads in (1, 2):
            e, c = throughput("efficientnet_b0", rows, threads), throughput("cnn", rows, threads)
            md.append(f"| {label} | {threads} | {e:.0f} | {c:.0f} | {e / c:.2f} |"); print(md[-1], flush=True)
    torch.set_num_threads(2)
    preset = "tiny" if quick else "small"
    load_domains(["urban", "radio", "speech"], preset, progress=False)        # data built before timing
    md += ["", f"One full transfer matrix, lab 8's default grid, preset `{preset}`, empty run cache. "
           "Reference: the same grid in one process.", "", "| processes | runs | wall time (s) | reference: 1 process (s) | ratio |", "|---|---|---|---|---|"]
    times, df = {}, None
    for n_jobs in (2, 1):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            df = transfer_study(["urban", "radio", "speech"], fractions=(0.05, 1.0), freeze=(0,), freeze_curve=(10, 30, 60),
                                epochs=1 if quick else 3, batch_size=32, min_steps=2 if quick else 30, preset=preset,
                                n_jobs=n_jobs, cache=cache, progress=False)
            times[n_jobs] = time.perf_counter() - t0
        print(f"{n_jobs} process(es): {times[n_jobs]:.0f} s", flush=True)
    md.append(f"| 2 | {len(df)} | {times[2]:.0f} | {times[1]:.0f} | {times[2] / times[1]:.2f} |")
    md += ["", "Scratch test accuracy (rows: domain, columns: target fraction):", "", md_table(scratch_table(df)), ""]
    for f in (0.05, 1.0):
        md += [f"Transfer minus scratch at {f:.0%} of target data (rows: source, columns: target):", "",
               md_table(transfer_matrix(df, f)), ""]
    md += ["Mixing (per-domain test accuracy):", "", md_table(mixing_table(df)), "",
           f"Machine: {platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}.{' Quick mode.' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text("\n".join(md)); print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the tiny preset and one epoch")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "crossdomain.md")
    a = ap.parse_args()
    main(a.quick, a.out)
