"""Training loop: exact resume after an interruption (in process and after a SIGKILL), checkpoints, early stopping,
progress. (Overfitting one batch has its home in nbs/06_train/11_loop.ipynb.)"""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest, torch
from torch import nn
from labkit.core import LabkitError
from labkit.data import SpectrogramDataset
from labkit.models import create_model
from labkit.train import (History, evaluate, fit, get_device, load_checkpoint, load_model, make_loader, predict,
                          progress_mode, seed_everything)
from conftest import assert_same_weights, without_times


pytestmark = pytest.mark.usefixtures("one_thread")  # bit-exact comparisons: one intra-op thread (conftest.py)


def clips(n=40, F=6, seed=0, task='class'):
    "Random (x, y, length) items of 3..16 frames; the class is the sign of feature 0's mean."
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        x = torch.randn(int(torch.randint(3, 17, (1,), generator=g)), F, generator=g)
        y = (x[:, 0].mean() > 0).long() if task == 'class' else torch.stack([x[:, 0].mean(), x[:, 1].mean()])
        items.append((x, y, len(x)))
    return items


class WeightedMSE(nn.Module):
    "A loss with a learned parameter, an epoch hook and extra logged terms (exercises every loss_fn feature)."
    def __init__(self):
        super().__init__(); self.log_w = nn.Parameter(torch.zeros(2)); self.calls = 0
        self.register_buffer('epochs_seen', torch.zeros((), dtype=torch.long))
    def forward(self, out, y):
        per = ((out - y) ** 2).mean(0)
        return (per * torch.exp(-self.log_w)).sum() + self.log_w.sum(), {'a': per[0].item(), 'b': per[1].item()}
    def on_epoch_end(self):
        self.epochs_seen += 1
        return {'epochs_seen': int(self.epochs_seen)}


def run(out_dir, epochs=6, interrupt_after=None, resume=False, bucket=True):
    seed_everything(123)
    model = create_model('lstm', input_dim=6, hidden_size=8, n_targets=2, dropout=0.3)
    loss_fn = WeightedMSE()
    items = clips(40, task='reg')
    train_dl, val_dl = make_loader(items[:30], 8, bucket=bucket, seed=7), make_loader(items[30:], 8, shuffle=False)
    def interrupt(history):
        if len(history) == interrupt_after: raise KeyboardInterrupt
    h = fit(model, train_dl, val_dl, loss_fn=loss_fn, epochs=epochs, lr=3e-3, out_dir=out_dir, resume=resume,
            scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 2, 0.5), callbacks=[interrupt],
            progress=False, device='cpu')
    return model, loss_fn, h


@pytest.mark.parametrize('bucket', [True, False])
def test_resume_after_interruption_is_exact(tmp_path, bucket):
    ref_model, ref_loss, ref_h = run(tmp_path / 'ref', bucket=bucket)
    with pytest.raises(KeyboardInterrupt): run(tmp_path / 'cut', interrupt_after=3, bucket=bucket)
    assert load_checkpoint(tmp_path / 'cut' / 'last.pt')['epoch'] == 3
    model, loss_fn, h = run(tmp_path / 'cut', resume=True, bucket=bucket)
    assert without_times(h) == without_times(ref_h) and len(h) == 6
    assert_same_weights(model, ref_model); assert_same_weights(loss_fn, ref_loss)
    assert int(loss_fn.epochs_seen) == 6 and h['epochs_seen'] == [1, 2, 3, 4, 5, 6] and h['lr'] == [3e-3, 3e-3, 1.5e-3, 1.5e-3, 7.5e-4, 7.5e-4]
    assert {'train_a', 'train_b', 'val_a', 'val_b'} <= set(h[0])
    # a finished run resumed again does no more work
    model2, _, h2 = run(tmp_path / 'cut', resume=True, bucket=bucket)
    assert without_times(h2) == without_times(ref_h); assert_same_weights(model2, ref_model)


