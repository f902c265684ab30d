"""Run labs on a SLURM queue: dask-jobqueue submits Dask workers as SLURM jobs, `labkit.run.run_labs` sends them the labs.

    .venv/bin/python tools/slurm_labs.py --only 1 --preset tiny --jobs 2 --out runs/slurm

What a SLURMCluster needs to run labkit's labs, each set here:
- `interface`: the network interface the workers and the scheduler (this process) talk on (`lo` on one machine,
  the cluster's network such as `ib0` or `eth0` on several); the default is the one holding this host's address;
- `job_script_prologue`: the lines each job runs before its worker starts: the same Python environment, and
  LABKIT_CACHE (and LABKIT_DATA with --data-dir) exported, so every worker reads the data and the cache at the same
  path on a shared disk;
- `local_directory` and `log_directory` in a shared folder (`--shared`, default beside `--out`): the workers'
  scratch space and the jobs' logs (`slurm-<job id>.out`) where the person who submitted them can read them.
The embedded corpus is built here first, in the shared cache, so the jobs find it instead of each building it.
A report (jobs, time, each lab's status, where it ran, its metrics) is printed and written to <out>/slurm.json.
"""
from __future__ import annotations
import argparse, json, os, shutil, socket, subprocess, sys, time
from pathlib import Path


def default_interface() -> str:
    "The network interface holding this host's address (`lo` when the host name resolves to a loopback address)."
    import psutil
    try: ip = socket.gethostbyname(socket.gethostname())
    except OSError: return "lo"
    for name, addrs in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == ip for a in addrs): return name
    return "lo"


def prologue(cache:Path, data_dir:Path|None) -> list[str]:
    "The lines every SLURM job runs before its Dask worker: this Python environment, the shared cache and data."
    lines = [f"export PATH={Path(sys.executable).parent}:$PATH", f"export LABKIT_CACHE={cache}",
             f"export NUMBA_CACHE_DIR={cache / 'numba'}", "export MPLBACKEND=Agg OMP_NUM_THREADS=1"]
    if data_dir is not None: lines.append(f"export LABKIT_DATA={data_dir}")
    return lines


def slurm_cluster(jobs:int, shared:Path, cache:Path, data_dir:Path|None, interface:str, queue:str|None,
                  memory:str, walltime:str, retries:int):
    "A SLURMCluster of `jobs` one-worker jobs (one core, one lab at a time each), its scheduler in this process."
    import dask
    from dask_jobqueue import SLURMCluster
    dask.config.set({"distributed.scheduler.allowed-failures": retries})
    (shared / "logs").mkdir(parents=True, exist_ok=True)
    return SLURMCluster(queue=queue, cores=1, processes=1, memory=memory, walltime=walltime, interface=interface,
                        job_script_prologue=prologue(cache, data_dir), local_directory=str(shared / "worker-space"),
                        log_directory=str(shared / "logs"), scheduler_options={"dashboard_address": None},
                        worker_extra_args=["--nthreads", "1"])


def main(argv:list[str]|None=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/slurm", help="the run folder (summary.md, summary.json, slurm.json)")
    ap.add_argument("--preset", default="tiny", choices=["tiny", "small", "full"], help="the embedded corpus's size")
    ap.add_argument("--data-dir", default=None, help="a data root every node sees at this path (instead of the corpus)")
    ap.add_argument("--only", default=None, help="lab numbers, e.g. 1,2")
    ap.add_argument("-p", "--param", action="append", default=[], help="a lab parameter, NAME=VALUE")
    ap.add_argument("--jobs", type=int, default=1, help="SLURM jobs, one Dask worker (one lab at a time) each")
    ap.add_argument("--shared", default=None, help="a folder every node sees: workers' scratch and the jobs' logs")
    ap.add_argument("--interface", default=None, help="network interface of the scheduler and workers (default: this host's)")
    ap.add_argument("--queue", default=None, help="the SLURM partition (default: the cluster's default)")
    ap.add_argument("--memory", default="4GB", help="memory per job")
    ap.add_argument("--walltime", default="01:00:00", help="time limit per job")
    ap.add_argument("--retries", type=int, default=2, help="times a lab whose worker died is started again")
    ap.add_argument("--start-timeout", type=float, default=300, help="seconds to wait for the jobs' workers")
    args = ap.parse_args(argv)
    try: import dask_jobqueue  # noqa: F401
    except ImportError:
        print('slurm_labs: needs dask-jobqueue: pip install "labkit[dask]"', file=sys.stderr); return 2
    if shutil.which("sbatch") is None:
        print("slurm_labs: sbatch not found: run this on a SLURM login node (tools/slurm_up.sh starts one here)", file=sys.stderr)
        return 2
    from distributed import Client
    from labkit.core.cache import cache_dir
    from labkit.run.labs import run_labs
    from labkit.run.params import parse_param
    from labkit.synth import data_root

    out = Path(args.out).expanduser().absolute()
    shared = Path(args.shared).expanduser().absolute() if args.shared else out.parent / f".{out.name}-slurm"
    cache = cache_dir().absolute()
    data_dir = Path(args.data_dir).expanduser().absolute() if args.data_dir else None
    if data_dir is None: print(f"corpus: {data_root(preset=args.preset)}", flush=True)   # built here, once, in the shared cache
    interface = args.interface or default_interface()
    only = [int(x) for x in args.only.split(",")] if args.only else None
    t0 = time.monotonic()
    cluster = slurm_cluster(args.jobs, shared, cache, data_dir, interface, args.queue, args.memory, args.walltime, args.retries)
    try:
        print(f"scheduler {cluster.scheduler_address} on {interface}; job script:\n{cluster.job_script()}", flush=True)
        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            client.wait_for_workers(args.jobs, timeout=args.start_timeout)
            job_ids = sorted(getattr(j, "job_id", None) or "?" for j in cluster.workers.values())
            started = time.monotonic()
            print(f"{args.jobs} SLURM job(s) running as Dask workers after {started - t0:.0f} s: {', '.join(job_ids)}", flush=True)
            results = run_labs(out, preset=args.preset, only=only, params=dict(parse_param(p) for p in args.param), data_dir=data_dir,
                               scheduler=cluster.scheduler_address)
        report = dict(jobs=job_ids, interface=interface, scheduler=cluster.scheduler_address,
                      start_s=round(started - t0, 1), labs_s=round(time.monotonic() - started, 1),
                      labs=[{k: r.get(k) for k in ("name", "status", "seconds", "worker", "attempts", "metrics", "error")}
                            for r in results])
    finally:
        cluster.close()
    (out / "slurm.json").write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))
    return 0 if all(r["status"] in ("ok", "skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
