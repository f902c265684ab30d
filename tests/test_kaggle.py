"Kaggle: solution.txt in the competition's format, and a validator that names every problem."
import re, warnings
import numpy as np, pytest, torch
from labkit.core import LabkitError
from labkit.data import AFFECT
from labkit.teach.kaggle import (SOLUTION_HEADER, predict_solution, solution_id, kaggle_clip_ids, validate_solution,
                                 write_solution)
from labkit.models import create_model


@pytest.fixture
def solution(lab_root, tmp_path):
    ids = kaggle_clip_ids(lab_root)
    preds = np.random.default_rng(0).uniform(0, 1, size=(len(ids), 3))
    preds[0, 0], preds[1, 2] = -0.2, 1.3  # a regressor overshoots a little: clipped when asked, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return write_solution(ids, preds, tmp_path / 'solution.txt', clip=True), ids, preds


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


@pytest.mark.filterwarnings("ignore:write_solution clipped")  # untrained models: outputs on no particular scale
def test_predict_solution_from_a_model(lab_root, tmp_path):
    torch.manual_seed(0)
    for model in (create_model('lstm', input_dim=140, hidden_size=4, num_layers=1, n_targets=3),
                  create_model('lstm', input_dim=140, hidden_size=4, num_layers=1, heads={a: 1 for a in AFFECT})):
        path = predict_solution(model, lab_root, tmp_path / 'solution.txt', max_length=32, device='cpu', clip=True)
        assert len(validate_solution(path, lab_root)) == 10


@pytest.mark.parametrize('scale,low,high,likely', [(100.0, 0.0, 0.0, 'a 0-100 scale (percentages): divide them by 100'),
                                                    (10.0, 0.0, 0.0, 'a 0-10 scale: divide them by 10'),
                                                    (1.0, -1.5, 0.5, 'standardised outputs (mean 0, sd 1)'),
                                                    (1.0, 0.0, 0.2, 'a regressor overshooting a little')])
def test_values_outside_the_unit_range_are_refused_unless_clipped(lab_root, tmp_path, capsys, scale, low, high, likely):
    ids = kaggle_clip_ids(lab_root)
    preds = np.random.default_rng(1).uniform(0, 1, size=(len(ids), 3)) * scale + np.linspace(low, high, len(ids))[:, None]
    outside = int(((preds < 0) | (preds > 1)).sum())
    with pytest.raises(LabkitError) as e: write_solution(ids, preds, tmp_path / 's.txt')
    msg = str(e.value)
    assert f'{outside} of 30 predicted values are outside [0, 1]: they range from {preds.min():.4g} to {preds.max():.4g}' in msg, msg
    assert likely in msg and 'clip=True' in msg and not (tmp_path / 's.txt').exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        path = write_solution(ids, preds, tmp_path / 's.txt', clip=True)
    assert f'write_solution: clipped {outside} of 30 values to [0, 1]' in capsys.readouterr().out   # said where a student sees it
    assert any('another scale' in str(w.message) for w in caught) == (likely != 'a regressor overshooting a little')
    assert validate_solution(path, lab_root).shape == (10, 3)


def test_validator_names_the_range_and_likely_scale(lab_root, solution):
    path = rewrite(solution[0], lambda l: [l[0]] + [','.join([r.split(',')[0]] + [f'{100 * float(x):.2f}' for x in r.split(',')[1:]]) for r in l[1:]])
    with pytest.raises(LabkitError) as e: validate_solution(path, lab_root)
    assert 'the values range from 0 to 100' in str(e.value) and 'divide them by 100' in str(e.value) and str(path) in str(e.value)


def test_byte_order_marks_are_named(lab_root, solution, capsys):
    path = solution[0]
    path.write_bytes(b'\xef\xbb\xbf' + path.read_bytes())                  # Excel's 'CSV UTF-8', Notepad
    assert validate_solution(path, lab_root).shape == (10, 3)
    out = capsys.readouterr().out
    assert str(path) in out and 'UTF-8 byte-order mark (BOM' in out and 'without BOM' in out
    path.write_bytes(b'\xff\xfe' + path.read_bytes()[3:].decode().encode('utf-16-le'))   # Excel's 'Unicode text'
    with pytest.raises(LabkitError, match=r"is UTF-16 text .*Save it as 'CSV UTF-8'"): validate_solution(path, lab_root)


def test_non_finite_prediction_names_row_clip_and_column(lab_root, tmp_path):
    ids = kaggle_clip_ids(lab_root)
    for bad in (np.nan, np.inf, -np.inf):
        preds = np.full((10, 3), 0.5); preds[3, 1] = bad; preds[7, 2] = bad
        with pytest.raises(LabkitError, match=rf"prediction row 3 \(clip {ids[3]}\.fused\.full\.npy\.gz\), column 'energy' is "
                                              rf"{re.escape(str(bad))} \(2 NaN or inf value\(s\) in 2 row\(s\)\)"):
            write_solution(ids, preds, tmp_path / 's.txt')
    heads = {a: torch.full((10, 1), 0.5) for a in AFFECT}; heads['danceability'][9] = float('nan')
    with pytest.raises(LabkitError, match="row 9 .* column 'danceability' is nan"): write_solution(ids, heads, tmp_path / 's.txt')
    assert not (tmp_path / 's.txt').exists()


def test_unwritable_or_unreadable_paths_are_named(lab_root, tmp_path):
    ids, preds = kaggle_clip_ids(lab_root), np.full((10, 3), 0.5)
    with pytest.raises(LabkitError, match='is a folder; pass the solution file'): write_solution(ids, preds, tmp_path)
    (tmp_path / 'file').write_text('x')
    with pytest.raises(LabkitError, match=r'Cannot write the solution file .*file/s.txt'):
        write_solution(ids, preds, tmp_path / 'file' / 's.txt')
    with pytest.raises(LabkitError, match='is a folder'): validate_solution(tmp_path, lab_root)
    (tmp_path / 'binary.txt').write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LabkitError, match='binary.txt cannot be read as a text table'): validate_solution(tmp_path / 'binary.txt', lab_root)
    model = create_model('lstm', input_dim=140, hidden_size=4, num_layers=1, n_targets=3)
    with pytest.raises(LabkitError, match='batch_size=0 is not valid'):
        predict_solution(model, lab_root, tmp_path / 'p.txt', batch_size=0, device='cpu')
