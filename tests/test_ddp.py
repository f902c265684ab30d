"""fit under DistributedDataParallel on the CPU (gloo), 2 processes started as torchrun would (WORLD_SIZE, RANK,
MASTER_ADDR in the environment): the same weights as one process with twice the batch, a run killed after
epoch 2 (or 3, with dropout and random augmentation in every process) and resumed ends exactly where the
uninterrupted one does, and the README's torchrun script gives the same weights twice."""
import importlib.util, os, random, re, shutil, socket, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pytest, torch
import torch.multiprocessing as mp
from labkit.models import create_model
from labkit.train import fit, load_checkpoint, make_loader

B, EPOCHS, TOL = 4, 4, 1e-5    # batch per process; weights agree within TOL (float sums in another order; no dropout)


def clips(n, seed):
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        x = torch.randn(int(torch.randint(3, 13, (1,), generator=g)), 6, generator=g)
        items.append((x, (x[:, 0].mean() > 0).long(), len(x)))
    return items


def accuracy(targets, preds): return {"accuracy": float((preds.argmax(1) == targets).mean())}


class Jittered(torch.utils.data.Dataset):
    "Clips with noise from torch, numpy and python's generators, one draw per frame: each process's draws differ."
    def __init__(self, items): self.items = items
    def __len__(self): return len(self.items)
    def __getitem__(self, i):
        x, y, n = self.items[i]
        noise = torch.randn_like(x) + torch.from_numpy(np.random.normal(size=x.shape)).float()
        return x + 0.1 * noise * torch.tensor([random.random() for _ in range(n)])[:, None], y, n


def train(out_dir, batch_size, noisy=False, **kw):
    "The same run in every process: data, model and loaders seeded alike; fit shards them when distributed."
    torch.manual_seed(0)
    model = create_model("lstm", input_dim=6, hidden_size=8, num_layers=2 if noisy else 1,  # noisy: random masks
                         dropout=0.3 if noisy else 0.0, n_classes=2)
    train_set = Jittered(clips(48, 1)) if noisy else clips(48, 1)
    train_dl = make_loader(train_set, batch_size, shuffle=True, seed=2)         # 48 = 6 steps of 8 clips
    val_dl = make_loader(clips(20, 3), batch_size, shuffle=False)
    return fit(model, train_dl, val_dl, loss_fn=torch.nn.CrossEntropyLoss(), epochs=kw.pop("epochs", EPOCHS), lr=3e-3,
               out_dir=out_dir, device="cpu", metric_fn=accuracy, progress=False, **kw)


def kill_after(epochs):
    "A callback ending the process after `epochs` epochs, once rank 0 has written last.pt, with no clean-up (as SIGKILL)."
    def cb(history):
        if len(history) == epochs:
            torch.distributed.barrier()
            os._exit(3)
    return cb


def worker(rank, world, port, jobs):
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    for out_dir, kw in jobs:
        cbs = [kill_after(kw.pop("kill"))] if "kill" in kw else []
        train(out_dir, B, callbacks=cbs, **kw)


def spawn(jobs):
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    mp.spawn(worker, args=(2, port, jobs), nprocs=2, join=True)


def weights(path): return load_checkpoint(path)["model"]


@pytest.mark.slow
def test_two_processes_match_one_with_twice_the_batch_and_resume_exactly(tmp_path):
    torch.set_num_threads(1)
    one = train(tmp_path / "one", 2 * B)                               # the reference: 1 process, batch 2B
    with pytest.raises(mp.ProcessExitedException):                    # 2 processes: a full run, then one killed
        spawn([(str(tmp_path / "two"), {}), (str(tmp_path / "killed"), dict(kill=2))])
    assert len(load_checkpoint(tmp_path / "killed" / "last.pt")["history"]) == 2
    spawn([(str(tmp_path / "killed"), dict(resume=True))])           # fresh processes resume from last.pt
    ref, two, resumed = (weights(tmp_path / d / "last.pt") for d in ("one", "two", "killed"))
    for k in ref:
        assert torch.allclose(two[k], ref[k], atol=TOL, rtol=0), (k, (two[k] - ref[k]).abs().max())
        assert torch.equal(resumed[k], two[k]), k
    hist = load_checkpoint(tmp_path / "two" / "last.pt")["history"]
    for a, b in zip(hist, one.records):              # losses and metrics reduced over both processes' items
        assert a["val_accuracy"] == b["val_accuracy"]
        np.testing.assert_allclose([a["train_loss"], a["val_loss"]], [b["train_loss"], b["val_loss"]], atol=1e-5)
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    events = [n for n in names if n.startswith("events.out.tfevents.")]  # TensorBoard's, where installed: one writer
    assert [n for n in names if n not in events] == ["best.pt", "history.csv", "history.json", "last.pt"]
    assert len(events) == (importlib.util.find_spec("tensorboard") is not None)


