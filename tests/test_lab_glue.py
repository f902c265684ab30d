"""The glue the labs share (`labkit.teach.labs`) where the notebook's checks do not reach: outside IPython, with a real
multi-head model, and in the lab notebooks themselves."""
import json

import nbformat, numpy as np, pytest, torch

from labkit.core.errors import LabkitError
from labkit.data import AFFECT, FOLDERS, write_fixture
from labkit.models import create_model
from labkit.run.params import list_labs
from labkit.teach.labs import lab_metrics, setup_lab, stack_heads, write_metrics
from labkit.train import make_loader, predict


def test_a_lab_without_its_data_writes_why_and_later_labs_read_it_as_not_run(tmp_path, capsys):
    "Outside IPython no later cell can be emptied: setup_lab writes the reason, says it, and returns."
    data = write_fixture(tmp_path / "data", n_train=4, n_test=2)
    (data / FOLDERS["multitask"] / "train_labels.txt").unlink()
    run = tmp_path / "run"
    lab = setup_lab("04_regression", data, out_dir=run / "04_regression", device="cpu", needs="affect",
                    so="there is nothing to regress")
    assert (lab.root, lab.out, str(lab.device)) == (data, run / "04_regression", "cpu")
    skipped = json.loads((run / "04_regression" / "metrics.json").read_text())["skipped"]
    assert skipped == f"{data} has no affect labels (the multitask_dataset folders), so there is nothing to regress"
    said = capsys.readouterr().out
    assert said.startswith(f"data: {data}\ndevice: cpu\n") and f"skipped: {skipped}" in said
    assert lab_metrics(run / "05_transfer", "regression_metrics") is None            # skipped: not a result to compare with
    write_metrics(run / "04_regression", {"spearman": {"cnn": {"valence": np.float32(0.25)}}})
    assert lab_metrics(run / "05_transfer", "regression_metrics") == {"spearman": {"cnn": {"valence": 0.25}}}


def test_lab_9_ends_on_data_that_is_not_the_embedded_corpus(tmp_path):
    data = write_fixture(tmp_path / "data", n_train=4, n_test=2)
    setup_lab("09_ast", data, out_dir=tmp_path / "09_ast", device="cpu", needs="tags")
    skipped = json.loads((tmp_path / "09_ast" / "metrics.json").read_text())["skipped"]
    assert skipped.startswith(f"{data} is not an embedded corpus: the tags this lab learns") and "read_fsd50k" in skipped


def test_an_unknown_need_fails_before_any_folder_is_made(tmp_path):
    with pytest.raises(LabkitError, match="'affect', 'tags'"):
        setup_lab("04_regression", tmp_path / "nowhere", out_dir=tmp_path / "out", needs="afect")
    assert not (tmp_path / "out").exists()


def test_stack_heads_reads_a_multihead_models_outputs_in_the_order_asked():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("cnn", heads={a: 1 for a in AFFECT}, channels=(4, 8))
        items = [(torch.randn(16, 128), torch.zeros(3), 16) for _ in range(5)]
    preds = predict(model, make_loader(items, batch_size=2, shuffle=False), device="cpu")
    assert isinstance(preds, dict) and set(preds) == set(AFFECT)
    order = list(AFFECT)[::-1]
    got = stack_heads(preds, order)
    assert got.shape == (5, 3)
    for k, a in enumerate(order): np.testing.assert_array_equal(got[:, k], np.asarray(preds[a])[:, 0])


@pytest.mark.parametrize("lab", list_labs(), ids=lambda p: p.stem)
def test_every_lab_writes_its_metrics_through_write_metrics(lab):
    "One writer for every metrics.json: the same JSON (numpy numbers included) for the summary and the later labs."
    code = "\n".join(c.source for c in nbformat.read(lab, as_version=4).cells if c.cell_type == "code")
    assert "write_metrics(out, metrics" in code, f"{lab.name} does not write its metrics with write_metrics"
    assert "metrics.json\").write_text" not in code, f"{lab.name} writes a metrics.json by hand"
