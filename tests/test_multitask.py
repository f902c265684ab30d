"Multitask: masked per-task losses, weighting strategies and per-task losses in the history, train/eval phases told by the module's mode."
import math
import numpy as np, pytest, torch
from torch.utils.data import DataLoader, Dataset
from labkit.core import LabkitError
from labkit.data import BucketBatchSampler, collate_padded
from labkit.models import LSTMBackbone, MultiHead
from labkit.train import evaluate, fit
from labkit.train import WEIGHTINGS, MultiTaskDataset, MultiTaskLoss, Task, TaskMetrics, make_weighting, task_table

F = 6


class Toy(Dataset):
    "A small labelled dataset of (x (T, F), y, length) items, with ids, targets and lengths like SpectrogramDataset."
    def __init__(self, n, kind, seed=0, ids=None, n_out=3):
        rng = np.random.default_rng(seed)
        self.lengths = rng.integers(5, 12, size=n)
        self.xs = [torch.tensor(rng.normal(size=(int(t), F)), dtype=torch.float32) for t in self.lengths]
        self.targets = (rng.integers(0, n_out, size=n) if kind == 'multiclass' else
                        rng.integers(0, 2, size=(n, n_out)) if kind == 'multilabel' else
                        rng.integers(0, 2, size=n) if kind == 'binary' else rng.uniform(size=(n, n_out)).astype(np.float32))
        self.ids = ids if ids is not None else [f'{kind}{i}' for i in range(n)]
        self.accessed = set()

    def __len__(self): return len(self.xs)

    def __getitem__(self, i):
        if not 0 <= i < len(self): raise IndexError(i)
        self.accessed.add(int(i))
        return self.xs[i], torch.as_tensor(self.targets[i]), int(self.lengths[i])


TASKS = [Task('genre', 'multiclass', 3), Task('tags', 'multilabel', 4), Task('vocal', 'binary', 1),
         Task('affect', 'regression', 3)]


def four_datasets():
    return {'genre': Toy(10, 'multiclass', 0), 'tags': Toy(8, 'multilabel', 1, n_out=4),
            'vocal': Toy(6, 'binary', 2), 'affect': Toy(9, 'regression', 3)}


def model_for(tasks, seed=0):
    torch.manual_seed(seed)
    return MultiHead(LSTMBackbone(input_dim=F, hidden_size=8, num_layers=1), {t.name: t.n_outputs for t in tasks})


@pytest.mark.parametrize('strategy', sorted(WEIGHTINGS))
def test_batch_without_a_task_gives_it_no_loss_and_no_nan(strategy):
    data = MultiTaskDataset(four_datasets(), TASKS)
    kwargs = {'weights': [1, 2, 3, 4]} if strategy == 'fixed' else {}
    loss_fn = MultiTaskLoss(TASKS, strategy, **kwargs)
    model = model_for(TASKS)
    only_genre_and_affect = [0, 1, 2, int(data.offsets[3]), int(data.offsets[3]) + 1]
    x, y, lengths = collate_padded([data[i] for i in only_genre_and_affect])
    assert torch.isnan(y['target'][:, 1:6]).all()  # the absent tasks' columns are NaN
    loss, logs = loss_fn(model(x, lengths), y)
    assert torch.isfinite(loss)
    assert set(k for k in logs if k.startswith('loss_')) == {'loss_genre', 'loss_affect'}
    loss.backward()
    for name in ('tags', 'vocal'):
        for p in model.heads[name].parameters(): assert p.grad is None or not p.grad.any()
    for name in ('genre', 'affect'): assert model.heads[name].weight.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_each_task_sees_only_its_rows_and_columns():
    tasks = [Task('genre', 'multiclass', 3), Task('affect', 'regression', 2)]
    loss_fn = MultiTaskLoss(tasks)
    out = {'genre': torch.tensor([[5., 0, 0], [0, 5, 0], [9, 9, 9]]), 'affect': torch.tensor([[100., 100], [100, 100], [0.5, 0.25]])}
    nan = float('nan')
    y = {'task': torch.tensor([0, 0, 1]), 'target': torch.tensor([[0., nan, nan], [1, nan, nan], [nan, 0.5, 0.25]])}
    losses = {t: l for t, (l, _) in loss_fn.task_losses(out, y).items()}
    assert math.isclose(losses['genre'].item(), torch.nn.functional.cross_entropy(out['genre'][:2], torch.tensor([0, 1])).item(), rel_tol=1e-6)
    assert losses['affect'].item() == 0.0  # only row 2, which is exact; rows 0-1 (genre samples) never reach it
    with pytest.raises(LabkitError, match='need 3'): loss_fn(out, {'task': y['task'], 'target': y['target'][:, :2]})
    with pytest.raises(LabkitError, match='no head'): loss_fn({'genre': out['genre']}, y)


