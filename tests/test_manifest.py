"""Manifests of downloaded data: write one, check a copy against it (missing, changed, extra files and known faults),
a second check reads no unchanged file again; the `labkit data manifest` and `labkit data validate` commands."""
import json
import numpy as np, pytest, soundfile as sf

from labkit.cli import main
from labkit.core import LabkitError
from labkit.data import MANIFEST_NAME, is_debris, validate_dataset, write_manifest


def gtzan(root):
    for g in ("jazz", "rock"):
        for k in range(3): (root / "genres" / g).mkdir(parents=True, exist_ok=True); sf.write(root / "genres" / g / f"{g}.{k:05d}.wav", np.full(80, k / 10, np.float32), 8000)
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")   # GTZAN's known unreadable clip
    (root / "genres" / "rock" / "._rock.00000.wav").write_bytes(b"x")                          # macOS debris: not data
    return root


def test_round_trip_names_missing_changed_and_extra_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    root = gtzan(tmp_path / "GTZAN")
    path = write_manifest(root, tmp_path / "class.json")
    m = json.loads(path.read_text())
    assert m["n_files"] == 7 and m["layout"] == "gtzan" and set(m["files"]) >= {"genres/jazz/jazz.00000.wav"}
    assert "fault-filtered split are missing" in m["note"]      # six clips of GTZAN: its split cannot be counted, and it says why
    assert len(m["files"]["genres/rock/rock.00002.wav"]["sha256"]) == 64 and "genres/rock/._rock.00000.wav" not in m["files"]
    rep = validate_dataset(root, path)
    assert rep["ok"] and rep["hashed"] == 0 and rep["faults"] == ["genres/jazz/jazz.00054.wav: GTZAN's jazz.00054.wav is unreadable "
                                                                   "in most copies; read_gtzan skips it and counts it"]
    (root / "genres/rock/rock.00001.wav").unlink()
    f = root / "genres/jazz/jazz.00002.wav"; data = bytearray(f.read_bytes()); data[-1] ^= 1; f.write_bytes(bytes(data))  # same size
    (root / "genres/rock/notes.txt").write_text("mine")
    rep = validate_dataset(root, path)
    assert (rep["missing"], rep["changed"], rep["extra"], rep["ok"]) == (["genres/rock/rock.00001.wav"], ["genres/jazz/jazz.00002.wav"],
                                                                         ["genres/rock/notes.txt"], False)
    assert rep["hashed"] == 2                                   # only the changed and the new file were read again
    out = capsys.readouterr().out
    assert "1 missing (unpack the whole archive again): genres/rock/rock.00001.wav" in out and "1 changed" in out and "1 extra" in out


def test_a_builder_in_a_temporary_folder_names_the_final_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    tmp = gtzan(tmp_path / ".GTZAN.tmp-123")                       # renamed to GTZAN once the build is done
    m = json.loads(write_manifest(tmp, name="GTZAN").read_text())
    assert m["dataset"] == "GTZAN" and (tmp / MANIFEST_NAME).exists()
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'GTZAN' / MANIFEST_NAME}: ")   # the line shows where it will be


def test_the_data_home_exports_the_manifest_and_fault_names():
    import labkit.data, labkit.data.faults, labkit.data.manifest
    for mod in (labkit.data.faults, labkit.data.manifest):
        assert all(getattr(labkit.data, n) is getattr(mod, n) for n in mod.__all__)
    assert MANIFEST_NAME == "labkit-manifest.json" and is_debris("__MACOSX/x.wav") and not is_debris("a/x.wav")


def test_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    root = gtzan(tmp_path / "GTZAN")
    assert main(["data", "manifest", str(root)]) == 0 and (root / "labkit-manifest.json").is_file()
    assert main(["data", "validate", str(root)]) == 0
    (root / "genres/rock/rock.00001.wav").unlink()
    assert main(["data", "validate", str(root), "--manifest", str(root / "labkit-manifest.json")]) == 1
    assert main(["data", "validate", str(root), "--manifest", str(tmp_path / "none.json")]) != 0
    assert "manifest" in capsys.readouterr().err + capsys.readouterr().out
    with pytest.raises(LabkitError, match="does not exist"): validate_dataset(root, tmp_path / "none.json")
