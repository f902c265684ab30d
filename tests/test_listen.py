"""labkit.viz.listen at its edges: clips of any length and layout, what a player's HTML holds and what it weighs,
and labels that are not FMA's. The renderings' sound itself is checked in nbs/07_viz/05_listen.ipynb."""
import base64, io, re, wave

import numpy as np
import pytest
import torch

from labkit.core.errors import LabkitError
from labkit.viz import listen
from labkit.viz.listen import (LISTEN_SR, Players, beat_clicks, beat_grid, beat_synced_mel, chroma_to_audio,
                               mel_to_audio, mfcc_to_audio, player)

HOP_S = 512 / 22050   # seconds per frame of the dataset's features


def fused(T, seed=0):
    "A random fused clip (T, 140) in the dataset's ranges: mel dB in -80..0 over chroma in 0..1."
    rng = np.random.default_rng(seed)
    return np.hstack([rng.uniform(-80, 0, (T, 128)), rng.uniform(0, 1, (T, 12))]).astype(np.float32)


def wav_of(html):
    "The WAV file inside one player's HTML, opened."
    return wave.open(io.BytesIO(base64.b64decode(re.search(r'src="data:audio/wav;base64,([^"]+)"', html).group(1))))


@pytest.mark.parametrize("T", [1, 2, 5, 40])
def test_clips_shorter_than_the_excerpt_give_shorter_sound(T):
    x = fused(T)
    mel, chroma = mel_to_audio(x), chroma_to_audio(x)
    assert 0 < len(mel) <= max(T - 1, 1) * HOP_S * LISTEN_SR + 2          # Griffin-Lim: one hop per frame after the first
    assert len(chroma) == pytest.approx(T * HOP_S * LISTEN_SR, abs=1)
    assert mel.dtype == chroma.dtype == np.float32 and np.isfinite(mel).all() and np.isfinite(chroma).all()


def test_a_long_clip_gives_the_excerpt_asked_for():
    x = fused(2000)   # about 46 s
    assert len(mel_to_audio(x, seconds=2.0)) / LISTEN_SR == pytest.approx(2.0, abs=0.05)
    assert len(chroma_to_audio(x, seconds=1.0, start=40.0)) / LISTEN_SR == pytest.approx(1.0, abs=0.05)
    assert len(mel_to_audio(x[:300], seconds=None)) / LISTEN_SR == pytest.approx(299 * HOP_S, abs=0.01)   # the whole clip
    assert len(mel_to_audio(x, seconds=1.0, rate=16000)) / 16000 == pytest.approx(1.0, abs=0.05)


def test_tensors_and_the_parts_of_a_fused_clip():
    x = fused(60)
    np.testing.assert_array_equal(mel_to_audio(torch.from_numpy(x)), mel_to_audio(x[:, :128]))   # a dataset item as it comes
    np.testing.assert_array_equal(chroma_to_audio(x), chroma_to_audio(x[:, 128:]))
    np.testing.assert_array_equal(mel_to_audio(x), mel_to_audio(x))                            # seeded: the same sound twice


def test_mfcc_and_other_mel_front_ends():
    rng = np.random.default_rng(1)
    sound = mfcc_to_audio(rng.normal(size=(61, 20)), sr=16000, hop_length=256, n_fft=1024, rate=16000)
    assert len(sound) == 60 * 256                                            # lab 8's 61 frames at 16 kHz: 0.96 s
    logmel = mel_to_audio(rng.uniform(-80, 0, (61, 128)), sr=16000, hop_length=256, n_fft=1024, rate=16000)
    assert len(logmel) == 60 * 256
    assert len(mel_to_audio(rng.uniform(-80, 0, (30, 64)), n_mels=64)) > 0


