"Multitask: masked per-task losses, weighting strategies in the history, seeded per-task batches, leak-free folds."
import math
import numpy as np, pytest, torch
from torch.utils.data import DataLoader, Dataset
from labkit.data import LabkitError, PadCollate
from labkit.features import Normalizer
from labkit.models import LSTMBackbone, MultiHead
from labkit.train import fit
from labkit.multitask import (WEIGHTINGS, MixedBatchSampler, MultiTaskDataset, MultiTaskLoss, Task, TaskBatchSampler,
                              SplitView, TaskMetrics, collate_tasks, make_folds, make_weighting, stratified_folds, task_table)

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
    x, y, lengths = collate_tasks([data[i] for i in only_genre_and_affect])
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


def test_sampler_batches_differ_between_epochs_and_repeat_for_the_same_seed():
    data = MultiTaskDataset(four_datasets(), TASKS)
    a, b = TaskBatchSampler(data.task_ids, batch_size=3, seed=7), TaskBatchSampler(data.task_ids, batch_size=3, seed=7)
    a0, a1 = list(a), list(a)  # two passes = two epochs
    assert a0 != a1
    assert {tuple(sorted(x)) for x in a0} != {tuple(sorted(x)) for x in a1}  # re-drawn, not just reordered
    assert (list(b), list(b)) == (a0, a1)
    b.set_epoch(1); assert list(b) == a1
    assert TaskBatchSampler(data.task_ids, batch_size=3, seed=8).batches(0) != a0
    for batches in (a0, a1):
        assert sorted(i for x in batches for i in x) == list(range(len(data)))
        assert all(len(set(data.task_ids[x])) == 1 for x in batches)
    assert len({int(data.task_ids[x[0]]) for x in a0[:6]}) > 1  # tasks interleave at random
    dl = DataLoader(data, batch_sampler=TaskBatchSampler(data.task_ids, batch_size=3, seed=7), collate_fn=collate_tasks)
    assert [y['task'].tolist() for _, y, _ in dl] == [data.task_ids[x].tolist() for x in a0]


def test_mixed_sampler_is_seeded_and_reshuffles():
    m = MixedBatchSampler(20, batch_size=4, seed=1)
    e0, e1 = list(m), list(m)
    assert e0 != e1 and len(e0) == len(m) == 5
    assert MixedBatchSampler(20, batch_size=4, seed=1).batches(1) == e1
    assert sorted(i for x in e0 for i in x) == list(range(20))
    assert len(MixedBatchSampler(22, batch_size=4, drop_last=True)) == 5


def test_no_id_in_both_train_and_test_of_a_fold():
    ids = [f'clip{i // 2}' for i in range(40)]  # every clip listed twice (e.g. two crops)
    ds = Toy(40, 'multiclass', ids=ids)
    folds = stratified_folds(ds.targets, n_splits=4, seed=0, groups=ids)
    for tr, te in folds:
        assert not {ids[i] for i in tr} & {ids[i] for i in te}
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(40))
    for fold in make_folds(ds, n_splits=4, seed=0, max_per_label=5):
        assert not set(fold.train.ids) & set(fold.test.ids)
        assert np.bincount(fold.train.targets).max() <= 5  # the cap applies to the training side
    reg = Toy(30, 'regression', ids=[f'r{i // 3}' for i in range(30)])
    for fold in make_folds(reg, n_splits=3, seed=1, scale=False):
        assert not set(fold.train.ids) & set(fold.test.ids)


def test_predefined_split_is_used_when_there_is_one():
    train, test = Toy(12, 'multiclass', 0), Toy(5, 'multiclass', 1, ids=[f't{i}' for i in range(5)])
    folds = make_folds(train, test, n_splits=4)
    assert len(folds) == 1 and len(folds[0].train) == 12 and folds[0].test.ids == test.ids


@pytest.mark.parametrize('predefined', [False, True])
def test_scalers_never_see_test_data(predefined):
    train = Toy(24, 'regression', 0)
    test = Toy(6, 'regression', 1, ids=[f't{i}' for i in range(6)]) if predefined else None
    for fold in make_folds(train, test, n_splits=3, seed=0):
        train.accessed.clear()
        if test is not None: test.accessed.clear()
        refit = Normalizer('band').fit(SplitView(train, fold.train.indices))
        torch.testing.assert_close(fold.scaler.mean, refit.mean)
        seen = set(train.accessed)
        assert seen <= set(fold.train.indices.tolist())
        if not predefined: assert not seen & set(fold.test.indices.tolist())
        else: assert not test.accessed
    train.accessed.clear()
    folds = make_folds(train, test, n_splits=3, seed=0)
    # fitting every fold's scaler touched training items only
    if predefined: assert not test.accessed
    x, _, n = folds[0].test[0]  # ...and the test side is transformed with the training side's statistics
    raw = (test if predefined else train)[int(folds[0].test.indices[0])][0]
    torch.testing.assert_close(x[:n], (raw[:n] - folds[0].scaler.mean) / folds[0].scaler.std)


def test_weights_and_task_losses_per_epoch_are_in_the_history():
    data = MultiTaskDataset({'genre': Toy(12, 'multiclass', 0), 'affect': Toy(8, 'regression', 1)}, [TASKS[0], TASKS[3]])
    tasks = data.tasks
    dl = DataLoader(data, batch_sampler=TaskBatchSampler(data.task_ids, 4, seed=0), collate_fn=collate_tasks)
    val = DataLoader(data, batch_size=32, collate_fn=collate_tasks)
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
    fresh = MultiTaskLoss(tasks)
    x, y, n = collate_tasks([data[i] for i in range(len(data))])
    with torch.no_grad():
        direct = {t: l.item() for t, (l, _) in fresh.task_losses(model(x, n), y).items()}
        fresh(model(x, n), y)
    record = {}
    fresh.on_epoch_end([record])
    assert math.isclose(record['val_loss_affect'], direct['affect'], rel_tol=1e-5)
    assert math.isclose(record['val_loss_genre'], direct['genre'], rel_tol=1e-5)


def test_uncertainty_log_variances_are_trained_by_fit():
    tasks = [Task('a', 'regression'), Task('b', 'regression')]
    ds = Toy(16, 'regression', n_out=2)
    dl = DataLoader(ds, batch_size=4, collate_fn=PadCollate())  # targets (B, 2): one column per task
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
