"""Predictor.step: a stream fed one element at a time gives exactly the outputs of the forward
pass over the whole sequence (language model, unidirectional tagger, forecaster without RevIN),
and models that read whole sequences refuse to step, saying why."""

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.tasks import TaskError
from tests.tasks.tiny import COMMON, TASKS


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_language_model_token_by_token(work):
    TASKS["lm"].write(work)
    options = {**TASKS["lm"].options, **COMMON, "num_layers": 2, "cell": "gru"}
    p = rk.load(rk.train("lm", out="run", **options))
    texts = [["the", "cat", "sat", "on"], ["a", "dog", "ran", "in"]]
    batch = p.preprocess(texts)
    whole, _ = p.model(batch["x"])  # (2, 4, V)
    state = None
    for t in range(4):
        logits, state = p.step([row[t] for row in texts], state)
        torch.testing.assert_close(logits, whole[:, t], rtol=1e-5, atol=1e-6)
    probs = p.forward(batch)  # the last step's distribution, as predict reports it
    torch.testing.assert_close(torch.softmax(logits, -1), probs, rtol=1e-5, atol=1e-6)
    ids, state = p.step(torch.tensor([p.pipeline.vocab["mat"], 1]), state)  # ids work too
    assert ids.shape == (2, len(p.pipeline.vocab))


def test_unidirectional_tagger_point_by_point(work):
    TASKS["tag"].write(work)
    options = {**TASKS["tag"].options, **COMMON, "bidirectional": False, "num_layers": 2}
    p = rk.load(rk.train("tag", out="run", **options))
    sentences = [["John", "visited", "Rome", "."], ["Mary", "visited", "Paris", "."]]
    whole = p.forward(p.preprocess(sentences))  # (2, 4, N)
    state = None
    for t in range(4):
        emissions, state = p.step([s[t] for s in sentences], state)
        torch.testing.assert_close(emissions, whole[:, t], rtol=1e-5, atol=1e-6)
    bi = rk.load(rk.train("tag", out="bi", **TASKS["tag"].options, **COMMON))
    with pytest.raises(TaskError, match="stepping needs a unidirectional encoder"):
        bi.step(["John"])


def test_forecaster_row_by_row(work):
    TASKS["forecast"].write(work)
    options = {**TASKS["forecast"].options, **COMMON, "revin": False, "decoder": "autoregressive"}
    p = rk.load(rk.train("forecast", out="run", **options))
    rows = np.loadtxt(work / "series.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    window = rows[-8:]
    state = None
    for row in window:  # two streams: the series and the series shifted by one
        forecast, state = p.step(np.stack([row, row + 1.0]), state)
    records = p.predict([window, window + 1.0])
    expected = [[[r["OT"]] for r in records if r["input"] == i] for i in (0, 1)]
    torch.testing.assert_close(
        forecast, torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5
    )
    with_revin = rk.load(rk.train("forecast", out="revin", **TASKS["forecast"].options, **COMMON))
    with pytest.raises(TaskError, match="without RevIN"):
        with_revin.step(window[:2])


def test_tasks_without_a_stream_say_so(work):
    TASKS["classify"].write(work)
    p = rk.load(rk.train("classify", out="run", **TASKS["classify"].options, **COMMON))
    with pytest.raises(TaskError, match="a classify model has no step-by-step mode"):
        p.step(["great"])
