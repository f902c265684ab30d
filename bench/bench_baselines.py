"""Every lab's networks against its pooled linear baseline, on the default preset, over seeds.

A network earns its place in a lab when it scores above what a linear model reads off each clip's average spectrum
(`labkit.metrics.linear_baseline`: per-band mean and std pooled over the clip, logistic or ridge regression). Every
lab that trains writes the comparison into its `metrics.json` as `vs_baseline` rows (model, metric, score, the
baseline's score on the same clips); the labs' own tables show one seed. This benchmark runs the labs as `make lab` does
(`labkit lab`, the `small` preset) once per seed and gathers those rows:

- per lab, the network furthest above its own baseline (or least below it) on the lab's headline metric (accuracy for
  genres and domains, mAP for tags, the mean of the Spearman correlations it scores for affect), mean (min..max) over
  the seeds, and in how many seeds it is above;
- every network of every lab, the same way;
- lab 8's mean transfer gain (transfer minus scratch, over its ordered domain pairs) per target fraction, per seed:
  what its `metrics.json` reports as `mean_gain`; the reference is 0, no gain;
- lab 9's gain of the started transformer over the one trained from scratch (`start_gain`), frozen and fine-tuned, per
  seed; the reference is 0.

The reference is the baseline each lab fits in the same run on the same clips; it has no seed of its own except where
the lab's split depends on the seed. `--runs DIR ...` reads run folders made earlier (e.g. by `make lab`) instead of
running the labs."""
import argparse, json, platform, subprocess, sys, tempfile, time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def lab_run(out: Path, preset: str, seed: int) -> Path:
    "One `labkit lab` run of every lab with `seed`; its folder."
    labkit = Path(sys.executable).parent / "labkit"
    r = subprocess.run([str(labkit), "lab", "--preset", preset, "--out", str(out), "-p", f"seed={seed}"], text=True)
    if not (out / "summary.json").exists(): raise SystemExit(f"labkit lab wrote no summary in {out} (exit {r.returncode})")
    return out


def headline(rows: list) -> tuple[str, dict]:
    "The lab's headline metric and each model's (score, baseline) on it: the mean over the Spearman axes for affect."
    by_model = defaultdict(dict)
    for r in rows:
        if r["value"] is not None and r["baseline"] is not None:    # a score the lab could not compute is left out
            by_model[r["model"]][r["metric"]] = (float(r["value"]), float(r["baseline"]))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    if len(metrics) > 1 and all(m.startswith("spearman_") for m in metrics):
        return "mean Spearman", {k: tuple(np.mean([v[m] for m in metrics if m in v], axis=0)) for k, v in by_model.items()}
    return metrics[0], {k: v[metrics[0]] for k, v in by_model.items() if metrics[0] in v}


def gather(runs: list) -> dict:
    "{lab: {'metric', 'scores': {model: [(score, baseline) per seed]}, 'failed': [seeds], 'why'}} from the runs' summaries."
    labs = {}
    for seed, run in enumerate(runs):
        for lab in json.loads((Path(run) / "summary.json").read_text()):
            entry = labs.setdefault(lab["name"], dict(metric=None, scores=defaultdict(list), failed=[], why=None))
            rows = (lab.get("metrics") or {}).get("vs_baseline")
            if lab["status"] != "ok": entry["failed"].append(seed); entry["why"] = lab["status"]; continue
            if not rows: entry["why"] = "trains no network to compare"; continue
            entry["metric"], scores = headline(rows)
            for model, pair in scores.items(): entry["scores"][model].append(pair)
    return labs


