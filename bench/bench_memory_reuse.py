"""What keeping freed memory saves when training on the CPU (`labkit.train.keep_freed_memory`).

labkit: glibc's malloc told to serve blocks up to 1 GB from its heap and not to trim the heap, so the large tensors of
one batch reuse the memory the previous batch freed; `get_device` does this, so every `fit` and `evaluate` gets it.
Reference: malloc as it comes. The reference processes run with `GLIBC_TUNABLES=glibc.malloc.perturb=0` (glibc's own
default value, so malloc behaves as without it), which labkit reads as "malloc is tuned by the user" and leaves alone.
Both in fresh processes, alternately, in the same run:

- lab 4's CNN (`create_model('cnn', n_targets=1)`) on batches of 32 windows of 128 frames x 140 bins (random values of
  that shape): training steps (forward, backward, Adam), then evaluation batches; wall, user and system seconds,
  median over the repeats;
- `labkit lab --only 4 --preset small` once each way: the lab's own seconds (skipped with --quick)."""
import argparse, json, os, platform, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

from labkit.train.device import _MALLOC_ENV

HERE = Path(__file__).resolve().parent
REFERENCE_ENV = {"GLIBC_TUNABLES": "glibc.malloc.perturb=0"}


def child(steps: int) -> dict:
    "Train and evaluate the CNN for `steps` batches each in this process; its seconds (wall, user, system)."
    import torch
    from labkit.models import create_model
    from labkit.train import get_device, keep_freed_memory
    get_device("cpu")                                           # as fit does: keeps freed memory unless malloc is tuned
    torch.manual_seed(0)
    model, x, y = create_model("cnn", n_targets=1), torch.randn(32, 128, 140), torch.randn(32, 1)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    def step():
        loss = torch.nn.functional.mse_loss(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    step()                                                      # warm-up: first-call costs out of the measurement
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    model.train()
    for _ in range(steps): step()
    model.eval()
    with torch.no_grad():
        for _ in range(steps): model(torch.cat([x] * 4))        # evaluation: 4 windows per clip
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return dict(kept=keep_freed_memory(), wall=time.perf_counter() - t0, user=r1.ru_utime - r0.ru_utime, sys=r1.ru_stime - r0.ru_stime)


def run_child(steps: int, reference: bool) -> dict:
    "One fresh process of `child`."
    env = {**os.environ, **(REFERENCE_ENV if reference else {})}
    for k in _MALLOC_ENV: env.pop(k, None)                      # settings that would make labkit leave malloc alone
    if not reference and "malloc" in env.get("GLIBC_TUNABLES", ""): env.pop("GLIBC_TUNABLES")
    r = subprocess.run([sys.executable, __file__, "--child", str(steps)], env=env, capture_output=True, text=True, check=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["kept"] == (not reference), res                  # each side ran the way it says
    return res


def lab_seconds(out: Path, reference: bool) -> float:
    "Seconds `labkit lab --only 4 --preset small` reports for the lab."
    env = {**os.environ, **(REFERENCE_ENV if reference else {})}
    subprocess.run([str(Path(sys.executable).parent / "labkit"), "lab", "--only", "4", "--preset", "small", "--out", str(out)],
                   env=env, check=True, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())[0]["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats, no lab run")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "memory_reuse.md")
    a = ap.parse_args()
    if a.child is not None: print(json.dumps(child(a.child))); return
    steps, repeats = (3, 1) if a.quick else (10, 3)
    runs = {"labkit": [], "reference": []}
    for _ in range(repeats):
        for name in runs: runs[name].append(run_child(steps, name == "reference"))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall", "user", "sys")} for name, rs in runs.items()}
    rows = [(f"CNN, {steps} training + {steps} evaluation batches: {what}", med["labkit"][k], med["reference"][k])
            for k, what in (("wall", "wall s"), ("sys", "system s"), ("user", "user s"))]
    if not a.quick:
        with tempfile.TemporaryDirectory(prefix="labkit-memory-") as tmp:
            ref = lab_seconds(Path(tmp) / "reference", True)
            mine = lab_seconds(Path(tmp) / "labkit", False)
        rows.append(("lab 4 (`labkit lab --only 4 --preset small`), s", mine, ref))
    lines = ["## Training on the CPU: freed memory kept for the next batch", "", __doc__.split("\n\n", 1)[1], "",
             f"Median over {repeats} fresh process(es) each for the CNN rows.", "",
             "| measure | labkit (freed memory kept) | reference (malloc as it comes) | labkit / reference |", "|---|---|---|---|"]
    lines += [f"| {m} | {x:.2f} | {r:.2f} | {x / r:.2f} |" if r > 0 else f"| {m} | {x:.2f} | {r:.2f} | |" for m, x, r in rows]
    import torch
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
              f"Python {platform.python_version()}, torch {torch.__version__}, glibc {platform.libc_ver()[1]}."
              + (" Quick mode." if a.quick else ""), ""]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines))
    print(a.out.read_text())


if __name__ == "__main__":
    main()