@pytest.mark.slow
def test_two_processes_with_their_own_random_draws_resume_bit_for_bit(tmp_path):
    "Dropout and augmentation draw a different amount in each process: each one's random state is saved and restored."
    job = dict(noisy=True, epochs=5)
    with pytest.raises(mp.ProcessExitedException):
        spawn([(str(tmp_path / "whole"), dict(job)), (str(tmp_path / "cut"), dict(job, kill=3))])
    ckpt = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert len(ckpt["history"]) == 3 and len(ckpt["rng_ranks"]) == 2
    assert not torch.equal(ckpt["rng_ranks"][0]["torch"], ckpt["rng_ranks"][1]["torch"])   # the processes differ
    spawn([(str(tmp_path / "cut"), dict(job, resume=True))])
    whole, cut = (load_checkpoint(tmp_path / d / "last.pt") for d in ("whole", "cut"))
    assert [r["train_loss"] for r in cut["history"]] == [r["train_loss"] for r in whole["history"]]
    assert [r["val_loss"] for r in cut["history"]] == [r["val_loss"] for r in whole["history"]]
    for k, v in whole["model"].items(): assert torch.equal(cut["model"][k], v), k


def readme_script():
    "The README's torchrun script (the python block that starts with '# my_training.py')."
    text = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith("# my_training.py")]
    assert len(blocks) == 1, "the README shows one my_training.py"
    return blocks[0]


def torchrun(folder, env):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "my_training.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def teardown_abort(p) -> bool:
    """Whether a torchrun ended only in torch's own teardown: both epochs done, then a process aborted at exit
    ("terminate called without an active exception", exit -6). With torch 2.14, a DistributedDataParallel wrapper keeps
    the gloo group and its three threads alive after `destroy_process_group` (shown without labkit: DDP on a Linear
    layer, deleted, then the group destroyed, leaves them running), and their teardown at exit has aborted a process
    in about one full test run in three, never in 50 runs of the script alone, loaded or not."""
    return (p.returncode != 0 and "terminate called without an active exception" in p.stderr
            and "epoch 2/2" in p.stdout and "Traceback (most recent call last)" not in p.stdout + p.stderr.split("terminate")[0])


@pytest.mark.slow
def test_the_readme_torchrun_script_gives_the_same_weights_twice(tmp_path):
    "Seeded before the model is built, two runs of the README's script under torchrun start and end alike."
    from labkit.synth import data_root
    script = readme_script()
    assert script.index("seed_everything(0)") < script.index("create_model(")
    assert "epochs=10" in script
    env = dict(os.environ, LABKIT_DATA=str(data_root(preset="tiny")), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "my_training.py").write_text(script.replace("epochs=10", "epochs=2"))
        p = torchrun(tmp_path / run, env)
        if teardown_abort(p):                                 # see `teardown_abort`: once, then it fails like any error
            warnings.warn(f"run {run}: gloo aborted a process at exit after the last epoch; ran it again from scratch")
            shutil.rmtree(tmp_path / run / "runs"); p = torchrun(tmp_path / run, env)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    a, b = (load_checkpoint(tmp_path / r / "runs" / "ddp_lstm" / "last.pt") for r in ("a", "b"))
    assert len(a["history"]) == 2 and len(a["rng_ranks"]) == 2
    for k, v in a["model"].items(): assert torch.equal(b["model"][k], v), k