def spread(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    return f"{xs.mean():.3f} ({xs.min():.3f}..{xs.max():.3f})" if len(xs) > 1 else f"{xs.mean():.3f}"


def table(labs: dict) -> str:
    "The two markdown tables: each lab's best network, then every network."
    best = ["| lab | metric | best network (largest margin) | its score | pooled baseline | difference | above in |", "|---|---|---|---|---|---|---|"]
    every = ["| lab | network | metric | score | pooled baseline | difference | above in |", "|---|---|---|---|---|---|---|"]
    for name, e in labs.items():
        if not e["scores"]:
            best.append(f"| {name} | | {e['why'] or 'failed'} | | | | |"); continue
        pairs = {m: np.asarray(v, dtype=float) for m, v in e["scores"].items()}
        for m, p in pairs.items():
            every.append(f"| {name} | {m} | {e['metric']} | {spread(p[:, 0])} | {spread(p[:, 1])} | {np.mean(p[:, 0] - p[:, 1]):+.3f} "
                         f"| {int((p[:, 0] > p[:, 1]).sum())} of {len(p)} |")
        top = max(pairs, key=lambda m: (pairs[m][:, 0] - pairs[m][:, 1]).mean())   # each beside its own baseline (lab 8: its domain's)
        p = pairs[top]
        failed = f" ({len(e['failed'])} seed(s) failed)" if e["failed"] else ""
        best.append(f"| {name} | {e['metric']} | {top}{failed} | {spread(p[:, 0])} | {spread(p[:, 1])} | {np.mean(p[:, 0] - p[:, 1]):+.3f} "
                    f"| {int((p[:, 0] > p[:, 1]).sum())} of {len(p)} |")
    return "\n".join(["### Each lab's best network", "", *best, "", "### Every network", "", *every])


def per_run(runs: list, lab: str, key: str) -> list:
    "The `key` entry of lab `lab`'s metrics in each run (an empty dict where the lab did not write it)."
    return [next(((r.get("metrics") or {}).get(key) or {} for r in json.loads((Path(run) / "summary.json").read_text())
                  if r["name"].startswith(lab)), {}) for run in runs]


def gain_table(per: list, seeds: list, title: str, note: str, row_name: str, rows: list, label) -> str:
    "One row per entry of `rows`: its value in each run, their mean, and in how many runs it is above 0."
    if not rows: return ""
    names = [f"seed {s}" for s in seeds] if seeds is not None else [f"run {i + 1}" for i in range(len(per))]
    lines = [f"### {title}", "", note, "", f"| {row_name} | " + " | ".join(names) + " | mean | above 0 in |", "|---" * (len(names) + 3) + "|"]
    for k in rows:
        g = np.array([p.get(k, np.nan) for p in per], dtype=float)
        lines.append(f"| {label(k)} | " + " | ".join(f"{v:+.3f}" for v in g) + f" | {np.nanmean(g):+.3f} | {int((g > 0).sum())} of {len(g)} |")
    return "\n\n" + "\n".join(lines)


def transfer_gains(runs: list, seeds: list) -> str:
    "Lab 8's mean transfer gain per target fraction, one column per seed, and their mean."
    per = per_run(runs, "08_", "mean_gain")
    return gain_table(per, seeds, "Lab 8: transfer gain", "Transfer minus scratch test accuracy, the mean over the lab's ordered domain "
                      "pairs (nothing frozen), per target fraction; reference: 0, no gain.", "target fraction",
                      sorted({f for g in per for f in g}, key=float), lambda f: f"{float(f):.0%}")


def start_gains(runs: list, seeds: list) -> str:
    "Lab 9's gain of the started transformer over the one trained from scratch, frozen and fine-tuned, one column per seed."
    per = per_run(runs, "09_", "start_gain")
    return gain_table(per, seeds, "Lab 9: the transformer's start", "Test mAP of AST-tiny started from tagging the genre clips, minus "
                      "AST-tiny trained from scratch on the same tagging clips; reference: 0, no gain.", "started transformer",
                      [k for k in ("frozen", "fine-tuned") if any(k in p for p in per)], str)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the tiny preset and one seed (a check that the benchmark runs)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to run (default 0 1 2; --quick: 0); with --runs, the seeds they were run with")
    ap.add_argument("--runs", type=Path, nargs="+", default=None, help="read these run folders (one per seed, made with this preset) instead of running the labs")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "baselines.md")
    a = ap.parse_args()
    preset = "tiny" if a.quick else "small"
    t0 = time.perf_counter()
    if a.runs: runs, seeds = a.runs, a.seeds
    else:
        seeds = a.seeds or ([0] if a.quick else [0, 1, 2])
        tmp = Path(tempfile.mkdtemp(prefix="labkit-baselines-"))
        runs = [lab_run(tmp / f"seed{s}", preset, s) for s in seeds]
    labs = gather(runs)
    head = (f"## Every lab's networks against its pooled baseline\n\n"
            + (f"`labkit lab --preset {preset} -p seed=S` for seeds {seeds}" if seeds is not None else f"{len(runs)} runs of `labkit lab --preset {preset}`")
            + "; each lab's `vs_baseline` rows from its `metrics.json`. Score and baseline: mean (min..max) over the seeds; "
              "difference: mean of score minus baseline; above in: seeds where the network scores above its baseline. Affect "
              "labs: the mean of the Spearman correlations a lab scores (valence, energy, danceability; lab 5: one of them). A lab without rows trains no "
              "network to compare (lab 1 explores, lab 7 reads a trained one).\n\n")
    lab_time = sum(lab["seconds"] or 0 for run in runs for lab in json.loads((Path(run) / "summary.json").read_text()))
    took = f"Took {time.perf_counter() - t0:.0f} s" if not a.runs else "Read from the run folders"
    foot = (f"\n\n{took}; the labs ran {lab_time / 60:.0f} min in all ({lab_time / 60 / len(runs):.1f} min per run). Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"Python {platform.python_version()}, torch {torch.__version__}." + (" Quick mode (tiny preset)." if a.quick else "") + "\n")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(head + table(labs) + transfer_gains(runs, seeds) + start_gains(runs, seeds) + foot)
    print(a.out.read_text())


if __name__ == "__main__":
    main()
