"The base module: where the data is (a given folder, $LABKIT_DATA, or the embedded corpus), where the cache is, and bad input to both."
import re, shutil
from pathlib import Path
import pytest
import labkit.synth.find
from labkit.data import FOLDERS
from labkit.core import LabkitError, cache_dir
from labkit.synth import data_root


def test_every_module_uses_one_error_class():
    import labkit.data.layout, labkit.audio.io, labkit.metrics.classification, labkit.models.registry
    import labkit.train.multitask, labkit.train.loop, labkit.train.transfer
    for m in (labkit.data.layout, labkit.audio.io, labkit.metrics.classification, labkit.models.registry,
              labkit.train.multitask, labkit.train.loop, labkit.train.transfer):
        assert m.LabkitError is LabkitError, m.__name__


def test_given_folder_kaggle_nesting_and_env(lab_root, tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_DATA", raising=False)
    assert data_root(lab_root) == lab_root
    nested = tmp_path / "patreco3-multitask-affective-music"
    nested.mkdir(); shutil.move(str(lab_root), nested / "data")
    assert data_root(nested) == nested / "data"
    monkeypatch.setenv("LABKIT_DATA", str(nested))
    assert data_root() == nested / "data"
    from labkit.data import SpectrogramDataset
    assert SpectrogramDataset(None, "genre", verbose=False).folder.parent == nested / "data"


def test_no_folder_gives_the_embedded_corpus_of_the_preset(tmp_path, monkeypatch):
    monkeypatch.delenv("LABKIT_DATA", raising=False)
    asked = []
    monkeypatch.setattr(labkit.synth.find, "make_corpus", lambda preset="small": asked.append(preset) or tmp_path / preset)
    assert data_root() == tmp_path / "small" and data_root(preset="tiny") == tmp_path / "tiny"
    assert asked == ["small", "tiny"]
    monkeypatch.setenv("LABKIT_DATA", "")  # set but empty: as if unset
    assert data_root(preset="tiny") == tmp_path / "tiny"


@pytest.mark.parametrize("value", [42, "", "   ", ["a"]])
def test_bad_data_dir_values_are_named(value):
    with pytest.raises(LabkitError, match=re.escape(f"data_dir={value!r} is not valid")): data_root(value)


def test_missing_empty_and_file_roots(tmp_path, lab_root):
    with pytest.raises(LabkitError, match="does not exist"): data_root(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabkitError, match="holds none of the dataset folders"): data_root(tmp_path / "empty")
    path = lab_root / FOLDERS["genre"] / "train_labels.txt"
    with pytest.raises(LabkitError, match=rf"{re.escape(str(path))} is a file, not a folder.*{re.escape(str(lab_root))}") as e:
        data_root(path)
    assert "does not exist" not in str(e.value)


def test_data_dir_symlink_loop(tmp_path):
    loop = tmp_path / "loop"; loop.symlink_to(loop)
    with pytest.raises(LabkitError, match=r"loop is a symbolic link loop"): data_root(loop)


def test_cache_dir_in_a_source_checkout_a_wheel_and_from_the_env(tmp_path, monkeypatch):
    import labkit
    monkeypatch.delenv("LABKIT_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    checkout = Path(labkit.__file__).resolve().parent.parent
    assert (checkout / "settings.ini").is_file()   # the tests run from the checkout
    assert cache_dir() == checkout / "data" / "cache"
    fake = tmp_path / "src"; (fake / "labkit").mkdir(parents=True); (fake / "data").mkdir()
    (fake / "settings.ini").write_text("[DEFAULT]\n")
    monkeypatch.setattr(labkit, "__file__", str(fake / "labkit" / "__init__.py"))
    assert cache_dir() == fake / "data" / "cache"
    wheel = tmp_path / "site-packages"; (wheel / "labkit").mkdir(parents=True)
    monkeypatch.setattr(labkit, "__file__", str(wheel / "labkit" / "__init__.py"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "labkit"
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