KILLED_RUN = textwrap.dedent('''
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    import test_train as t
    torch.set_num_threads(1)
    state = {{'hang': False, 'batches': 0}}
    class HangingMSE(t.WeightedMSE):
        def forward(self, out, y):
            if state['hang']:
                state['batches'] += 1
                if state['batches'] == 2:                     # in the middle of epoch 4
                    open({flag!r}, 'w').close(); time.sleep(600)
            return super().forward(out, y)
    t.WeightedMSE = HangingMSE
    orig_fit = t.fit
    def fit(*a, callbacks=(), **kw):
        def arm(h):
            if len(h) == 3: state['hang'] = True
        return orig_fit(*a, callbacks=[arm], **kw)
    t.fit = fit
    t.run({out!r})
''')


@pytest.mark.slow  # a training process of its own, killed, then two runs
def test_resume_after_sigkill_mid_epoch_is_exact(tmp_path):
    "A separate process is killed with SIGKILL in the middle of epoch 4; resuming from last.pt ends where an uninterrupted run does."
    flag, out = tmp_path / 'hanging', tmp_path / 'killed'
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), flag=str(flag), out=str(out))
    proc = subprocess.Popen([sys.executable, '-c', script], env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        guard = time.monotonic() + 600                             # only stops the wait if the process hangs
        while not flag.exists() and proc.poll() is None and time.monotonic() < guard: time.sleep(0.05)
        assert flag.exists() and proc.poll() is None, f'training process ended ({proc.poll()}) or hung before epoch 4'
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None: proc.kill()
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    assert not list(out.glob('*.tmp')) and load_checkpoint(out / 'last.pt')['epoch'] == 3
    ref_model, ref_loss, ref_h = run(tmp_path / 'ref')
    model, loss_fn, h = run(out, resume=True)
    assert without_times(h) == without_times(ref_h)
    assert_same_weights(model, ref_model); assert_same_weights(loss_fn, ref_loss)


def test_checkpoints_history_and_early_stopping(tmp_path):
    seed_everything(0)
    model = create_model('lstm', input_dim=6, hidden_size=8, n_classes=2)
    items = clips(48)
    # lr so high that the validation loss soon stops improving
    h = fit(model, make_loader(items[:32], 8), make_loader(items[32:], 8, shuffle=False), loss_fn=nn.CrossEntropyLoss(),
            epochs=40, lr=0.3, patience=2, out_dir=tmp_path, progress=False, device='cpu')
    assert len(h) < 40
    best = h.best()
    assert h['val_loss'][-3] == best['val_loss'] and all(v >= best['val_loss'] for v in h['val_loss'][-2:])
    raw = torch.load(tmp_path / 'best.pt', weights_only=True)      # plain containers only
    assert raw['epoch'] == best['epoch'] and raw['optimizer']['state'] and raw['rng']['loaders']
    last = torch.load(tmp_path / 'last.pt', weights_only=True)
    assert last['epoch'] == len(h) and last['stopped'] and last['history'] == h.records
    assert json.loads((tmp_path / 'history.json').read_text()) == h.records
    assert (tmp_path / 'history.csv').read_text().splitlines()[0].split(',') == ['epoch', 'train_loss', 'val_loss', 'lr', 'time']
    assert History.load(tmp_path).records == h.records and not list(tmp_path.glob('*.tmp'))
    best_model = load_model(tmp_path / 'best.pt')
    torch.testing.assert_close(best_model.state_dict(), raw['model'])


def test_evaluate_predict_multihead_and_unlabeled():
    seed_everything(0)
    model = create_model('cnn', channels=(4, 4, 4, 4), heads={'valence': 1, 'energy': 1})
    items = [(x, {'valence': y[:1], 'energy': y[1:]}, n) for x, y, n in clips(10, task='reg')]
    from labkit.data import collate_padded
    def collate(batch):
        x, _, lengths = collate_padded([(x, torch.zeros(1), n) for x, _, n in batch])
        return x, {k: torch.stack([b[1][k] for b in batch]) for k in ('valence', 'energy')}, lengths
    dl = make_loader(items, 4, shuffle=False, collate_fn=collate)
    loss_fn = lambda out, y: sum(nn.functional.mse_loss(out[k], y[k]) for k in out)
    res = evaluate(model, dl, loss_fn, device='cpu', embeddings=True)
    assert res['preds']['valence'].shape == (10, 1) and res['targets']['energy'].shape == (10, 1)
    assert res['embeddings'].shape == (10, 16) and res['lengths'].tolist() == [n for _, _, n in items]
    assert res['loss'] > 0
    unlabeled = make_loader([(x, torch.tensor(-1), n) for x, _, n in clips(6)], 4, shuffle=False)
    clf = create_model('lstm', input_dim=6, hidden_size=4, n_classes=3)
    assert predict(clf, unlabeled, device='cpu').shape == (6, 3)


def test_fit_on_the_real_layout(lab_root, tmp_path):
    "SpectrogramDataset -> bucketed loader -> fit -> evaluate, on beat-synced fused fixture files."
    ds = SpectrogramDataset(lab_root, beat=True, feature='fused', verbose=False)
    model = create_model('lstm', input_dim=140, hidden_size=8, n_classes=len(ds.classes))
    h = fit(model, make_loader(ds, 8, bucket=True), make_loader(ds, 8, shuffle=False), loss_fn=nn.CrossEntropyLoss(),
            epochs=2, out_dir=tmp_path, progress=False, device='cpu')
    assert len(h) == 2 and np.isfinite(h['val_loss']).all()
    assert evaluate(model, make_loader(ds, 8, shuffle=False), device='cpu')['targets'].tolist() == list(ds.targets)


def test_progress_lines(capsys, monkeypatch):
    items = clips(16)
    def go(**kw):
        seed_everything(0)
        fit(create_model('lstm', input_dim=6, hidden_size=4, n_classes=2), make_loader(items, 4),
            make_loader(items, 8, shuffle=False), loss_fn=nn.CrossEntropyLoss(), epochs=3, device='cpu', **kw)
        return capsys.readouterr().out.splitlines()
    lines = go(progress='line')
    assert len(lines) == 3 and lines[0].startswith('epoch 1/3  train_loss') and 'val_loss' in lines[0]
    untimed = lambda ls: [l.rsplit('  ', 1)[0] for l in ls]
    assert untimed(go(progress='bar')) == untimed(lines)  # the live bar goes to stderr and clears itself; the lines stay
    assert go(progress=False) == []
    monkeypatch.setenv('LABKIT_PROGRESS', 'none')
    assert progress_mode(True) == 'none' and go() == []
    monkeypatch.setenv('LABKIT_PROGRESS', '')
    assert progress_mode(True) == 'line'            # pytest's stdout is not a terminal or a notebook front end


def test_errors_that_teach(tmp_path):
    with pytest.raises(LabkitError, match='does not exist'): load_checkpoint(tmp_path / 'nope.pt')
    (tmp_path / 'bad.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(LabkitError, match='could not be loaded'): load_checkpoint(tmp_path / 'bad.pt')
    with pytest.raises(LabkitError, match='needs out_dir'):
        fit(create_model('lstm', input_dim=6, hidden_size=4, n_classes=2), make_loader(clips(4), 2),
            loss_fn=nn.CrossEntropyLoss(), epochs=1, resume=True, progress=False)
    nan_items = [(torch.full((4, 6), float('nan')), torch.tensor(0), 4)] * 4
    with pytest.raises(LabkitError, match='became nan'):
        fit(create_model('lstm', input_dim=6, hidden_size=4, n_classes=2), make_loader(nan_items, 2),
            loss_fn=nn.CrossEntropyLoss(), epochs=1, progress=False, device='cpu')
    if not torch.cuda.is_available():
        with pytest.raises(LabkitError, match='no CUDA'): get_device('cuda')
        assert get_device('auto').type in ('cpu', 'mps')


# ---------------------------------------------------------------- reliability: lost work, safe writes, clear errors
import errno
from labkit.train import save_checkpoint


def small(d=None, hidden_size=8, n=32, **kw):
    "Two quick epochs of a tiny classifier, into `d` when given."
    seed_everything(0)
    model = create_model('lstm', input_dim=6, hidden_size=hidden_size, n_classes=2)
    kw = dict(epochs=2, lr=1e-2, progress=False, device='cpu', loss_fn=nn.CrossEntropyLoss()) | kw
    return fit(model, make_loader(clips(n), 8), out_dir=d, **kw)


def test_a_second_run_never_replaces_the_first(tmp_path, capsys):
    small(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {n for n in files if not n.startswith('events.out.tfevents.')} == {'best.pt', 'last.pt', 'history.json', 'history.csv'}
    with pytest.raises(LabkitError) as e: small(tmp_path, epochs=3)
    msg = str(e.value)
    assert str(tmp_path) in msg and 'resume=True' in msg and 'new out_dir' in msg and 'overwrite=True' in msg
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files            # nothing touched
    # a folder holding only part of a run (e.g. a history) is protected too, also against resume=True
    (tmp_path / 'last.pt').unlink()
    with pytest.raises(LabkitError, match='no last.pt'): small(tmp_path, resume=True)
    # resuming from another run's checkpoint into this folder would replace it as well
    small(tmp_path / 'other')
    with pytest.raises(LabkitError, match='overwrite=True'): small(tmp_path, epochs=3, resume=tmp_path / 'other' / 'last.pt')
    with pytest.raises(LabkitError, match='contradict'): small(tmp_path / 'other', resume=True, overwrite=True)
    h = small(tmp_path, epochs=3, overwrite=True, progress='line')
    assert 'deleted the previous run' in capsys.readouterr().out
    assert len(h) == 3 and load_checkpoint(tmp_path / 'last.pt')['epoch'] == 3 and len(History.load(tmp_path)) == 3


def test_temporary_files_are_unique_to_their_writer(tmp_path, monkeypatch):
    "Another run's half-written temporary file is never clobbered; every temp name carries the pid and a random part."
    for name in ('last.pt.tmp', 'history.json.tmp'): (tmp_path / name).write_bytes(b'another writer, half done')
    used, real_replace = [], os.replace
    monkeypatch.setattr(os, 'replace', lambda a, b: (used.append(Path(a).name), real_replace(a, b)))
    save_checkpoint({'w': torch.ones(3)}, tmp_path / 'last.pt'); save_checkpoint({'w': torch.ones(3)}, tmp_path / 'last.pt')
    History([{'epoch': 1, 'train_loss': 1.0}]).save(tmp_path)
    for name in ('last.pt.tmp', 'history.json.tmp'): assert (tmp_path / name).read_bytes() == b'another writer, half done'
    assert len(used) == 4 and len(set(used)) == 4 and all(f'.{os.getpid()}.' in n and n.endswith('.tmp') for n in used)
    assert torch.equal(load_checkpoint(tmp_path / 'last.pt')['w'], torch.ones(3))


def fill_disk_after_part(monkeypatch, exc):
    "The next file write puts half its bytes on disk, then fails with `exc` (a full disk)."
    real = os.write
    def write(fd, data):
        data = memoryview(data); real(fd, data[:max(1, len(data) // 2)]); raise exc
    monkeypatch.setattr(os, 'write', write)


FULL = [OSError(errno.ENOSPC, 'No space left on device'),
        RuntimeError('[enforce fail at inline_container.cc:664] . unexpected pos 4416 vs 4312'),
        RuntimeError('PytorchStreamWriter failed writing file data/0: file write failed')]


@pytest.mark.parametrize('exc', FULL, ids=['ENOSPC', 'torch-unexpected-pos', 'torch-file-write-failed'])
def test_disk_full_while_checkpointing_keeps_the_old_checkpoint(tmp_path, monkeypatch, exc):
    path = save_checkpoint({'w': torch.zeros(1000), 'epoch': 1}, tmp_path / 'last.pt')
    if isinstance(exc, RuntimeError):                  # torch's writer reports ENOSPC as a RuntimeError from torch.save
        real_save = torch.save
        def save(obj, f, *a, **k): real_save(obj, f, *a, **k); raise exc
        monkeypatch.setattr(torch, 'save', save)
    else: fill_disk_after_part(monkeypatch, exc)
    with pytest.raises(LabkitError) as e: save_checkpoint({'w': torch.ones(1000), 'epoch': 2}, path)
    monkeypatch.undo()
    msg = str(e.value)
    assert msg.startswith(f'no space left on device while writing {path} (') and 'MB needed' in msg and 'MB free' in msg
    assert 'choose another out_dir' in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last.pt']          # no partial temporary file
    assert load_checkpoint(path)['epoch'] == 1


def test_disk_full_while_writing_history_or_during_fit(tmp_path, monkeypatch):
    History([{'epoch': 1, 'train_loss': 1.0}]).save(tmp_path / 'h')
    fill_disk_after_part(monkeypatch, FULL[0])
    with pytest.raises(LabkitError, match=r"no space left on device while writing .*history\.json \("):
        History([{'epoch': 1, 'train_loss': 1.0}, {'epoch': 2, 'train_loss': 0.5}]).save(tmp_path / 'h')
    monkeypatch.undo()
    assert len(History.load(tmp_path / 'h')) == 1 and not list((tmp_path / 'h').glob('*.tmp'))
    # in fit: the run's last good checkpoint survives and the run can be resumed
    small(tmp_path / 'run')
    fill_disk_after_part(monkeypatch, FULL[0])
    with pytest.raises(LabkitError, match='no space left on device'): small(tmp_path / 'run', epochs=4, resume=True)
    monkeypatch.undo()
    assert not list((tmp_path / 'run').glob('*.tmp')) and load_checkpoint(tmp_path / 'run' / 'last.pt')['epoch'] == 2
    assert len(small(tmp_path / 'run', epochs=4, resume=True)) == 4


def test_resume_from_a_path_that_does_not_exist_is_an_error(tmp_path, capsys):
    with pytest.raises(LabkitError, match=r"does not exist.*resume=True.*resume=False"):
        small(tmp_path / 'new', resume=str(tmp_path / 'typo' / 'last.pt'))
    assert not (tmp_path / 'new' / 'last.pt').exists()
    with pytest.raises(LabkitError, match='does not exist'): small(None, resume=tmp_path / 'typo.pt')
    h = small(tmp_path / 'fresh', resume=True, progress='line')                 # resume=True on an empty folder: from scratch
    assert len(h) == 2 and 'starting from scratch' in capsys.readouterr().out


def sgd(p): return torch.optim.SGD(p, lr=0.1, momentum=0.9)
def step_lr(opt): return torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)
def exp_lr(opt): return torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)


class TwoWeights(nn.Module):
    "A loss with learned state, of another shape than WeightedMSE's."
    def __init__(self): super().__init__(); self.log_w = nn.Parameter(torch.zeros(3))
    def forward(self, out, y): return nn.functional.cross_entropy(out, y) + 0 * self.log_w.sum()


@pytest.mark.parametrize('first, second, match', [
    ({}, {'optimizer': sgd}, r'Adam optimizer, but this optimizer is a SGD'),
    ({}, {'hidden_size': 16}, r'different shapes: .*is \(32, 6\) in the checkpoint but \(64, 6\) here'),
    ({'scheduler': step_lr}, {'scheduler': exp_lr}, r'StepLR scheduler, but this scheduler is a ExponentialLR'),
    ({'scheduler': step_lr}, {'scheduler': None}, r'StepLR scheduler but this call has scheduler=None'),
    ({}, {'scheduler': step_lr}, r'holds no scheduler state'),
    ({}, {'loss_fn': nn.MultiMarginLoss()}, r'loss_fn CrossEntropyLoss, but this loss_fn is a MultiMarginLoss'),
    ({'loss_fn': TwoWeights()}, {'loss_fn': nn.CrossEntropyLoss()}, r'loss_fn TwoWeights, but this loss_fn is a CrossEntropyLoss'),
], ids=['optimizer', 'architecture', 'scheduler', 'scheduler-dropped', 'scheduler-added', 'loss', 'loss-module'])
def test_resuming_with_other_objects_names_the_checkpoint_and_what_differs(tmp_path, first, second, match):
    small(tmp_path, **first)
    last = (tmp_path / 'last.pt').read_bytes()
    with pytest.raises(LabkitError, match=match) as e: small(tmp_path, epochs=4, resume=True, **{**first, **second})
    assert str(tmp_path / 'last.pt') in str(e.value) and (tmp_path / 'last.pt').read_bytes() == last


def test_checkpoints_without_recorded_types_still_refuse_other_objects(tmp_path):
    "Older checkpoints have no 'types': Adam's state in SGD would be a KeyError: 'momentum' at the first step."
    small(tmp_path)
    ckpt = load_checkpoint(tmp_path / 'last.pt'); del ckpt['types']
    save_checkpoint(ckpt, tmp_path / 'last.pt')
    with pytest.raises(LabkitError, match=r"holds the state of another optimizer \(its settings lack \['dampening', 'momentum'"):
        small(tmp_path, epochs=4, resume=True, optimizer=sgd)
    seed_everything(0)
    opt_params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(LabkitError, match=r'optimizer state does not match this Adam'):
        load_checkpoint(tmp_path / 'last.pt', optimizer=torch.optim.Adam(opt_params))


def test_load_checkpoint_and_load_model_errors_name_the_file_and_the_fix(tmp_path):
    small(tmp_path)
    with pytest.raises(LabkitError, match=r'different shapes: .*load_model\(path\) rebuilds it') as e:
        load_checkpoint(tmp_path / 'best.pt', create_model('lstm', input_dim=6, hidden_size=8, n_classes=5))
    assert 'head' in str(e.value) and "create_model('lstm'" in str(e.value)
    with pytest.raises(LabkitError, match=r'missing from the checkpoint: .*not in this model'):
        load_checkpoint(tmp_path / 'best.pt', create_model('cnn', channels=(4, 4, 4, 4), n_classes=2))
    with pytest.raises(LabkitError, match='is a folder'): load_checkpoint(tmp_path)
    torch.save(torch.ones(3), tmp_path / 'tensor.pt')
    with pytest.raises(LabkitError, match='not a checkpoint'): load_checkpoint(tmp_path / 'tensor.pt')
    ckpt = load_checkpoint(tmp_path / 'best.pt'); ckpt['config']['no_such_option'] = 1
    save_checkpoint(ckpt, tmp_path / 'odd.pt')
    with pytest.raises(LabkitError, match=r'cannot be rebuilt.*load_checkpoint\(path, model\)'): load_model(tmp_path / 'odd.pt')
    save_checkpoint({'model': ckpt['model']}, tmp_path / 'weights.pt')
    with pytest.raises(LabkitError, match=r'cannot be resumed from: it lacks optimizer, epoch'):
        small(tmp_path / 'again', resume=tmp_path / 'weights.pt')
    (tmp_path / 'history.json').write_text('[{"epoch": 1,')
    with pytest.raises(LabkitError, match='not a readable history'): History.load(tmp_path)
    with pytest.raises(LabkitError, match="mode='maximum'"): History([{'val_loss': 1.0}]).best(mode='maximum')


def test_device_names(monkeypatch):
    assert get_device('CPU') == get_device(' cpu ') == torch.device('cpu')
    with pytest.raises(LabkitError, match=r"device='gpu' is not a torch device name: use device='cuda'.*'auto'"): get_device('gpu')
    with pytest.raises(LabkitError, match=r"device='banana' is not a device labkit can use; valid choices on this machine: 'auto', 'cpu'"):
        get_device('banana')
    with pytest.raises(LabkitError, match='not a device name'): get_device(0)
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    with pytest.raises(LabkitError, match="MPS backend is not available"): get_device('mps')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(LabkitError, match='no CUDA'): get_device('Cuda')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)             # a machine with two GPUs
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert get_device('CUDA:1') == torch.device('cuda', 1) and get_device('auto') == torch.device('cuda')
    with pytest.raises(LabkitError, match=r"device='cuda:7': this machine has 2 CUDA GPU\(s\).*'cuda:0', 'cuda:1'"):
        get_device('cuda:7')
    with pytest.raises(LabkitError, match='2 CUDA GPU'): get_device(torch.device('cuda', 7))


BAD = [(dict(lr='1e-3'), r"fit: lr='1e-3' is not valid: expected a positive number"),
       (dict(lr=0), 'lr=0 is not valid'),
       (dict(epochs=0), r'epochs=0 is not valid: expected a whole number of epochs, at least 1'),
       (dict(epochs=-2), 'epochs=-2'), (dict(epochs=2.5), 'epochs=2.5'), (dict(epochs='3'), "epochs='3'"),
       (dict(weight_decay=-1e-4), r'weight_decay=-0.0001 is not valid: expected a number >= 0'),
       (dict(patience=0), r'patience=0 is not valid: expected None'),
       (dict(grad_clip=0), 'grad_clip=0 is not valid'), (dict(grad_clip=-1.0), 'grad_clip=-1.0'),
       (dict(seed='0'), "seed='0'"), (dict(overfit_batch=-1), 'overfit_batch=-1'),
       (dict(progress='lines'), "progress='lines'"), (dict(callbacks=[1]), 'callbacks=\\[1\\]'),
       (dict(loss_fn='mse'), "loss_fn='mse'"), (dict(overwrite='yes'), "overwrite='yes'"),
       (dict(optimizer=lambda p: 'adam'), 'not a torch optimizer'),
       (dict(optimizer=torch.optim.Adam([nn.Parameter(torch.zeros(1))])), 'holds none of this model'),
       (dict(scheduler=lambda opt: None), 'not a scheduler'),
       (dict(metric_fn=lambda t, p: 0.5, val_dl=make_loader(clips(8), 4)), 'metric_fn returned a float')]


@pytest.mark.parametrize('kw, match', BAD, ids=[f'{i}-{next(iter(kw))}' for i, (kw, _) in enumerate(BAD)])
def test_bad_fit_values_are_refused_before_anything_is_written(tmp_path, kw, match):
    val_dl = kw.pop('val_dl', None)
    with pytest.raises(LabkitError, match=match):
        seed_everything(0)
        fit(create_model('lstm', input_dim=6, hidden_size=4, n_classes=2), make_loader(clips(8), 4), val_dl,
            **{**dict(loss_fn=nn.CrossEntropyLoss(), epochs=2, progress=False, device='cpu', out_dir=tmp_path / 'run'), **kw})
    if 'metric_fn' not in str(kw) and 'optimizer' not in str(kw) and 'scheduler' not in str(kw):
        assert not (tmp_path / 'run').exists()


def test_loaders_without_batches(tmp_path, monkeypatch):
    items = clips(8)
    with pytest.raises(LabkitError, match=r'batch_size=16 with drop_last=True and a dataset of 8 items.*batch_size <= 8'):
        make_loader(items, 16, drop_last=True)
    with pytest.raises(LabkitError, match='batch_size=16 with drop_last=True'): make_loader(items, 16, drop_last=True, bucket=True)
    for bs in (0, -4, 2.5, '8'):
        with pytest.raises(LabkitError, match=f'batch_size={bs!r} is not valid'): make_loader(items, bs)
    with pytest.raises(LabkitError, match='num_workers=-1'): make_loader(items, 4, num_workers=-1)
    with pytest.raises(LabkitError, match='dataset is empty'): make_loader([], 4)
    model = create_model('lstm', input_dim=6, hidden_size=4, n_classes=2)
    from labkit.data import collate_padded
    plain = torch.utils.data.DataLoader(items, batch_size=16, drop_last=True, collate_fn=collate_padded)   # made without make_loader
    with pytest.raises(LabkitError, match=r'train_dl gives no batches \(batch_size=16, a dataset of 8 items, drop_last=True\)'):
        fit(model, plain, loss_fn=nn.CrossEntropyLoss(), epochs=1, progress=False, device='cpu')
    with pytest.raises(LabkitError, match='val_dl gives no batches'):
        fit(model, make_loader(items, 4), [], loss_fn=nn.CrossEntropyLoss(), epochs=1, progress=False, device='cpu')
    gen = (b for b in make_loader(items, 4))
    with pytest.raises(LabkitError, match='one-shot iterator'):
        fit(model, gen, loss_fn=nn.CrossEntropyLoss(), epochs=2, progress=False, device='cpu')
    class NoLength(torch.utils.data.IterableDataset):
        def __iter__(self): return iter(())
    with pytest.raises(LabkitError, match='train_dl gave no batches'):
        fit(model, torch.utils.data.DataLoader(NoLength()), loss_fn=nn.CrossEntropyLoss(), epochs=1, progress=False, device='cpu')
    monkeypatch.setenv('LABKIT_PROGRESS', 'lines')
    with pytest.raises(LabkitError, match="LABKIT_PROGRESS='lines'"): progress_mode(True)
