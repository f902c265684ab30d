"""What the channels-last image layout saves the lab's CNN on the CPU (`labkit.models.CNNBackbone`).

labkit: the spectrogram image goes through the convolution blocks channels-last (`torch.channels_last`), the layout
oneDNN's convolutions and PyTorch's CPU max pooling are fastest on. Reference: the same network with the image in
PyTorch's usual layout (NCHW), as it was before: a forward pre-hook on the first convolution re-lays its input out, so
every block after it runs NCHW too. Both networks hold the same weights and see the same batches, in one process,
step by step in turn, so machine load hits both alike:

- training steps (forward, backward, Adam) on batches of 32 windows of 128 frames, as labs 3-6 train: 128 mel bands
  (lab 3) and 140 fused rows (lab 4);
- evaluation batches of 4 windows per clip (128 x 140), as `evaluate` scores whole clips;
- the largest difference between the two networks' outputs, relative to the outputs' size: the same numbers up to
  float rounding."""
import argparse, os, platform, statistics, time
from pathlib import Path

import torch

from labkit.models import create_model
from labkit.train import get_device

HERE = Path(__file__).resolve().parent


def first_conv(model):
    "The first convolution of `model`."
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def reference_layout(model):
    "Make `model`'s CNN run in PyTorch's usual NCHW layout: its first convolution gets an NCHW copy of the image."
    first_conv(model).register_forward_pre_hook(lambda mod, args: (args[0].clone(memory_format=torch.contiguous_format),))
    return model


def layout_of(model, x):
    "The memory layout of the first convolution's output when `model` reads `x`."
    seen = []
    hook = first_conv(model).register_forward_hook(lambda mod, args, out: seen.append(out.is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad(): model(x)
    hook.remove()
    return "channels-last" if seen[0] else "NCHW"


def timed(fn):
    "Seconds one call of `fn` takes."
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0


def compare(n_bins: int, steps: int) -> dict:
    "Median seconds per training step and per evaluation batch of labkit's CNN and the reference, in turn."
    torch.manual_seed(0)
    ours = create_model("cnn", n_targets=1)
    ref = reference_layout(create_model("cnn", n_targets=1))
    ref.load_state_dict(ours.state_dict())
    x, y = torch.randn(32, 128, n_bins), torch.randn(32, 1)
    assert layout_of(ours, x) == "channels-last" and layout_of(ref, x) == "NCHW"  # each side runs the way it says
    opts = {id(m): torch.optim.Adam(m.parameters(), 1e-3) for m in (ours, ref)}
    def train_step(m):
        loss = torch.nn.functional.mse_loss(m(x), y); opts[id(m)].zero_grad(); loss.backward(); opts[id(m)].step()
    def eval_step(m):
        with torch.no_grad(): m(torch.cat([x] * 4))
    for m in (ours, ref): m.train(); train_step(m)                 # warm-up: first-call costs out of the measurement
    train = {"ours": [], "ref": []}
    for _ in range(steps):
        for name, m in (("ours", ours), ("ref", ref)): train[name].append(timed(lambda: train_step(m)))
    evals = {"ours": [], "ref": []}
    for m in (ours, ref): m.eval(); eval_step(m)
    for _ in range(steps):
        for name, m in (("ours", ours), ("ref", ref)): evals[name].append(timed(lambda: eval_step(m)))
    ref.load_state_dict(ours.state_dict())                         # same weights after training: compare the outputs
    with torch.no_grad(): a, b = ours(torch.cat([x] * 4)), ref(torch.cat([x] * 4))
    return dict(train=(statistics.median(train["ours"]), statistics.median(train["ref"])),
                eval=(statistics.median(evals["ours"]), statistics.median(evals["ref"])),
                rel_diff=float((a - b).abs().max() / b.abs().max()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "cnn_layout.md")
    a = ap.parse_args()
    get_device("cpu")                                              # as fit does (freed memory kept for both)
    steps = 3 if a.quick else 15
    rows = []
    for n_bins, what in ((128, "mel, 128 bands (lab 3)"), (140, "fused, 140 rows (lab 4)")):
        r = compare(n_bins, steps)
        rows += [(f"training step, batch 32 x 128 frames, {what}: s", *r["train"]),
                 (f"evaluation batch, 128 windows of 128 frames, {what}: s", *r["eval"])]
        rows.append((f"largest output difference, {what}, relative", r["rel_diff"], None))
    lines = ["## The lab's CNN on the CPU: channels-last image against NCHW", "", __doc__.split("\n\n", 1)[1], "",
             f"Median over {steps} steps each, taken in turn.", "",
             "| measure | labkit (channels-last) | reference (NCHW) | labkit / reference |", "|---|---|---|---|"]
    for m, x, r in rows:
        lines.append(f"| {m} | {x:.3f} | {r:.3f} | {x / r:.2f} |" if r is not None else f"| {m} | {x:.1e} | | |")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
              f"Python {platform.python_version()}, torch {torch.__version__}." + (" Quick mode." if a.quick else ""), ""]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines))
    print(a.out.read_text())


if __name__ == "__main__":
    main()
