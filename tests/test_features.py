"Feature extraction: agreement with librosa's recipe and with torchaudio, beat-sync lengths, bad audio, caching, workers."
import time, warnings
import numpy as np, pytest, soundfile as sf, torch, librosa
import labkit.audio as lf
import labkit.audio.extract as lfx
from labkit.core import LabkitError
from labkit.audio import (SR, HOP, Normalizer, SpecAugment, TorchMel, beat_sync_fused, chromagram, click_tone,
                          extract_features, extract_folder, load_audio, mel_spectrogram, reference_features)
from conftest import MEL_ATOL, MEL_MEAN_ATOL


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def music():
    "Two short clips of the synthetic corpus: a drum-driven one and a sparse one."
    from labkit.synth import make_clip
    return [make_clip("Electronic", seed=5, seconds=6.0)[0], make_clip("Folk", seed=2, seconds=6.0)[0]]


@pytest.mark.slow  # librosa's reference recipe on two 6 s clips
def test_fast_path_equals_the_official_recipe(music):
    for y in music:
        fast, ref = extract_features(y), reference_features(y)
        np.testing.assert_allclose(fast["full"], ref["full"], atol=1e-4)
        assert fast["beat"].shape == ref["beat"].shape
        np.testing.assert_allclose(fast["beat"], ref["beat"], atol=1e-3)


def test_beat_synced_length_is_beats_plus_one(music):
    for y in music:
        b = beat_sync_fused(y)                      # first: labkit's features compile numba's code under its lock
        _, beats = librosa.beat.beat_track(y=librosa.effects.percussive(y), sr=SR)
        assert b.shape == (140, len(beats) + 1)
    drone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * SR) / SR)).astype(np.float32)
    f = extract_features(drone)
    assert f["beat"].shape == (140, len(f["beats"]) + 1)  # also when no beat is found


