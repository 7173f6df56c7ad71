"""The page at ``/`` in headless Chromium: pick a run, type into it, run it, and see what the
run's Predictor gives. A screenshot of each is kept under the test's tmp dir."""

from __future__ import annotations

import json

import pytest

from rnnkit.serve import ServeConfig, create_app
from tests.serve.browser import Chromium, find_chromium
from tests.serve.live import LiveServer


@pytest.fixture(scope="module")
def server(predictors):
    with LiveServer(create_app(predictors, ServeConfig(max_wait_ms=1))) as live:
        yield live


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "Chromium not found: install Debian's chromium package (`make browser` does so "
            "when run as root) or name one with RNNKIT_CHROMIUM"
        )
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser, server, tmp_path):
    """The page, opened afresh; ``page.shot(name)`` keeps a screenshot."""
    browser.open(f"{server.url}/")
    browser.wait_for("document.querySelectorAll('#run option').length === 5")

    def choose(run):
        browser.js(
            f"(() => {{ const s = document.getElementById('run'); s.value = {json.dumps(run)}; "
            "s.dispatchEvent(new Event('change')); })()"
        )
        browser.js("document.getElementById('input').focus()")

    def shot(name):
        path = browser.screenshot(tmp_path / f"page-{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        print(f"screenshot: {path}")
        return path

    browser.choose, browser.shot = choose, shot
    return browser


def test_classify_shows_label_probabilities_after_typing(page, predictors):
    page.choose("classify")
    page.type("the plot was superb")
    page.click("#go")
    page.wait_for("document.querySelectorAll('#output .bar-row').length === 2")
    rows = page.js(
        "[...document.querySelectorAll('#output .bar-row')].map(r => "
        "[r.querySelector('.bar-label').textContent, r.querySelector('.bar-value').textContent,"
        " r.querySelector('.bar').style.width])"
    )
    expected = predictors["classify"].predict(["the plot was superb"], top_k=2)[0]["top_k"]
    assert [r[0] for r in rows] == [e["label"] for e in expected]
    assert [r[1] for r in rows] == [f"{100 * e['probability']:.1f}%" for e in expected]
    assert rows[0][2] == f"{100 * expected[0]['probability']:.1f}%"
    assert page.js("document.getElementById('error').hidden")
    page.shot("classify")


def test_lm_text_appears_as_it_streams(page, predictors):
    page.choose("lm")
    page.type("the cat")
    page.js("document.getElementById('seed').focus()")
    page.type("7")
    page.click("#go")
    page.wait_for("document.querySelector('#output .generated[data-done]')")
    made = page.js("document.querySelector('#output .made').textContent")
    expected = predictors["lm"].generate("the cat", max_tokens=40, temperature=0.8, seed=7)
    assert "the cat" + made == expected
    page.shot("lm")


def test_tag_highlights_entities(page, predictors):
    page.choose("tag")
    page.type("John visited Rome .")
    page.click("#go")
    page.wait_for("document.querySelector('#output .tagged')")
    marks = page.js(
        "[...document.querySelectorAll('#output mark.entity')].map(m => "
        "[m.dataset.type, m.firstChild.textContent])"
    )
    record = predictors["tag"].predict(["John visited Rome ."])[0]
    assert marks == [[e["type"], e["text"]] for e in record["entities"]]
    page.shot("tag")


def test_translate_shows_its_attention_heatmap(page, predictors):
    page.choose("translate")
    page.type("ein mann sieht ein hund")
    page.click("#go")
    page.wait_for("document.querySelector('#output .translation')")
    shown = page.js("document.querySelector('#output .translation').textContent")
    record = predictors["translate"].translate(["ein mann sieht ein hund"], beam=2)[0]
    assert shown == record["translation"]
    cells = page.js("document.querySelectorAll('#output table.heatmap td').length")
    assert cells == len(record["tokens"]) * 5
    page.shot("translate")


def test_forecast_draws_a_plot_of_the_pasted_window(page, predictors, series_csv):
    page.choose("forecast")
    window = "\n".join(series_csv.splitlines()[:1] + series_csv.splitlines()[-12:])
    page.js(f"document.getElementById('input').value = {json.dumps(window)}")
    page.click("#go")
    page.wait_for("document.querySelector('#output svg.plot polyline.forecast')")
    points = page.js(
        "document.querySelector('#output svg.plot polyline.forecast').getAttribute('points')"
    )
    history = page.js(
        "document.querySelector('#output svg.plot polyline.history').getAttribute('points')"
    )
    assert len(points.split()) == 1 + 3 and len(history.split()) == 8  # window 8, horizon 3
    cells = page.js("[...document.querySelectorAll('#output table.values td')].length")
    assert cells == 3 * 3  # step, time, OT
    page.shot("forecast")


def test_an_error_is_shown_not_thrown(page):
    page.choose("forecast")
    page.type("date,a,OT")
    page.click("#go")
    page.wait_for("!document.getElementById('error').hidden")
    message = page.js("document.getElementById('error').textContent")
    assert message == "inputs[0].csv: no data rows after the header"
    assert not page.js("document.querySelector('#output').children.length")
