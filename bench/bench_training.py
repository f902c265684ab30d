"""Training throughput of the lab's models.

Main comparison: the LSTM (140 -> 2x128 bidirectional) on beat-synced fused features whose lengths vary
as the real ones do (26..129 frames). labkit: packed sequences + length bucketing (`BucketBatchSampler`),
each batch padded only to its own longest clip. Reference: the official helper's way, every clip padded to
the dataset's maximum length (`max_length='max'`, zeros appended at the end), a plain shuffled DataLoader,
and the LSTM run over all padded frames without packing (last step read as the helper does: forward
output at length-1, backward output at index 0). Same model and initial weights, same data, same optimizer,
in the same run, interleaved batch by batch so machine load hits both alike. Also reported: samples/s of the
LSTM on full-length mel (~1293 frames) and of the CNN on full mel and on beat-synced fused features."""
import argparse, os, platform, shutil, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from labkit.data import CLASS_MAPPING, SpectrogramDataset, save_fused, train_val_split, write_genre_labels
from labkit.models import Classifier, LSTMBackbone, create_model
from labkit.train import evaluate, get_device, make_generator, make_loader, seed_everything, seed_worker, to_device

CLASSES = sorted({c for c in CLASS_MAPPING.values() if c is not None})
RAW_FOR = {c: next(g for g, m in CLASS_MAPPING.items() if m == c) for c in CLASSES}


def beat_lengths(n, rng):
    "Beat-synced clip lengths like the real ones: mostly 30..100 frames, 26..129 in all, one at the maximum 129."
    lengths = np.clip(np.round(rng.normal(62, 20, n)), 26, 129).astype(int)
    lengths[0] = 129
    return lengths


def write_clips(root: Path, folder: str, lengths, seed: int, style: str):
    "Clips in the real layout (140 x T float64 .npy, TSV labels) with a class-dependent band the models can learn."
    rng = np.random.default_rng(seed)
    ids, genres = [], []
    for k, T in enumerate(lengths):
        c = k % len(CLASSES)
        mel = rng.normal(-50, 8, (128, T))
        on = rng.random(T) < 0.3                                          # the class's band sounds in some frames
        mel[c * 12:c * 12 + 8, on] += rng.normal(8, 6, (8, int(on.sum())))
        chroma = rng.uniform(0, 1, (12, T)); chroma[c] = np.clip(chroma[c] + 0.1, 0, 1)
        ids.append(str(20000 + k)); genres.append(RAW_FOR[CLASSES[c]])
        save_fused(root / folder / "train" / f"{ids[-1]}.fused.full.npy", np.vstack([np.clip(mel, -80, 0), chroma]))
    write_genre_labels(root / folder / "train_labels.txt", ids, genres, style)


class PaddedLSTM(LSTMBackbone):
    "The same LSTM run over every padded frame (no packing); last step read as the official helper reads it."
    def forward(self, x, lengths=None):
        out, _ = self.lstm(x)                                             # (B, Tmax, 2H): padding included
        H = self.lstm.hidden_size
        idx = torch.as_tensor(lengths, device=x.device) - 1
        last = torch.cat([out[torch.arange(len(x), device=x.device), idx, :H], out[:, 0, H:]], 1)
        return self.dropout(last)                                         # (B, 2H)


def normalizer(ds):
    "Per-feature mean/std over the training clips (the same input scaling for both pipelines)."
    allx = torch.cat([ds[i][0] for i in range(len(ds))])
    mean, std = allx.mean(0), allx.std(0) + 1e-5
    return lambda x: (x - mean) / std