def test_shapes_and_ranges():
    y = click_tone(3.0)
    m = mel_spectrogram(y)
    assert m.shape == (128, 1 + len(y) // HOP) and m.max() == 0 and m.min() >= -80
    for method in ("cqt", "stft"):
        c = chromagram(y, method=method)
        assert c.shape == (12, m.shape[1]) and 0 <= c.min() and c.max() <= 1 + 1e-6


@pytest.mark.parametrize("seconds", [0.5, 3.0])
def test_torchaudio_agrees_with_librosa(music, seconds):
    mel = TorchMel()
    for y in music:
        y = y[: int(seconds * SR)]
        d = np.abs(mel(y).numpy() - mel_spectrogram(y))
        assert d.max() < MEL_ATOL and d.mean() < MEL_MEAN_ATOL
    batch = mel(torch.from_numpy(np.stack([music[0][:SR], music[1][:SR]])))
    assert batch.shape == (2, 128, 1 + SR // HOP)
    np.testing.assert_allclose(batch[1].numpy(), mel_spectrogram(music[1][:SR]), atol=MEL_ATOL)


def test_deterministic(music):
    a, b = extract_features(music[0]), extract_features(music[0].copy())
    assert np.array_equal(a["full"], b["full"]) and np.array_equal(a["beat"], b["beat"])


def _folder(tmp_path):
    d = tmp_path / "audio"; d.mkdir()
    y = click_tone(2.0)
    sf.write(d / "10.wav", y, SR)
    sf.write(d / "11.flac", librosa.resample(y, orig_sr=SR, target_sr=16000), 16000)  # another rate
    return d, y


def _truncated(path, fmt, subtype):
    "A 3 s file cut after 1 s of audio, as an interrupted copy leaves it: the header still promises 3 s."
    sf.write(path, click_tone(3.0), SR, format=fmt, subtype=subtype)
    data = path.read_bytes()
    header = len(data) - 3 * SR * sf.info(path).channels * {"PCM_16": 2, "PCM_24": 3}[subtype]
    path.write_bytes(data[:header + (len(data) - header) // 3])


@pytest.mark.parametrize("name,write,msg", [
    ("bad.wav", lambda p: p.write_bytes(b"RIFF\x00garbage"), "Cannot read audio file"),
    ("empty.wav", lambda p: sf.write(p, np.zeros(0, np.float32), SR), "empty"),
    ("quiet.wav", lambda p: sf.write(p, np.zeros(SR, np.float32), SR), "silent"),
    ("short.wav", lambda p: sf.write(p, click_tone(1.0)[:1000], SR), "one analysis window"),
    ("nan.wav", lambda p: sf.write(p, np.where(np.arange(SR) == 50, np.nan, click_tone(1.0)), SR, subtype="FLOAT"),
     "1 NaN or infinite sample"),
    ("inf.wav", lambda p: sf.write(p, np.where(np.arange(SR) > SR // 2, np.inf, click_tone(1.0)), SR, subtype="FLOAT"),
     "NaN or infinite sample.*first at 0.500 s"),
    ("cut.wav", lambda p: _truncated(p, "WAV", "PCM_16"), r"header promises 3.00 s .* holds only 1.00 s"),
    ("cut24.wav", lambda p: _truncated(p, "WAV", "PCM_24"), r"header promises 3.00 s .* holds only 1.00 s"),
    ("cut.aiff", lambda p: _truncated(p, "AIFF", "PCM_16"), r"header promises 3.00 s .* holds only 1.00 s"),
])
def test_bad_audio_is_named_or_skipped(tmp_path, name, write, msg):
    d, _ = _folder(tmp_path)
    write(d / name)
    with pytest.raises(LabkitError, match=msg) as e:
        extract_folder(d, n_jobs=1, progress=False)
    assert name in str(e.value)
    for n_jobs in (1, 2):  # skipped exactly that file, here and in worker processes
        with pytest.warns(UserWarning, match="skipped 1 of 3"):
            res = extract_folder(d, n_jobs=n_jobs, on_error="skip", cache=False, progress=False)
        assert len(res.skipped) == 1 and name in res.skipped[0][0] and sorted(res.features) == ["10", "11"]
        assert name in res.skipped[0][1]


def test_truncated_file_is_refused_by_load_audio(tmp_path):
    _truncated(tmp_path / "cut.wav", "WAV", "PCM_16")
    assert sf.info(tmp_path / "cut.wav").duration == pytest.approx(1.0, abs=0.01)  # soundfile alone sees nothing wrong
    with pytest.raises(LabkitError, match=r"cut.wav is truncated: its header promises 3.00 s \(66150 frames at 22050 Hz\) "
                                          r"but the file holds only 1.00 s.*copy or export the file again"):
        load_audio(tmp_path / "cut.wav", check=False)
    sf.write(tmp_path / "whole.wav", click_tone(3.0), SR)
    assert len(load_audio(tmp_path / "whole.wav")) == 3 * SR  # an intact file is untouched


def test_non_finite_samples_are_named_before_resampling(tmp_path):
    y = click_tone(1.0); y[300] = np.nan
    sf.write(tmp_path / "nan.wav", np.stack([y, y], axis=1), 44100, subtype="FLOAT")  # stereo, another rate
    with pytest.raises(LabkitError, match="nan.wav holds 2 NaN or infinite sample"):
        load_audio(tmp_path / "nan.wav")
    for fn in (extract_features, mel_spectrogram, chromagram):  # in memory too: our message, not librosa's
        with pytest.raises(LabkitError, match="waveform holds 1 NaN"): fn(y)
    with pytest.raises(LabkitError, match=r"to_mono\(y.T\)"): extract_features(np.stack([y, y], axis=1))


def _flaky_load(path, sr=SR, check=True):
    if str(path).endswith("11.flac"): raise ValueError("decoder exploded")
    return _real_load(path, sr, check)

_real_load = load_audio


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_any_exception_of_one_file_is_named_or_skipped(tmp_path, monkeypatch, n_jobs):
    d, _ = _folder(tmp_path)
    monkeypatch.setattr(lfx, "load_audio", _flaky_load)  # workers are forked: they inherit the patch
    with pytest.raises(LabkitError, match=r"11.flac: feature extraction failed \(ValueError: decoder exploded\)"):
        extract_folder(d, n_jobs=n_jobs, cache=False, progress=False)
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        res = extract_folder(d, n_jobs=n_jobs, on_error="skip", cache=False, progress=False)
    assert [(p.rsplit("/", 1)[-1], "decoder exploded" in r) for p, r in res.skipped] == [("11.flac", True)]
    assert sorted(res.features) == ["10"]


def test_unwritable_cache_warns_and_still_returns_results(tmp_path, monkeypatch):
    d, _ = _folder(tmp_path)
    def full(*a, **k): raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    with pytest.warns(UserWarning, match=r"could not write 2 result\(s\) to the feature cache.*No space left"):
        res = extract_folder(d, n_jobs=1, progress=False)
    assert sorted(res.features) == ["10", "11"] and not list((tmp_path / "cache").rglob("*.npz"))


@pytest.mark.parametrize("call,msg", [
    (lambda y, d: mel_spectrogram(y, sr=0), "sr=0 is not valid"),
    (lambda y, d: mel_spectrogram(y, n_mels=0), "n_mels=0 is not valid"),
    (lambda y, d: mel_spectrogram(y, hop_length=-512), "hop_length=-512 is not valid"),
    (lambda y, d: mel_spectrogram(y, n_fft=1024.5), "n_fft=1024.5 is not valid"),
    (lambda y, d: chromagram(y, hop_length=0), "hop_length=0 is not valid"),
    (lambda y, d: lf.mfcc(y, n_mfcc=0), "n_mfcc=0 is not valid"),
    (lambda y, d: extract_features(y, sr=-1), "sr=-1 is not valid"),
    (lambda y, d: click_tone(seconds=-2), "seconds=-2 is not valid"),
    (lambda y, d: lf.check_audio(y, sr=0), "sr=0 is not valid"),
    (lambda y, d: load_audio(d / "10.wav", sr=0), "sr=0 is not valid"),
    (lambda y, d: TorchMel(hop_length=0), "hop_length=0 is not valid"),
    (lambda y, d: SpecAugment(freq_mask=-1), "freq_mask=-1 is not valid"),
    (lambda y, d: SpecAugment(p=2), "p=2 is not valid"),
    (lambda y, d: Normalizer(eps=0), "eps=0 is not valid"),
    (lambda y, d: lf.median_filter_axis(np.ones((4, 40)), size=0), "size=0 is not valid"),
    (lambda y, d: lf.hpss(librosa.stft(y), kernel_size=0), "kernel_size=0 is not valid"),
    (lambda y, d: extract_folder(d, sr=0, progress=False), "sr=0 is not valid"),
    (lambda y, d: extract_folder(d, n_jobs=0, progress=False), "n_jobs=0 is not valid"),
    (lambda y, d: extract_folder(d, n_jobs=-1, progress=False), "n_jobs=-1 is not valid"),
    (lambda y, d: extract_folder(d, chroma_method="CQT", on_error="skip", progress=False), "chroma_method='CQT' is not known"),
    (lambda y, d: extract_folder(d, beat_dir=d.parent / "b", progress=False), "only used with out_dir"),
    (lambda y, d: lf.list_audio(d / "10.wav"), "is a file, not a folder"),
])
def test_bad_settings_are_named(tmp_path, call, msg):
    d, y = _folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a setting's error, never a skip of every file
        with pytest.raises(LabkitError, match=msg): call(y, d)


def test_other_sample_rate_is_resampled(tmp_path):
    d, y = _folder(tmp_path)
    y16 = load_audio(d / "11.flac")
    assert len(y16) == len(y)
    res = extract_folder(d, n_jobs=1, progress=False)
    a, b = res.features["10"]["full"], res.features["11"]["full"]
    assert a.shape == b.shape
    assert np.abs(a[:40] - b[:40]).mean() < 1.0  # below 8 kHz the 16 kHz copy holds the same music


def _never(job): raise AssertionError(f"{job[0]} was extracted again instead of read from the cache")


def test_cache_hit_reads_instead_of_extracting_and_is_keyed_by_content(tmp_path, monkeypatch):
    d, _ = _folder(tmp_path)
    first = extract_folder(d, tmp_path / "out" / "spec", n_jobs=1, progress=False)
    assert first.n_cached == 0 and (tmp_path / "out" / "spec_beat" / "10.fused.full.npy").exists()
    with monkeypatch.context() as m:
        m.setattr(lfx, "_extract_one", _never)
        again = extract_folder(d, n_jobs=1, progress=False)
    assert again.n_cached == 2
    np.testing.assert_array_equal(again.features["10"]["full"], np.load(tmp_path / "out" / "spec" / "10.fused.full.npy"))
    (d / "10.wav").rename(d / "12.wav")  # same content, new name: still cached
    assert extract_folder(d, n_jobs=1, progress=False).n_cached == 2
    sf.write(d / "12.wav", click_tone(2.0, freq=330.0), SR)  # new content: recomputed
    assert extract_folder(d, n_jobs=1, progress=False).n_cached == 1


def test_parallel_equals_serial(tmp_path):
    d, _ = _folder(tmp_path)
    a = extract_folder(d, n_jobs=1, cache=False, progress=False)
    b = extract_folder(d, n_jobs=2, cache=False, progress=False)
    for k in a.features:  # workers use one BLAS thread: sums may round differently (~1e-6 dB)
        np.testing.assert_allclose(a.features[k]["beat"], b.features[k]["beat"], atol=1e-4)


def _die(job):
    import os; os._exit(3)


def test_dead_worker_raises_instead_of_hanging(tmp_path, monkeypatch):
    d, _ = _folder(tmp_path)
    monkeypatch.setattr(lfx, "_extract_one", _die)  # workers are forked: they inherit the patch
    with pytest.raises(LabkitError, match="worker process died"):
        extract_folder(d, n_jobs=2, cache=False, progress=False)


def test_specaugment_masks_in_training_only():
    x = torch.randn(200, 128) - 40
    aug = SpecAugment(freq_mask=30, time_mask=40, time_warp=5)
    torch.manual_seed(0); y = aug(x)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert ((y - x).abs() > 0).float().mean() > 0.01
    torch.manual_seed(0); assert torch.equal(aug(x), y)  # seeded: repeatable
    aug.eval(); assert torch.equal(aug(x), x)
    assert isinstance(SpecAugment()(x.numpy()), np.ndarray)


def test_normalizer_fits_train_only_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    train = [rng.normal(-30, 10, size=(100 + i, 140)) for i in range(5)]
    norm = Normalizer().fit(train)
    z = norm(np.concatenate(train))
    assert np.abs(z.mean(0)).max() < 1e-4 and np.abs(z.std(0) - 1).max() < 1e-3
    torch.save(norm.state_dict(), tmp_path / "n.pt")
    back = Normalizer(); back.load_state_dict(torch.load(tmp_path / "n.pt", weights_only=True))
    np.testing.assert_allclose(back(train[0]), norm(train[0]), atol=1e-6)
    # inside a model's state_dict
    model = torch.nn.Sequential(Normalizer().fit(train), torch.nn.Linear(140, 2))
    model2 = torch.nn.Sequential(Normalizer(), torch.nn.Linear(140, 2)); model2.load_state_dict(model.state_dict())
    assert torch.equal(model2[0].mean, model[0].mean)
    with pytest.raises(LabkitError, match="not fitted"): Normalizer()(train[0])
    with pytest.raises(LabkitError, match="no data"): Normalizer().fit([])


def test_normalizer_from_dataset_ignores_padding(tmp_path):
    from labkit.data import SpectrogramDataset, write_fixture
    root = write_fixture(tmp_path / "data", n_train=12, n_test=4)
    padded = SpectrogramDataset(root, "genre", "train", max_length="max", verbose=False)
    plain = SpectrogramDataset(root, "genre", "train", verbose=False)
    a, b = Normalizer().fit(padded), Normalizer().fit(plain)
    torch.testing.assert_close(a.mean, b.mean); torch.testing.assert_close(a.std, b.std)