def test_dataset_rejects_mismatched_sources():
    with pytest.raises(LabkitError, match='same names'): MultiTaskDataset({'genre': Toy(3, 'multiclass')}, TASKS)
    bad = MultiTaskDataset({'affect': Toy(3, 'regression', n_out=2)}, [Task('affect', 'regression', 3)])
    with pytest.raises(LabkitError, match='needs 3'): bad[0]


def test_weights_and_task_losses_per_epoch_are_in_the_history():
    data = MultiTaskDataset({'genre': Toy(12, 'multiclass', 0), 'affect': Toy(8, 'regression', 1)}, [TASKS[0], TASKS[3]])
    tasks = data.tasks
    dl = DataLoader(data, batch_sampler=BucketBatchSampler(data.lengths, 4, seed=0, groups=data.task_ids), collate_fn=collate_padded)
    val = DataLoader(data, batch_size=32, collate_fn=collate_padded)
    loss_fn = MultiTaskLoss(tasks, 'dwa')
    h = fit(model_for(tasks), dl, val, loss_fn=loss_fn, metric_fn=TaskMetrics(tasks), epochs=3, lr=1e-2,
            progress=False, device='cpu')
    df = h.to_frame()
    for t in ('genre', 'affect'):
        for col in (f'train_loss_{t}', f'val_loss_{t}', f'train_w_{t}'): assert df[col].notna().all(), col
    assert df['train_w_genre'].iloc[:2].tolist() == [1.0, 1.0] and df['train_w_genre'].iloc[2] != 1.0
    assert math.isclose(df['train_w_genre'].iloc[2] + df['train_w_affect'].iloc[2], 2.0, rel_tol=1e-5)
    assert {'val_genre_accuracy', 'val_affect_spearman'} <= set(df.columns)
    table = task_table(h, tasks)
    assert table.shape[0] == 6 and {'train_loss', 'val_loss', 'weight'} <= set(table.columns)
    # the logged per-task validation loss is the exact mean over that task's own samples
    model = model_for(tasks, seed=1).eval()
    fresh = MultiTaskLoss(tasks).eval()
    x, y, n = collate_padded([data[i] for i in range(len(data))])
    with torch.no_grad():
        direct = {t: l.item() for t, (l, _) in fresh.task_losses(model(x, n), y).items()}
        fresh(model(x, n), y)
    terms = fresh.on_epoch_end()  # returned for fit to log, then a new epoch starts
    assert math.isclose(terms['val_loss_affect'], direct['affect'], rel_tol=1e-5)
    assert math.isclose(terms['val_loss_genre'], direct['genre'], rel_tol=1e-5)
    assert fresh.on_epoch_end() == {}


def test_evaluate_counts_a_validation_pass_whatever_the_grad_mode():
    tasks = [TASKS[0], TASKS[3]]
    data = MultiTaskDataset({'genre': Toy(6, 'multiclass', 0), 'affect': Toy(5, 'regression', 1)}, tasks)
    dl = DataLoader(data, batch_size=4, collate_fn=collate_padded)
    for strategy in ('equal', 'dwa'):
        loss_fn = MultiTaskLoss(tasks, strategy)  # a new module is in training mode
        with torch.enable_grad(): evaluate(model_for(tasks), dl, loss_fn, device='cpu')
        assert not loss_fn.training
        terms = loss_fn.on_epoch_end()
        assert set(terms) == {'val_loss_genre', 'val_loss_affect'}  # nothing counted as training
        if strategy == 'dwa': assert torch.isnan(loss_fn.weighting.epoch_losses).all()  # DWA learns from training passes only


def test_uncertainty_log_variances_are_trained_by_fit():
    tasks = [Task('a', 'regression'), Task('b', 'regression')]
    ds = Toy(16, 'regression', n_out=2)
    dl = DataLoader(ds, batch_size=4, collate_fn=collate_padded)  # targets (B, 2): one column per task
    loss_fn = MultiTaskLoss(tasks, 'uncertainty')
    h = fit(model_for(tasks), dl, loss_fn=loss_fn, epochs=2, lr=5e-2, progress=False, device='cpu')
    assert loss_fn.weighting.log_vars.detach().abs().sum() > 0
    assert h.to_frame()['train_w_a'].iloc[-1] != 1.0


def test_strategy_registry_and_errors():
    assert sorted(WEIGHTINGS) == ['dwa', 'equal', 'fixed', 'uncertainty']
    for cls in WEIGHTINGS.values(): assert cls.__doc__ and '\n' not in cls.__doc__
    with pytest.raises(LabkitError, match='not known'): make_weighting('pcgrad', ['a'])
    with pytest.raises(LabkitError, match='fixed weights'): make_weighting('fixed', ['a', 'b'], weights={'a': 1, 'c': 2})
    with pytest.raises(LabkitError, match='kind'): Task('x', 'ranking')
