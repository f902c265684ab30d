"Training loop: exact resume after an interruption (in process and after a SIGKILL), checkpoints, early stopping, overfit mode, progress."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest, torch
from torch import nn
from labkit.data import LabkitError, SpectrogramDataset
from labkit.models import create_model
from labkit.train import (History, evaluate, fit, get_device, load_checkpoint, load_model, make_loader, predict,
                          progress_mode, seed_everything)


@pytest.fixture(autouse=True)
def one_thread():
    "Bit-exact comparisons need the same reduction order: one intra-op thread."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
    def on_epoch_end(self, history): self.epochs_seen += 1


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


def no_time(h): return [{k: v for k, v in r.items() if k != 'time'} for r in h.records]


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize('bucket', [True, False])
def test_resume_after_interruption_is_exact(tmp_path, bucket):
    ref_model, ref_loss, ref_h = run(tmp_path / 'ref', bucket=bucket)
    with pytest.raises(KeyboardInterrupt): run(tmp_path / 'cut', interrupt_after=3, bucket=bucket)
    assert load_checkpoint(tmp_path / 'cut' / 'last.pt')['epoch'] == 3
    model, loss_fn, h = run(tmp_path / 'cut', resume=True, bucket=bucket)
    assert no_time(h) == no_time(ref_h) and len(h) == 6
    assert_same_weights(model, ref_model); assert_same_weights(loss_fn, ref_loss)
    assert int(loss_fn.epochs_seen) == 6 and h['lr'] == [3e-3, 3e-3, 1.5e-3, 1.5e-3, 7.5e-4, 7.5e-4]
    assert {'train_a', 'train_b', 'val_a', 'val_b'} <= set(h[0])
    # a finished run resumed again does no more work
    model2, _, h2 = run(tmp_path / 'cut', resume=True, bucket=bucket)
    assert no_time(h2) == no_time(ref_h); assert_same_weights(model2, ref_model)


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


def test_resume_after_sigkill_mid_epoch_is_exact(tmp_path):
    "A separate process is killed with SIGKILL in the middle of epoch 4; resuming from last.pt ends where an uninterrupted run does."
    flag, out = tmp_path / 'hanging', tmp_path / 'killed'
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), flag=str(flag), out=str(out))
    proc = subprocess.Popen([sys.executable, '-c', script], env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        deadline = time.time() + 120
        while not flag.exists():
            assert proc.poll() is None, 'training process ended before it could be killed'
            assert time.time() < deadline, 'training process did not reach epoch 4'
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert not list(out.glob('*.tmp')) and load_checkpoint(out / 'last.pt')['epoch'] == 3
    ref_model, ref_loss, ref_h = run(tmp_path / 'ref')
    model, loss_fn, h = run(out, resume=True)
    assert no_time(h) == no_time(ref_h)
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


def test_overfit_one_batch_reaches_zero_loss():
    seed_everything(0)
    model = create_model('lstm', input_dim=6, hidden_size=32, num_layers=1, dropout=0.0, n_classes=4)
    items = [(x, torch.tensor(i % 4), n) for i, (x, _, n) in enumerate(clips(8))]   # random labels: only memorising works
    h = fit(model, make_loader(items, 8), loss_fn=nn.CrossEntropyLoss(), epochs=120, lr=1e-2, overfit_batch=True,
            progress=False, device='cpu')
    assert h['train_loss'][0] > 1.0 and h['train_loss'][-1] < 0.05


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
    assert len(lines) == 3 and lines[0].startswith('epoch   1  train_loss') and 'val_loss' in lines[0]
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
