"Metrics agree with scikit-learn/SciPy, keep empty classes, and reject mismatched inputs with a clear error."
import warnings
import numpy as np
import pytest, torch
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, average_precision_score, f1_score
from labkit.core import LabkitError
from labkit.metrics import (classification_metrics, classification_report_dict, classification_table, confusion,
                            mean_average_precision, mean_spearman, regression_metrics, spearman_per_target)

rng = np.random.default_rng(0)
Y_TRUE, Y_PRED = rng.integers(0, 10, 200), rng.integers(0, 10, 200)
CLASSES = ['Blues', 'Classical', 'Electronic', 'Folk', 'Hip-Hop', 'Jazz', 'Metal', 'Pop', 'Rock', 'Trip-Hop']


def test_report_matches_sklearn():
    rep = classification_report_dict(Y_TRUE, Y_PRED, CLASSES)
    assert rep['accuracy'] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert rep['macro avg']['f1-score'] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average='macro'))
    assert rep['micro avg']['f1-score'] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average='micro'))
    assert rep['weighted avg']['f1-score'] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average='weighted'))
    assert rep['Rock']['support'] == int((Y_TRUE == 8).sum())


def test_report_keeps_absent_classes_and_takes_tensors_and_logits():
    rep = classification_report_dict(torch.tensor([0, 0, 1]), torch.tensor([[5., 0, 0], [1, 0, 0], [0, 2, 0]]), ['a', 'b', 'c'])
    assert rep['c'] == {'precision': 0.0, 'recall': 0.0, 'f1-score': 0.0, 'support': 0}
    assert rep['accuracy'] == 1.0


def test_table_rows_and_columns():
    tbl = classification_table(Y_TRUE, Y_PRED, CLASSES)
    assert list(tbl.index) == CLASSES + ['accuracy (micro avg)', 'macro avg', 'weighted avg'] and not tbl.isna().any().any()
    assert list(tbl.columns) == ['precision', 'recall', 'f1-score', 'support']
    assert tbl.loc['macro avg', 'support'] == 200


def test_confusion():
    cm = confusion(Y_TRUE, Y_PRED, n_classes=10)
    assert cm.shape == (10, 10) and cm.sum() == 200 and np.trace(cm) == (Y_TRUE == Y_PRED).sum()
    assert confusion([0, 1], [[1., 0, 0, 0], [0, 1, 0, 0]]).shape == (4, 4)   # n from the scores


def test_spearman_matches_scipy_and_handles_1d():
    yt, yp = rng.random((30, 3)), rng.random((30, 3))
    rho = spearman_per_target(yt, yp, ['valence', 'energy', 'danceability'])
    for i, k in enumerate(rho): assert rho[k] == pytest.approx(spearmanr(yt[:, i], yp[:, i]).statistic)
    assert mean_spearman(yt, yp) == pytest.approx(np.mean(list(rho.values())))
    assert spearman_per_target(yt[:, 0], yt[:, 0] * 2) == {'target0': pytest.approx(1.0)}
    assert spearman_per_target(yt[:, :1], yp[:, 0])['target0'] == pytest.approx(rho['valence'])


def test_spearman_constant_is_nan_with_warning():
    with pytest.warns(UserWarning, match='constant'):
        assert np.isnan(spearman_per_target(np.arange(5.), np.ones(5))['target0'])


def test_map_matches_sklearn():
    yt, s = rng.integers(0, 2, (50, 5)), rng.random((50, 5))
    assert mean_average_precision(yt, s) == pytest.approx(average_precision_score(yt, s, average='macro'))
    assert mean_average_precision(yt, s, average=None).shape == (5,)
    labels = rng.integers(0, 3, 40)
    assert mean_average_precision(labels, np.eye(3)[labels]) == pytest.approx(1.0)


def test_training_metric_fns():
    m = classification_metrics(Y_TRUE, np.eye(10)[Y_PRED])
    assert m['accuracy'] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    r = regression_metrics(np.arange(6.), np.arange(6.) ** 2, ['valence'])
    assert r == {'spearman_valence': pytest.approx(1.0), 'mean_spearman': pytest.approx(1.0)}


@pytest.mark.parametrize('call, msg', [
    (lambda: classification_report_dict([0, 1, 2], [0, 1]), 'samples'),
    (lambda: classification_report_dict([0, 3], [0, 1], ['a', 'b']), 'outside'),
    (lambda: spearman_per_target(np.zeros((4, 3)), np.zeros((4, 2))), 'target columns'),
    (lambda: spearman_per_target(np.zeros((4, 2)), np.zeros((4, 2)), ['valence']), 'names'),
    (lambda: mean_average_precision([[1, 0]], [[0.2, 0.3, 0.5]]), 'same'),
    (lambda: mean_average_precision([1, 0], [0.2, 0.3]), '(N, C)'),
    (lambda: confusion(3, [1]), 'scalar'),
])
def test_bad_inputs_raise_labkit_error(call, msg):
    with pytest.raises(LabkitError, match=msg.replace('(', r'\(').replace(')', r'\)')): call()
