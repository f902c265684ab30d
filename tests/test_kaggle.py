"Kaggle: solution.txt in the competition's format, and a validator that names every problem."
import numpy as np, pytest, torch
from labkit.data import AFFECT, LabkitError
from labkit.kaggle import SOLUTION_HEADER, predict_solution, solution_id, kaggle_clip_ids, validate_solution, write_solution
from labkit.models import create_model


@pytest.fixture
def solution(lab_root, tmp_path):
    ids = kaggle_clip_ids(lab_root)
    preds = np.random.default_rng(0).uniform(-0.2, 1.2, size=(len(ids), 3))
    return write_solution(ids, preds, tmp_path / 'solution.txt'), ids, preds


def rewrite(path, edit):
    lines = path.read_text().splitlines()
    path.write_text('\n'.join(edit(lines)) + '\n')
    return path


def test_written_file_has_the_competition_format(lab_root, solution):
    path, ids, preds = solution
    lines = path.read_text().splitlines()
    assert lines[0] == 'Id.fused.full.npy.gz,valence,energy,danceability' == ','.join(SOLUTION_HEADER)
    assert len(lines) == len(ids) + 1 == len(list((lab_root / 'multitask_dataset/test').iterdir())) + 1
    assert [l.split(',')[0] for l in lines[1:]] == [f'{i}.fused.full.npy.gz' for i in ids]
    df = validate_solution(path, lab_root)
    np.testing.assert_allclose(df.values, np.clip(preds, 0, 1), atol=1e-6)
    assert df.values.min() == 0.0 and df.values.max() == 1.0  # clipped, not rescaled
    assert validate_solution(path, lab_root / 'multitask_dataset' / 'test').shape == (len(ids), 3)


def test_dict_predictions_and_ids_with_extensions(lab_root, tmp_path):
    ids = kaggle_clip_ids(lab_root)
    preds = {a: torch.full((len(ids), 1), 0.5) for a in AFFECT}
    path = write_solution([f'{i}.fused.full.npy' for i in ids], preds, tmp_path / 's.txt')
    assert (validate_solution(path, lab_root).values == 0.5).all()
    assert solution_id('77.beatsync.fused.npy.gz') == '77.fused.full.npy.gz'


@pytest.mark.parametrize('edit,message', [
    (lambda l: ['Id,valence,energy,danceability'] + l[1:], "the header is 'Id,valence,energy,danceability'"),
    (lambda l: l[:-1], 'have no row'),
    (lambda l: l + ['99999.fused.full.npy.gz,0.1,0.2,0.3'], 'not in the test folder: ['),
    (lambda l: l + [l[1]], 'appear more than once'),
    (lambda l: [l[0], l[1].rsplit(',', 1)[0] + ',1.5'] + l[2:], 'danceability=1.5 outside [0, 1]'),
    (lambda l: [l[0], l[1].split(',', 1)[0] + ',nan,0.1,0.1'] + l[2:], 'valence=nan outside [0, 1]'),
    (lambda l: [l[0], l[1].split(',', 1)[0] + ',high,0.1,0.1'] + l[2:], 'are not all numbers'),
    (lambda l: [l[0], l[1] + ',0.3'] + l[2:], 'has 5 fields'),
    (lambda l: [l[0], l[1].replace('.fused.full.npy.gz', '.npy')] + l[2:], "should look like '<clip id>.fused.full.npy.gz'"),
])
def test_validator_names_what_is_wrong(lab_root, solution, edit, message):
    path = rewrite(solution[0], edit)
    with pytest.raises(LabkitError) as e: validate_solution(path, lab_root)
    assert message in str(e.value) and str(path) in str(e.value)


def test_validator_reports_row_count_and_missing_file(lab_root, solution, tmp_path):
    path = rewrite(solution[0], lambda l: l[:3])
    with pytest.raises(LabkitError, match=r'2 rows for 10 test clips'): validate_solution(path, lab_root)
    with pytest.raises(LabkitError, match='does not exist'): validate_solution(tmp_path / 'none.txt', lab_root)
    (tmp_path / 'empty.txt').write_text('')
    with pytest.raises(LabkitError, match='is empty'): validate_solution(tmp_path / 'empty.txt', lab_root)


def test_writer_refuses_bad_predictions(lab_root, tmp_path):
    ids = kaggle_clip_ids(lab_root)
    with pytest.raises(LabkitError, match=r'expected \(10, 3\)'): write_solution(ids, np.zeros((10, 2)), tmp_path / 'a.txt')
    with pytest.raises(LabkitError, match='NaN'): write_solution(ids, np.full((10, 3), np.nan), tmp_path / 'a.txt')
    with pytest.raises(LabkitError, match='more than once'): write_solution(ids[:1] * 10, np.zeros((10, 3)), tmp_path / 'a.txt')
    with pytest.raises(LabkitError, match='heads'): write_solution(ids, {'genre': np.zeros((10, 3)), 'x': 0}, tmp_path / 'a.txt')


def test_predict_solution_from_a_model(lab_root, tmp_path):
    torch.manual_seed(0)
    for model in (create_model('lstm', input_dim=140, hidden_size=4, num_layers=1, n_targets=3),
                  create_model('lstm', input_dim=140, hidden_size=4, num_layers=1, heads={a: 1 for a in AFFECT})):
        path = predict_solution(model, lab_root, tmp_path / 'solution.txt', max_length=32, device='cpu')
        assert len(validate_solution(path, lab_root)) == 10
