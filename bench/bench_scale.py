"""Scale: (1) 8 tiny toy notebook runs on a Dask LocalCluster of 2 worker processes against the same 8 runs one after
another (labkit.run.many, same run of the benchmark): wall time ratio and overhead per run; (2) fit with
DistributedDataParallel on 2 CPU processes (gloo, batch B each) against 1 process (batch 2B): samples/s and the largest
weight difference."""
import argparse, os, platform, shutil, socket, sys, tempfile, time
from pathlib import Path

import nbformat, torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import test_ddp as ddp                       # the DDP toy run (one home: the tests)
from labkit.run.many import NotebookRun, run_many
from labkit.train import load_checkpoint


def toy(path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nout_dir = 'out'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib, numpy as np\nout = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)\n"
                                          "a = np.random.default_rng(x).normal(size=(300, 300))\n"
                                          "json.dump({'trace': round(float(np.trace(a @ a)), 2)}, open(out / 'metrics.json', 'w'))")]
    nbformat.write(nb, path); return path


def sweep_part(tmp: Path, n: int):
    nb = toy(tmp / "toy.ipynb")
    runs = lambda tag: [NotebookRun(nb, tmp / tag / f"r{k}.ipynb", {"x": k}, collect=tmp / tag / f"r{k}", cell_timeout=300,
                                    timeout=600) for k in range(n)]
    t0 = time.perf_counter(); seq = run_many(runs("seq"), scheduler="processes", jobs=1, progress=False); t_seq = time.perf_counter() - t0
    t0 = time.perf_counter(); par = run_many(runs("dask"), scheduler="local:2", progress=False); t_dask = time.perf_counter() - t0
    assert all(r["status"] == "ok" for r in seq + par) and [r["metrics"] for r in seq] == [r["metrics"] for r in par]
    return t_seq, t_dask


def ddp_worker(rank, world, port, out_dir, epochs):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1); ddp.EPOCHS = epochs
    ddp.train(out_dir, ddp.B)


def ddp_part(tmp: Path, epochs: int):
    torch.set_num_threads(1); ddp.EPOCHS = epochs
    ddp.train(tmp / "one", 2 * ddp.B)
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    mp.spawn(ddp_worker, args=(2, port, str(tmp / "two"), epochs), nprocs=2, join=True)
    a, b = load_checkpoint(tmp / "one" / "last.pt"), load_checkpoint(tmp / "two" / "last.pt")
    rate = lambda c: 48 * epochs / sum(r["time"] for r in c["history"])        # training samples per second (fit's own epoch times)
    diff = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"])
    return rate(a), rate(b), diff


def main(quick: bool):
    n, epochs = (8, 3) if quick else (8, 10)
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-scale-"))
    try:
        load0 = os.getloadavg()[0]
        t_seq, t_dask = sweep_part(tmp, n)
        one, two, diff = ddp_part(tmp, epochs)
        load1 = os.getloadavg()[0]
    finally: shutil.rmtree(tmp, ignore_errors=True)
    over = t_dask * 2 / n - t_seq / n     # per run, on a worker, beyond what the same run costs alone (cluster start included)
    md = [f"## Scale: many notebook runs on Dask, one training run on 2 processes (DDP)", "",
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}; "
          f"load average {load0:.1f} before, {load1:.1f} after"
          + (": **the machine was shared with other jobs**, so times are noisy." if load0 > 1.5 or load1 > 1.5 else " (a quiet machine).")
          , "",
          f"| what | reference (same run) | labkit | speed-up (reference time / labkit time) |", "|---|---|---|---|",
          f"| {n} toy notebook runs (papermill, fresh kernel each), wall time | one after another: {t_seq:.1f} s | "
          f"LocalCluster of 2 workers (start included): {t_dask:.1f} s | {t_seq / t_dask:.2f}x |",
          f"| overhead per run on the cluster (2 x wall / runs - sequential wall / runs) | {t_seq / n:.2f} s per run alone | "
          f"{over:+.2f} s per run | |",
          f"| DDP training, samples/s (LSTM toy, 48 clips, {epochs} epochs, same total batch {2 * ddp.B}) | 1 process, batch {2 * ddp.B}: "
          f"{one:.0f} | 2 processes (gloo), batch {ddp.B} each: {two:.0f} | {two / one:.2f}x |",
          f"| DDP result | | largest weight difference to the 1-process run: {diff:.1e} | |", "",
          "On 2 cores, 2 workers can at best halve the wall time; a tiny model gains nothing from DDP on a CPU (the "
          "all-reduce per step costs more than the step): DDP is for models and batches that fill a device.", ""]
    out = ROOT / "bench" / "results" / "scale.md"
    out.write_text("\n".join(md)); print("\n".join(md))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
