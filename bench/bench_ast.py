"""Audio Spectrogram Transformer: training throughput on the CPU, patch overlap, fused vs explicit attention.

Forward + backward passes (one Adam step each) of `ast_tiny` and `ast_small` (12 blocks, the paper's encoder sizes)
on random 128-band inputs of 256 and 1024 frames, at 1 and 2 torch threads. Three comparisons, each measured in the
same run against its reference:
- threads: 2 threads vs 1 (reference: 1 thread);
- patches: the paper's overlapping 10/10 strides vs non-overlapping 16/16 (reference: 16/16), patch counts shown;
- attention: `scaled_dot_product_attention` vs the explicit softmax(q kᵀ / √d) v on the same weights and input
  (reference: explicit), with the largest difference between their outputs."""
import argparse, platform, time
from pathlib import Path

import torch

from labkit.models import ASTModel, AST_SIZES


def step_time(model, x, repeats):
    "Median seconds of one forward + backward + Adam step."
    opt, times = torch.optim.Adam(model.parameters(), lr=1e-4), []
    for i in range(repeats + 1):                               # the first is a warm-up, not counted
        t0 = time.perf_counter()
        model(x).sum().backward(); opt.step(); opt.zero_grad(set_to_none=True)
        if i: times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def build(size, tdim, stride, explicit=False):
    torch.manual_seed(0)
    return ASTModel(527, input_fdim=128, input_tdim=tdim, fstride=stride, tstride=stride, explicit_attention=explicit,
                    **AST_SIZES[size])


def main(quick: bool, out: Path, batch: int = 2):
    repeats = 2 if quick else 3
    sizes = ["ast_tiny"] if quick else ["ast_tiny", "ast_small"]
    t0, rows = time.perf_counter(), []
    for size in sizes:
        for tdim in (256, 1024):
            x = torch.randn(batch, tdim, 128)
            for stride in (16, 10):
                model = build(size, tdim, stride)
                n = model.grid[0] * model.grid[1]
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    s = step_time(model, x, repeats)
                    rows.append(dict(size=size, tdim=tdim, stride=stride, patches=n, threads=threads, sec=s))
                    print(f"{size} 128x{tdim} stride {stride} ({n} patches) {threads} thread(s): {batch / s:.2f} clips/s", flush=True)
    torch.set_num_threads(2)
    attn = []
    for size in sizes:
        for tdim in (256, 1024):
            x = torch.randn(batch, tdim, 128)
            fused, explicit = build(size, tdim, 10), build(size, tdim, 10, explicit=True)
            with torch.no_grad(): diff = float((fused.eval()(x) - explicit.eval()(x)).abs().max())
            fused.train(); explicit.train()
            attn.append(dict(size=size, tdim=tdim, patches=fused.grid[0] * fused.grid[1], fused=step_time(fused, x, repeats),
                             explicit=step_time(explicit, x, repeats), diff=diff))
            print(f"attention {size} 128x{tdim}: fused {attn[-1]['fused']:.2f} s, explicit {attn[-1]['explicit']:.2f} s, max diff {diff:.1e}", flush=True)
    key = {(r["size"], r["tdim"], r["stride"], r["threads"]): r for r in rows}
    md = ["## Audio Spectrogram Transformer on the CPU", "",
          f"Forward + backward + Adam step on random 128-band inputs, batch {batch}, 12 blocks, 527 outputs; median of "
          f"{repeats} steps after one warm-up. labkit number: throughput in clips/s; reference and ratio as each table says.", "",
          "### Threads (reference: 1 thread) and patch overlap (reference: non-overlapping 16/16 strides)", "",
          "| model | input | strides | patches | 1 thread clips/s | 2 threads clips/s | ratio 2/1 threads | time vs 16/16 (2 threads) |",
          "|---|---|---|---|---|---|---|---|"]
    for (size, tdim, stride, threads), r in key.items():
        if threads != 1: continue
        two, base = key[(size, tdim, stride, 2)], key[(size, tdim, 16, 2)]
        md.append(f"| {size} | 128 x {tdim} | {stride}/{stride} | {r['patches']} | {batch / r['sec']:.2f} | {batch / two['sec']:.2f} | "
                  f"{r['sec'] / two['sec']:.2f} | {two['sec'] / base['sec']:.2f} |")
    md += ["", "### Attention: scaled_dot_product_attention vs explicit softmax(q kᵀ / √d) v (reference: explicit), 10/10 strides, 2 threads", "",
           "| model | input | patches | explicit s/step | fused s/step | speed-up fused/explicit | max output difference |",
           "|---|---|---|---|---|---|---|"]
    for a in attn:
        md.append(f"| {a['size']} | 128 x {a['tdim']} | {a['patches']} | {a['explicit']:.3f} | {a['fused']:.3f} | "
                  f"{a['explicit'] / a['fused']:.2f} | {a['diff']:.1e} |")
    md += ["", f"Took {time.perf_counter() - t0:.0f} s. Machine: {platform.machine()}, {torch.get_num_threads()} torch threads "
           f"available, Python {platform.python_version()}, torch {torch.__version__}.{' Quick mode (ast_tiny only).' if quick else ''}", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="ast_tiny only, fewer repeats (a few minutes)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ast.md")
    a = ap.parse_args()
    main(a.quick, a.out)
