"""rnnkit.models.char_encoder against torch.nn run on one word at a time, and padding guards."""

import pytest
import torch
from torch.nn import functional as F

from rnnkit.models.char_encoder import CharCNN, CharRNN

# words as character ids (0 is padding): lengths 3, 1, 5, 2
WORDS = [[5, 2, 7], [4], [3, 3, 8, 1, 6], [9, 2]]


def _batch(words: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([w + [0] * (width - len(w)) for w in words])


def _reference_rnn(encoder: CharRNN, word: list[int], cell: str) -> torch.Tensor:
    """torch.nn's bidirectional LSTM/GRU on the unpadded word; final states concatenated."""
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    rnn = module(encoder.rnn.input_size, encoder.rnn.hidden_size, bidirectional=True).double()
    rnn.load_state_dict(encoder.rnn.state_dict())
    _, state = rnn(encoder.embedding(torch.tensor(word))[:, None])  # (n, 1, E)
    h = state[0] if cell == "lstm" else state  # (2, 1, H)
    return torch.cat([h[0, 0], h[1, 0]])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_rnn_equals_torch_nn_on_each_word_alone(cell):
    torch.manual_seed(0)
    encoder = CharRNN(10, embedding_size=6, hidden_size=5, cell=cell).double().eval()
    out = encoder(_batch(WORDS, 7))  # (4, 10)
    assert out.shape == (4, 10) and encoder.output_size == 10
    for i, word in enumerate(WORDS):
        torch.testing.assert_close(out[i], _reference_rnn(encoder, word, cell))


def test_char_cnn_equals_a_convolution_of_each_word_alone():
    torch.manual_seed(0)
    encoder = CharCNN(10, embedding_size=6, num_filters=4, kernel_size=3).double().eval()
    out = encoder(_batch(WORDS, 8))
    for i, word in enumerate(WORDS):
        e = encoder.embedding(torch.tensor(word)).T[None]  # (1, E, n)
        h = F.conv1d(e, encoder.conv.weight, encoder.conv.bias, padding=1)  # zero-padded ends
        torch.testing.assert_close(out[i], h[0].amax(dim=1))


@pytest.mark.parametrize("make", [lambda: CharRNN(10, 6, 5), lambda: CharCNN(10, 6, 4, 5)])
def test_padding_width_neighbours_and_padded_words_change_nothing(make):
    torch.manual_seed(0)
    encoder = make().double().eval()
    alone = torch.stack([encoder(_batch([w], len(w)))[0] for w in WORDS])
    # a (B, T, L) batch of sentences: padded word positions and a wider character padding
    sentences = torch.zeros(2, 3, 9, dtype=torch.int64)
    sentences[0, :2] = _batch(WORDS[:2], 9)
    sentences[1, :2] = _batch(WORDS[2:], 9)
    out = encoder(sentences)  # (2, 3, D)
    torch.testing.assert_close(out[:, :2].reshape(4, -1), alone)
    assert out[:, 2].abs().sum() == 0  # a padded word position encodes to zeros
    # the padding embedding row never reaches a real word, whatever it holds
    with torch.no_grad():
        encoder.embedding.weight[0].fill_(3.0)
    torch.testing.assert_close(encoder(sentences)[:, :2].reshape(4, -1), alone)


def test_gradients_reach_only_the_characters_used():
    torch.manual_seed(0)
    encoder = CharRNN(12, 4, 3)
    encoder(_batch(WORDS[:2], 4)).sum().backward()
    used = encoder.embedding.weight.grad.abs().sum(dim=1) > 0
    assert used.nonzero().flatten().tolist() == [2, 4, 5, 7]


def test_empty_batches_and_bad_input():
    encoder = CharCNN(10, 6, 4)
    assert encoder(torch.zeros(2, 3, 4, dtype=torch.int64)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="integer character ids"):
        encoder(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="kernel_size must be a positive odd number"):
        CharCNN(10, 6, 4, kernel_size=2)
    with pytest.raises(ValueError, match="num_chars must be at least 2"):
        CharRNN(1, 6, 4)


@pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("make", [lambda: CharRNN(10, 6, 5), lambda: CharCNN(10, 6, 5, 3)])
def test_a_traced_encoder_takes_any_batch_and_width(make):
    """In a graph every row is encoded at the full width (no value-dependent shapes): the
    result equals eager's, padded words included, for sizes other than the traced ones."""
    torch.manual_seed(0)
    encoder = make().eval()
    traced_on = _batch(WORDS[:2], 4).view(1, 2, 4)
    traced = torch.jit.trace(encoder, traced_on, check_trace=False)
    chars = torch.stack([_batch(WORDS, 6), _batch([[], [7, 7], [], [1]], 6)])  # (2, 4, 6)
    torch.testing.assert_close(traced(chars), encoder(chars))
    assert traced(chars)[1, 0].abs().sum() == 0  # a padded word is zeros