@pytest.mark.parametrize("call, says", [
    (lambda: mel_to_audio(fused(50)[:, :128].T), "pass mel.T"),
    (lambda: chroma_to_audio(fused(50)[:, 128:].T), "pass chroma.T"),
    (lambda: mel_to_audio(np.zeros((0, 128))), "no frames"),
    (lambda: mel_to_audio(np.zeros(128)), "expected 2-D frames"),
    (lambda: mel_to_audio(np.zeros((10, 100))), "expected (T, 128)"),
    (lambda: mel_to_audio(np.full((10, 128), np.nan)), "1280 NaN or infinite"),
    (lambda: mel_to_audio(fused(50), start=5.0), "past the end of the clip (50 frames, 1.16 s)"),
    (lambda: mel_to_audio(fused(50), seconds=0), "seconds=0 is not valid"),
    (lambda: mel_to_audio(fused(50), start=-1), "start=-1 is not valid"),
    (lambda: mel_to_audio(fused(50), rate=8000.5), "rate=8000.5 is not valid"),
    (lambda: mel_to_audio(fused(50), n_iter=0), "n_iter=0 is not valid"),
    (lambda: chroma_to_audio(fused(50), sharpen=0), "sharpen=0 is not valid"),
    (lambda: player(np.zeros((2, 10))), "expected a 1-D sound"),
    (lambda: player(np.array([0.1, np.inf])), "1 NaN or infinite"),
    (lambda: beat_clicks(np.zeros(0), [1]), "expected a 1-D sound"),
    (lambda: Players({}), "at least one entry"),
    (lambda: Players({"a": np.ones(10)}, columns=0), "columns=0 is not valid"),
])
def test_errors_name_the_value_and_the_fix(call, says):
    with pytest.raises(LabkitError) as e: call()
    assert says in str(e.value)


def test_the_beat_grid_on_short_and_silent_clips():
    assert beat_grid(fused(1)).size == 0 and beat_grid(fused(2)).size == 0     # too short for a tempo: no beats
    silent = np.full((200, 140), -80.0)
    assert beat_grid(silent).size == 0                                         # nothing happens: no beats
    held = beat_synced_mel(fused(30), [])                                      # no beats: one segment, the whole clip
    assert held.shape == (30, 128) and np.ptp(held, axis=0).max() == 0
    held = beat_synced_mel(fused(30), [0, 10, 10, 29, 30, 99])                 # edges, repeats and beats past the end
    assert held.shape == (30, 128) and np.ptp(held[10:29], axis=0).max() == 0
    audio = np.zeros(LISTEN_SR)
    np.testing.assert_array_equal(beat_clicks(audio, []), audio)               # no beats, silence: silence
    assert np.abs(beat_clicks(audio, [10])[2500:3500]).max() > 0.3            # a click where the beat is (0.23 s)
    assert np.abs(beat_clicks(audio, [10], start=1.0)).max() == 0              # a beat before the excerpt: no click


def test_a_player_holds_its_sound_in_the_audio_element():
    html = player(np.sin(np.arange(LISTEN_SR) / 5.0))
    assert html.startswith('<audio controls src="data:audio/wav;base64,') and "<source" not in html
    with wav_of(html) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels(), w.getnframes()) == (LISTEN_SR, 2, 1, LISTEN_SR)
    with wav_of(player(np.zeros(100))) as w:                                   # silence is written, not NaN
        assert set(w.readframes(100)) == {0}


@pytest.mark.parametrize("seconds, rate", [(1.0, 11025), (4.0, 11025), (0.96, 16000), (5.0, 16000)])
def test_what_a_saved_player_weighs(seconds, rate):
    "Two bytes a sample, a third more as base64, and a hundred characters of markup around it."
    n = int(seconds * rate)
    size = len(player(np.random.default_rng(0).normal(size=n), rate=rate))
    assert 4 * (44 + 2 * n) / 3 <= size <= 4 * (44 + 2 * n) / 3 + 120


def test_players_show_any_labels_two_to_a_row():
    sounds = {f"Gamelan {k}\n(distance {k / 3:.2f})": np.ones(50) * k for k in range(5)}
    sounds["<b>&"] = np.ones(50)
    shown = Players(sounds, columns=2, title="Neighbours")
    html = shown._repr_html_()
    assert html.count("<audio controls") == 6 and "max-width:512px" in html and "Neighbours" in html
    assert "Gamelan 1<br>(distance 0.33)" in html and "&lt;b&gt;&amp;" in html and "<b>&" not in html
    text = repr(shown)
    assert text.startswith("6 player(s) at 11025 Hz: Gamelan 0 (distance 0.00), Gamelan 1") and "\n" not in text
    assert len(repr(Players({"x" * 200: np.ones(10)}))) <= 150


def test_the_module_is_listed_in_the_package():
    import labkit.viz
    assert all(getattr(labkit.viz, n) is getattr(listen, n) for n in listen.__all__)