def train_epoch(model, dl, opt, loss_fn, device):
    "One training epoch; returns (samples, seconds)."
    model.train(); n = 0
    t0 = time.perf_counter()
    for x, y, lengths in dl:
        x, y = to_device(x, device), to_device(y, device)
        loss = loss_fn(model(x, lengths), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        n += len(x)
    if device.type == "cuda": torch.cuda.synchronize()
    return n, time.perf_counter() - t0


def throughput(model, dl, device, max_batches, warmup=True):
    "Training samples/s over the first `max_batches` batches (after one warm-up batch if `warmup`)."
    opt = torch.optim.Adam(model.parameters(), 1e-4, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    batches = [b for _, b in zip(range(max_batches + warmup), dl)]
    if warmup: train_epoch(model, batches[:1], opt, loss_fn, device)
    n, dt = train_epoch(model, batches[warmup:], opt, loss_fn, device)
    return n / dt


def build_pipes(packed_ds, padded_ds, train_idx, val_idx, seeds, device, n_classes):
    "For each seed, the labkit and the reference pipeline: loaders, model (same initial weights for both), optimizer."
    pipes = {}
    for seed in seeds:
        for method, cls in (("labkit", LSTMBackbone), ("reference", PaddedLSTM)):
            if method == "labkit":
                train = make_loader(Subset(packed_ds, train_idx), 32, bucket=True, seed=seed)
                val = make_loader(Subset(packed_ds, val_idx), 64, shuffle=False)
            else:
                train = DataLoader(Subset(padded_ds, train_idx), 32, shuffle=True, generator=make_generator(seed),
                                   worker_init_fn=seed_worker)
                val = DataLoader(Subset(padded_ds, val_idx), 64, shuffle=False)
            seed_everything(seed)
            model = Classifier(cls(input_dim=140, hidden_size=128, num_layers=2, bidirectional=True, dropout=0.1),
                               n_classes).to(device)
            pipes[method, seed] = dict(train=train, val=val, model=model, times=[],
                                       opt=torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-4))
        a, b = pipes["labkit", seed]["model"].state_dict(), pipes["reference", seed]["model"].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    return pipes


def run_interleaved(pipes, epochs, device, loss_fn):
    "Train every pipeline for `epochs`, interleaved batch by batch (the one that is behind goes next)."
    for epoch in range(epochs):
        for p in pipes.values(): p["model"].train()
        its = {k: iter(p["train"]) for k, p in pipes.items()}
        seen, secs, live = {k: 0 for k in pipes}, {k: 0.0 for k in pipes}, set(pipes)
        while live:
            k = min(live, key=lambda k: (seen[k], k))
            p, t0 = pipes[k], time.perf_counter()
            batch = next(its[k], None)                                   # data loading is timed too
            if batch is None: live.discard(k); continue
            x, y, lens = batch
            x, y = to_device(x, device), to_device(y, device)
            loss = loss_fn(p["model"](x, lens), y)
            p["opt"].zero_grad(set_to_none=True); loss.backward(); p["opt"].step()
            if device.type == "cuda": torch.cuda.synchronize()
            secs[k] += time.perf_counter() - t0; seen[k] += len(x)
        for k in pipes:
            pipes[k]["times"].append(seen[k] / secs[k])
            print(f"{torch.get_num_threads()} thread(s) epoch {epoch + 1} {k[0]:9s} seed {k[1]}: "
                  f"{seen[k] / secs[k]:7.1f} samples/s", flush=True)


def main(quick: bool, out: Path, device: str, threads: list, data: Path | None = None, seed: int = 0):
    device = get_device(device)
    n_beat, epochs, n_batches, full_batches, bs_full = (240, 2, 3, 1, 4) if quick else (1500, 5, 10, 2, 8)
    n_full, seeds = bs_full * (full_batches + 1), (seed, seed + 1)
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-train-"))
    rng = np.random.default_rng(seed)
    loss_fn = nn.CrossEntropyLoss()
    try:
        root = Path(data) if data else tmp                                   # a real or synth data root, or clips written here
        if not data:
            write_clips(tmp, "fma_genre_spectrograms_beat", beat_lengths(n_beat, rng), seed, "beat")
            write_clips(tmp, "fma_genre_spectrograms", rng.integers(1291, 1294, n_full), seed + 1, "full")
        raw = SpectrogramDataset(root, beat=True, feature="fused", in_memory=True, verbose=False)
        lengths, n_classes = raw.lengths, len(raw.classes)
        train_idx, val_idx = train_val_split(raw, val_size=0.2, seed=420)
        norm = normalizer(Subset(raw, train_idx))
        packed_ds = SpectrogramDataset(root, beat=True, feature="fused", in_memory=True, transform=norm, verbose=False)
        padded_ds = SpectrogramDataset(root, beat=True, feature="fused", in_memory=True, transform=norm,
                                       max_length="max", verbose=False)
        assert padded_ds.max_length == lengths.max() and (padded_ds.lengths == packed_ds.lengths).all()

        # main comparison: both methods, two seeds each, at the first thread setting
        torch.set_num_threads(threads[0])
        pipes = build_pipes(packed_ds, padded_ds, train_idx, val_idx, seeds, device, n_classes)
        frames = {m: sum(x.shape[0] * x.shape[1] for x, _, _ in pipes[m, seed]["train"]) for m in ("labkit", "reference")}
        run_interleaved(pipes, epochs, device, loss_fn)
        for p in pipes.values():
            res = evaluate(p["model"], p["val"], loss_fn, device=device)
            p["val_loss"], p["val_acc"] = res["loss"], float((res["preds"].argmax(1) == res["targets"]).mean())
        per = lambda m, key: [pipes[m, s][key] for s in seeds]
        sps = {m: statistics.median(sum(per(m, "times"), [])) for m in ("labkit", "reference")}

        # the same comparison's throughput at the other thread settings (one epoch, seed 0)
        more = []
        for t in threads[1:]:
            torch.set_num_threads(t)
            extra = build_pipes(packed_ds, padded_ds, train_idx, val_idx, (seed,), device, n_classes)
            run_interleaved(extra, 1, device, loss_fn)
            more.append((t, extra["labkit", seed]["times"][0], extra["reference", seed]["times"][0]))
        torch.set_num_threads(threads[0])

        # cost of the other lab steps
        others = []
        beat_train = Subset(packed_ds, train_idx)
        seed_everything(seed)
        others.append(("LSTM, beat-synced fused, bucketed, `packed=True` (pack_padded_sequence, the GPU path)", 32,
                       throughput(create_model("lstm", input_dim=140, n_classes=10, packed=True).to(device),
                                  make_loader(beat_train, 32, bucket=True, seed=seed), device, n_batches)))
        seed_everything(seed)
        others.append((f"CNN, beat-synced fused (140 x {lengths.min()}..{lengths.max()}), bucketed", 32,
                       throughput(create_model("cnn", n_classes=10).to(device),
                                  make_loader(beat_train, 32, bucket=True, seed=seed), device, n_batches)))
        full_mel = Subset(SpectrogramDataset(root, beat=False, feature="mel", verbose=False), range(n_full))
        warm = device.type != "cpu"                                          # on the CPU one batch is slow enough
        seed_everything(seed)
        others.append(("LSTM, full-length mel (128 x ~1293)", bs_full,
                       throughput(create_model("lstm", input_dim=128, n_classes=10).to(device),
                                  make_loader(full_mel, bs_full), device, full_batches, warm)))
        seed_everything(seed)
        others.append(("CNN, full-length mel (128 x ~1293)", bs_full,
                       throughput(create_model("cnn", n_classes=10).to(device), make_loader(full_mel, bs_full), device,
                                  full_batches, warm)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ratio = sps["labkit"] / sps["reference"]
    vl = {m: per(m, "val_loss") for m in ("labkit", "reference")}
    va = {m: per(m, "val_acc") for m in ("labkit", "reference")}
    spread = max(max(v) - min(v) for v in vl.values())
    fmt = lambda v: " / ".join(f"{x:.4f}" for x in v)
    md = [f"## Training throughput: LSTM on beat-synced fused features, bucketed and unpadded vs padded to the maximum",
          "",
          f"{len(train_idx)} training / {len(val_idx)} validation clips of beat-synced fused features (140 x T"
          f"{f', from {data}' if data else ', float64 `.npy` in the real layout, written with `labkit.data.save_fused`'}; T from {lengths.min()} to {lengths.max()}, "
          f"median {int(np.median(lengths))}{'' if data else ', like the real data whose train maximum is 129'}). "
          f"Model: LSTM 140 -> 2 "
          f"bidirectional layers of 128, linear head over {n_classes} classes, Adam lr 1e-3, wd 1e-4, batch 32, "
          f"features standardised with train statistics for both. **labkit**: `make_loader(bucket=True)` "
          f"(`BucketBatchSampler`, each batch padded to its own longest clip) and `LSTMBackbone`, which reads every clip "
          f"only up to its true length (`pack_padded_sequence` on a GPU; on the CPU the same result computed densely, "
          f"each clip reversed within its length for the backward direction). **reference**: every clip padded to the "
          f"dataset maximum ({padded_ds.max_length} frames) as the official helper's `PaddingTransform` does, a plain "
          f"shuffled DataLoader, and the same LSTM run over all padded frames (no packing; last step read as the helper "
          f"does). Same initial weights, data and optimizer, in the same run, interleaved batch by batch so machine "
          f"load hits both alike. Samples/s: median over {epochs} epochs x {len(seeds)} seeds of training (forward, "
          f"backward, optimizer step, data loading). Validation loss after {epochs} epochs for seeds {seeds}.",
          "",
          "| measure | labkit (bucketed, true lengths) | reference (padded to max) | ratio | target |",
          "|---|---|---|---|---|",
          f"| training samples/s, {threads[0]} thread(s) | {sps['labkit']:.1f} | {sps['reference']:.1f} | **{ratio:.2f}x** | >= 1.5x |"]
    md += [f"| training samples/s, {t} thread(s), one epoch | {a:.1f} | {b:.1f} | {a / b:.2f}x | |" for t, a, b in more]
    md += [f"| frames per epoch through the LSTM (incl. padding) | {frames['labkit']:,} | {frames['reference']:,} | "
           f"{frames['reference'] / frames['labkit']:.2f}x fewer | |",
           f"| validation loss after {epochs} epochs (seeds {seeds}) | {fmt(vl['labkit'])} | {fmt(vl['reference'])} | "
           f"{np.mean(vl['labkit']) - np.mean(vl['reference']):+.4f} (mean diff.) | equal within noise |",
           f"| validation accuracy after {epochs} epochs | {fmt(va['labkit'])} | {fmt(va['reference'])} | | |",
           "",
           f"The first row is the main measurement: with one torch thread the two pipelines cannot compete for cores "
           f"with each other or with other processes; rows with more threads are one epoch each and noisier. "
           f"Noise: the largest spread of validation loss between two seeds of the same method is {spread:.4f}; the "
           f"difference of the means is {abs(np.mean(vl['labkit']) - np.mean(vl['reference'])):.4f}. "
           f"Per-epoch samples/s at {threads[0]} thread(s): labkit {', '.join(f'{v:.0f}' for v in sum(per('labkit', 'times'), []))}; "
           f"reference {', '.join(f'{v:.0f}' for v in sum(per('reference', 'times'), []))}.",
           "",
           f"Cost of the other lab steps (training samples/s with labkit's loaders and default model sizes, "
           f"{threads[0]} thread(s), over {n_batches} batches of beat-synced clips after a warm-up batch and "
           f"{full_batches} batch(es) of full-length clips):",
           "",
           "| model and input | batch | samples/s |", "|---|---|---|"]
    md += [f"| {a} | {b} | {c:.2f} |" for a, b, c in others]
    md += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (other processes may share them), "
           f"device {device}{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}, "
           f"Python {platform.python_version()}, torch {torch.__version__}.{' Quick mode.' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))
    return ratio


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer clips and epochs (well under a minute)")
    ap.add_argument("--device", default="auto", help="'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda'")
    ap.add_argument("--threads", default=None,
                    help="comma-separated torch thread counts; the first is the main measurement "
                         "(default: 1 and, if larger, torch's default)")
    ap.add_argument("--data", type=Path, default=None,
                    help="a data root in the lab's layout (real or labkit.synth) instead of generated clips")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.md")
    a = ap.parse_args()
    n = torch.get_num_threads()
    threads = [int(t) for t in a.threads.split(",")] if a.threads else ([1, n] if n > 1 else [1])
    main(a.quick, a.out, a.device, threads, a.data)
