"""Every task's exported graphs against its eager model, run by onnxruntime and by
torch.jit.load directly (no rnnkit code in between): new batch sizes and lengths, ragged
batches, a batch of one, state carried from call to call, decoding on the exported pair."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rnnkit as rk
from tests.export.conftest import close, ids, ort_run, ragged, script_run

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]
FORMATS = ["onnx", "torchscript"]
SHAPES = [(5, 13), (1, 1), (2, 3)]  # (B, T): none is the traced (3, 7)


def exported(predictor, fmt, folder, graph="model"):
    """Export, then open one graph as the format's own runtime would, by the manifest's names."""
    predictor.export(fmt, folder)
    entry = json.loads((folder / "manifest.json").read_text())["graphs"][graph]
    if fmt == "onnx":
        return ort_run(folder / entry["file"])
    names = [t["name"] for t in entry["inputs"]], [t["name"] for t in entry["outputs"]]
    return script_run(folder / entry["file"], *names)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["classify", "classify_attention"])
def test_classifier(runs, tmp_path, key, fmt):
    p = rk.load(runs(key), device="cpu")
    run = exported(p, fmt, tmp_path / "out")
    V, C = len(p.pipeline.vocab), len(p.pipeline.labels)
    for B, T in SHAPES:
        lengths = ragged(B, T, seed=T)
        x = ids(lengths, T, V, seed=B)
        close(
            run(tokens=x.numpy(), lengths=lengths.numpy())["logits"], p.model(x, lengths).detach()
        )
    if fmt == "onnx":  # names, dtypes and dynamic dimensions as documented
        assert run.inputs == {
            "tokens": ("tensor(int64)", ["B", "T"]),
            "lengths": ("tensor(int64)", ["B"]),
        }
        assert run.outputs == {"logits": ("tensor(float)", ["B", C])}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["lm", "lm_gru", "lm_adaptive"])
def test_language_model_carries_its_state_across_calls(runs, tmp_path, key, fmt):
    p = rk.load(runs(key), device="cpu")
    run = exported(p, fmt, tmp_path / "out")
    lstm = p.config.model.cell == "lstm"
    V, L, H = len(p.pipeline.vocab), p.config.model.num_layers, p.config.model.hidden_size
    x = ids(torch.full((4,), 9), 9, V, seed=1)
    with torch.no_grad():
        whole, state = p.model(x)  # eager: the whole text at once from a fresh state
    feeds = {"h0": np.zeros((L, 4, H), np.float32)}
    if lstm:
        feeds["c0"] = np.zeros((L, 4, H), np.float32)
    steps = []
    for t0, t1 in ((0, 1), (1, 2), (2, 6), (6, 9)):  # one token, then several, then the rest
        out = run(tokens=x[:, t0:t1].numpy(), **feeds)
        steps.append(out["logits"])
        feeds = {"h0": out["hn"], **({"c0": out["cn"]} if lstm else {})}
    close(np.concatenate(steps, axis=1), whole)
    h = state[0] if lstm else state
    close(feeds["h0"], h)
    if lstm:
        close(feeds["c0"], state[1])
    if fmt == "onnx":
        names = ["tokens", "h0", "c0"] if lstm else ["tokens", "h0"]
        assert list(run.inputs) == names and run.inputs["h0"] == ("tensor(float)", [L, "B", H])
        assert run.outputs["logits"] == ("tensor(float)", ["B", "T", V])
        assert set(run.outputs) == {"logits", "hn", *(["cn"] if lstm else [])}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["tag", "tag_softmax"])
def test_tagger_emissions(runs, tmp_path, key, fmt):
    p = rk.load(runs(key), device="cpu")
    run = exported(p, fmt, tmp_path / "out")
    chars = p.pipeline.chars is not None and p.config.model.char_encoder != "none"
    V = len(p.pipeline.words)
    for B, T in SHAPES:
        lengths = ragged(B, T, seed=T)
        x = ids(lengths, T, V, seed=B)
        feeds = {"tokens": x.numpy(), "lengths": lengths.numpy()}
        model_x = x
        if chars:  # each real word 1 to 6 characters, then 0; padded words all 0
            g = torch.Generator().manual_seed(B + T)
            width = torch.randint(1, 7, (B, T), generator=g).masked_fill(x == 0, 0)
            c = torch.randint(1, len(p.pipeline.chars), (B, T, 6), generator=g)
            c = c.masked_fill(torch.arange(6) >= width[..., None], 0)
            feeds["chars"] = c.numpy()
            model_x = torch.cat([x[..., None], c], dim=-1)
        close(run(**feeds)["emissions"], p.model(model_x, lengths).detach())
    if fmt == "onnx":
        expected = ["tokens", "lengths", "chars"] if chars else ["tokens", "lengths"]
        assert list(run.inputs) == expected and list(run.outputs) == ["emissions"]
        assert run.outputs["emissions"][1] == ["B", "T", len(p.pipeline.tags)]


def test_crf_transitions_in_the_manifest_decode_as_the_model(runs, tmp_path):
    p = rk.load(runs("tag"), device="cpu")
    p.export("onnx", tmp_path / "out")
    info = json.loads((tmp_path / "out" / "manifest.json").read_text())["task_info"]
    crf = p.model.decoder
    assert info["tags"] == p.pipeline.tags.labels and info["decoder"]["type"] == "crf"
    transitions = torch.tensor(info["decoder"]["transitions"])
    start, end = torch.tensor(info["decoder"]["start"]), torch.tensor(info["decoder"]["end"])
    close(transitions, crf.transitions.detach(), atol=1e-6)  # no constraints: the parameters
    # brute force over every tag sequence with the manifest's scores = the model's Viterbi
    emissions = torch.randn(1, 4, len(info["tags"]), generator=torch.Generator().manual_seed(0))
    K = len(info["tags"])
    best = max(
        (
            (
                start[y[0]]
                + sum(emissions[0, t, y[t]] for t in range(4))
                + sum(transitions[y[t - 1], y[t]] for t in range(1, 4))
                + end[y[3]]
            ).item(),
            y,
        )
        for y in np.ndindex(*(K,) * 4)
    )[1]
    assert crf.decode(emissions) == [list(best)]


def test_streaming_tagger_steps_a_token_at_a_time(runs, tmp_path):
    p = rk.load(runs("tag_stream"), device="cpu")
    run = exported(p, "onnx", tmp_path / "out", graph="step")
    x = p.preprocess(["John visited Rome ."])["x"]  # (1, 4, 1 + L)
    whole = p.model(x).detach()
    H = p.config.model.hidden_size
    feeds = {"h0": np.zeros((1, 1, H), np.float32), "c0": np.zeros((1, 1, H), np.float32)}
    for t in range(x.shape[1]):
        out = run(tokens=x[:, t : t + 1, 0].numpy(), chars=x[:, t : t + 1, 1:].numpy(), **feeds)
        close(out["emissions"][:, 0], whole[:, t])
        feeds = {"h0": out["hn"], "c0": out["cn"]}
    assert list(run.inputs) == ["tokens", "chars", "h0", "c0"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["translate", "translate_luong", "translate_plain"])
def test_translation_pair_decodes_greedily_without_rnnkit(runs, tmp_path, key, fmt):
    p = rk.load(runs(key), device="cpu")
    folder = tmp_path / "out"
    p.export(fmt, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    graphs, info = manifest["graphs"], manifest["task_info"]
    if fmt == "onnx":
        encoder = ort_run(folder / graphs["encoder"]["file"])
        step = ort_run(folder / graphs["decoder_step"]["file"])
    else:
        names = {
            g: ([t["name"] for t in e["inputs"]], [t["name"] for t in e["outputs"]])
            for g, e in graphs.items()
        }
        encoder = script_run(folder / graphs["encoder"]["file"], *names["encoder"])
        step = script_run(folder / graphs["decoder_step"]["file"], *names["decoder_step"])
    carry = graphs["decoder_step"]["carry"]
    sentences = ["ein hund läuft", "ein mann sieht ein hund", "hund"]
    batch = p.preprocess(sentences)
    limit = 12
    expected = p.model.translate(batch["x"], batch["lengths"], beam_size=1, max_len=limit)
    # greedy search written against the manifest alone
    state = encoder(tokens=batch["x"].numpy(), lengths=batch["lengths"].numpy())
    inputs = [t["name"] for t in graphs["decoder_step"]["inputs"]]
    feeds = {k: v for k, v in state.items() if k in inputs}
    if "lengths" in inputs:
        feeds["lengths"] = batch["lengths"].numpy()
    tokens = np.full(len(sentences), info["bos_id"], dtype=np.int64)
    found = [[] for _ in sentences]
    done = np.zeros(len(sentences), dtype=bool)
    for _ in range(limit):
        out = step(tokens=tokens, **feeds)
        logits = out["logits"].copy()
        logits[:, info["never"]] = -np.inf
        tokens = logits.argmax(-1).astype(np.int64)
        for i, t in enumerate(tokens):
            if not done[i]:
                done[i] = t == info["eos_id"]
                if not done[i]:
                    found[i].append(int(t))
        feeds.update({into: out[name] for name, into in carry.items()})
        if done.all():
            break
    assert found == [h[0].tokens for h in expected]


@pytest.mark.parametrize("fmt", FORMATS)
def test_beam_search_runs_on_the_exported_pair(runs, tmp_path, fmt):
    p = rk.load(runs("translate_luong"), device="cpu")
    p.export(fmt, tmp_path / "out")
    q = rk.load(tmp_path / "out")
    sentences = ["ein hund läuft", "ein mann sieht ein hund"]
    for beam, n_best in ((1, 1), (3, 2)):
        mine, theirs = q.translate(sentences, beam, n_best), p.translate(sentences, beam, n_best)
        for a, b in zip(mine, theirs, strict=True):
            assert a["tokens"] == b["tokens"] and a["score"] == pytest.approx(b["score"], abs=1e-4)
            assert [x["translation"] for x in a.get("alternatives", [])] == [
                x["translation"] for x in b.get("alternatives", [])
            ]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["forecast", "forecast_calendar"])
def test_forecaster_on_new_windows(runs, tmp_path, key, fmt):
    p = rk.load(runs(key), device="cpu")
    run = exported(p, fmt, tmp_path / "out")
    F, H, K = len(p.pipeline.columns), p.config.data.horizon, p.model.covariate_size
    g = torch.Generator().manual_seed(0)
    for B, W in ((4, 8), (1, 1), (2, 15)):  # W: the trained window, shorter, longer
        x = torch.randn(B, W, F, generator=g)
        if K:
            past, future = torch.rand(B, W, K, generator=g), torch.rand(B, H, K, generator=g)
            got = run(window=x.numpy(), covariates=torch.cat([past, future], 1).numpy())
            close(got["forecast"], p.model(x, past, future).detach())
        else:
            close(run(window=x.numpy())["forecast"], p.model(x).detach())
    if fmt == "onnx":
        assert run.outputs == {"forecast": ("tensor(float)", ["B", H, len(p.model.targets)])}
        if K:
            assert run.inputs["covariates"] == ("tensor(float)", ["B", f"W+{H}", K])


def test_streaming_forecaster_reads_a_row_at_a_time(runs, tmp_path):
    p = rk.load(runs("forecast_stream"), device="cpu")
    run = exported(p, "onnx", tmp_path / "out", graph="step")
    x = torch.randn(2, 8, len(p.pipeline.columns), generator=torch.Generator().manual_seed(0))
    feeds = {"h0": np.zeros((1, 2, p.config.model.hidden_size), np.float32)}
    for t in range(8):
        out = run(window=x[:, t : t + 1].numpy(), **feeds)
        feeds = {"h0": out["hn"]}
    close(out["forecast"], p.model(x).detach())


def test_frame_tagger_takes_features(tmp_path):
    from tests.data.test_frames import make_frames, write_padded

    frames = write_padded(tmp_path / "frames.npz", *make_frames(40, 0))
    options = {"embedding_size": 6, "hidden_size": 6, "batch_size": 8, "crf": False}
    rk.train(
        "tag",
        out=tmp_path / "run",
        frames=frames,
        bidirectional=False,
        epochs=1,
        seed=3,
        device="cpu",
        **options,
    )
    p = rk.load(tmp_path / "run", device="cpu")
    run = exported(p, "onnx", tmp_path / "out")
    assert list(run.inputs) == ["features", "lengths"]
    assert run.inputs["features"] == ("tensor(float)", ["B", "T", 3])
    x = torch.randn(4, 9, 3, generator=torch.Generator().manual_seed(0))
    lengths = ragged(4, 9)
    close(
        run(features=x.numpy(), lengths=lengths.numpy())["emissions"], p.model(x, lengths).detach()
    )
    onnx_p = rk.load(tmp_path / "out")
    xs, _ = make_frames(5, 1)
    assert onnx_p.predict(xs) == p.predict(xs)
    step = ort_run(tmp_path / "out" / "step.onnx")
    assert list(step.inputs) == ["features", "h0", "c0"]
    s1 = s2 = None
    for row in xs[0][:4]:
        a, s1 = p.step(row[None], s1)
        b, s2 = onnx_p.step(row[None], s2)
        close(b, a)
