"Models: shapes for every lab input, the official LSTM last step, padding that does not leak in, creation by name."
import pytest, torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from labkit.core import LabkitError
import labkit.models.registry
from labkit.models import (CNNBackbone, Classifier, LSTMBackbone, MultiHead, Regressor, count_parameters,
                           create_model, list_models, register_model)

torch.manual_seed(0)
SMALL_CNN = dict(channels=(4, 8, 8, 8))


@pytest.mark.parametrize('F', [128, 12, 140])
@pytest.mark.parametrize('T', [1293, 129, 26, 3])
def test_backbone_shapes_for_lab_inputs(F, T):
    x, lengths = torch.randn(2, T, F), torch.tensor([T, max(1, T // 2)])
    lstm = LSTMBackbone(F, hidden_size=8)
    assert lstm(x, lengths).shape == (2, 16) and lstm.feature_size == 16
    cnn = CNNBackbone(**SMALL_CNN)
    assert cnn(x, lengths).shape == (2, cnn.feature_size) == (2, 32)


@pytest.mark.parametrize('packed', [True, False])
@pytest.mark.parametrize('bidirectional', [True, False])
def test_lstm_last_step_is_the_official_one(bidirectional, packed):
    m = LSTMBackbone(5, hidden_size=6, num_layers=2, bidirectional=bidirectional, packed=packed).eval()
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 1, 4, 7])
    out, _ = pad_packed_sequence(m.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[0],
                                 batch_first=True)
    expected = out[torch.arange(4), lengths - 1, :6]
    if bidirectional: expected = torch.cat([expected, out[:, 0, 6:]], 1)
    torch.testing.assert_close(m(x, lengths), expected)


def test_lstm_paths_agree_in_training_including_gradients():
    "The packed path and the dense CPU path are the same function: equal outputs and equal gradients."
    torch.manual_seed(0)
    m = LSTMBackbone(5, hidden_size=6, num_layers=3, dropout=0.0).train()
    x, lengths = torch.randn(5, 11, 5), torch.tensor([11, 2, 7, 1, 9])
    grads = {}
    for packed in (True, False):
        m.zero_grad(); m.packed = packed
        out = m(x, lengths); (out ** 2).sum().backward()
        grads[packed] = (out.detach(), [p.grad.clone() for p in m.parameters()])
    torch.testing.assert_close(grads[True][0], grads[False][0])
    for a, b in zip(grads[True][1], grads[False][1]): torch.testing.assert_close(a, b)


@pytest.mark.parametrize('packed', [True, False])
def test_lstm_ignores_padding_and_none_means_full(packed):
    m = LSTMBackbone(5, hidden_size=6, packed=packed).eval()
    x = torch.randn(3, 10, 5)
    lengths = torch.tensor([10, 4, 6])
    feats = m(x, lengths)
    for i, L in enumerate(lengths.tolist()):
        torch.testing.assert_close(feats[i:i + 1], m(x[i:i + 1, :L]))
    garbage = x.clone(); garbage[1, 4:] = 1e3
    torch.testing.assert_close(m(garbage, lengths), feats)
    torch.testing.assert_close(m(x), m(x, torch.tensor([10, 10, 10])))


@torch.no_grad()
def test_cnn_mask_limits_the_effect_of_padding():
    torch.manual_seed(0)
    cnn = CNNBackbone(**SMALL_CNN).eval()
    clip = torch.randn(1, 64, 128) * 10 - 40
    padded = torch.cat([clip, torch.zeros(1, 192, 128)], 1)
    alone = cnn(clip)
    rel = lambda a: float((a - alone).norm() / alone.norm())
    assert rel(cnn(padded, torch.tensor([64]))) < 0.5 * rel(cnn(padded))
    # the frames after the true length do not matter at all past the receptive field
    other = padded.clone(); other[:, 128:] = 99.0
    torch.testing.assert_close(cnn(other, torch.tensor([64])), cnn(padded, torch.tensor([64])))


def test_gradients_reach_every_parameter():
    for model in [create_model('lstm', input_dim=12, hidden_size=8, n_classes=3), create_model('cnn', n_targets=2, **SMALL_CNN)]:
        model(torch.randn(3, 30, 12), torch.tensor([30, 10, 20])).sum().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_heads():
    bb = LSTMBackbone(4, hidden_size=5)
    x, lengths = torch.randn(2, 7, 4), torch.tensor([7, 3])
    assert Classifier(bb, 10)(x, lengths).shape == (2, 10)
    assert Regressor(bb)(x, lengths).shape == (2, 1)
    assert Regressor(bb, 3).embed(x, lengths).shape == (2, 10)
    out = MultiHead(bb, {'valence': 1, 'genre': 10})(x, lengths)
    assert {k: v.shape for k, v in out.items()} == {'valence': (2, 1), 'genre': (2, 10)}
    with pytest.raises(LabkitError, match='at least one head'): MultiHead(bb, {})


def test_registry_and_create_model(monkeypatch):
    assert {'lstm', 'cnn'} <= set(list_models()) and list_models('cn*') == ['cnn']
    m = create_model('lstm', input_dim=140, n_classes=10)
    assert isinstance(m, Classifier) and m.backbone.lstm.input_size == 140 and m.backbone.lstm.num_layers == 2
    assert m.backbone.lstm.hidden_size == 128 and m.backbone.bidirectional
    assert isinstance(create_model('cnn', n_targets=3), Regressor)
    assert isinstance(create_model('cnn', heads={'valence': 1, 'energy': 1}), MultiHead)
    assert isinstance(create_model('lstm'), LSTMBackbone)
    assert create_model('cnn', n_classes=4, **SMALL_CNN).config == {'name': 'cnn', 'n_classes': 4, **SMALL_CNN}

    monkeypatch.setattr(labkit.models.registry, '_MODELS', dict(labkit.models.registry._MODELS))  # the registration below is undone after the test
    @register_model
    def tiny_lstm(n_classes=None, **kw): return create_model('lstm', hidden_size=4, n_classes=n_classes, **kw)
    assert 'tiny_lstm' in list_models('tiny*') and count_parameters(create_model('tiny_lstm', input_dim=3)) < 1000


def test_frozen_parameters_are_not_counted_as_trainable():
    m = create_model('cnn', n_classes=2, **SMALL_CNN)
    for p in m.backbone.parameters(): p.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == 32 * 2 + 2 < count_parameters(m)


@pytest.mark.parametrize('call, msg', [
    (lambda: create_model('transformer'), 'available'),
    (lambda: create_model('cnn', n_classes=2, heads={'a': 1}), 'only one'),
    (lambda: LSTMBackbone(4)(torch.randn(7, 4)), r'\(B, T, F\)'),
    (lambda: LSTMBackbone(4)(torch.randn(2, 7, 4), torch.tensor([7, 0])), '1..7'),
    (lambda: CNNBackbone()(torch.randn(2, 7, 4), torch.tensor([8, 2])), '1..7'),
    (lambda: LSTMBackbone(4)(torch.randn(2, 7, 4), torch.tensor([7])), 'one length per clip'),
])
def test_bad_inputs_raise_labkit_error(call, msg):
    with pytest.raises(LabkitError, match=msg): call()
