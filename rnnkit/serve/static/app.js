// The page of `rnnkit serve`: pick a run, give it an input, see what it predicts.
// Plain DOM, no libraries; every text from a model or a user goes in as textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let models = [];
let current = null;

const HINTS = {
  classify: "A text to classify (Ctrl+Enter runs).",
  lm: "A prompt to continue; the text appears as it is generated.",
  tag: "A sentence to tag; its tokens are split on spaces.",
  translate: "A sentence to translate.",
  forecast: "Recent rows as CSV, with a header naming the run's columns",
  frames: "Frames as JSON: [[f1, f2, ...], ...], one list of numbers per step.",
  json: "Inputs as JSON (a list).",
};

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) {
  $("status").textContent = text;
}

async function post(endpoint, body) {
  const response = await fetch(`v1/${encodeURIComponent(current.name)}/${endpoint}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (err) {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response;
}

// ---------------------------------------------------------------- choosing a run

async function loadModels() {
  const response = await fetch("v1/models");
  models = (await response.json()).models;
  const select = $("run");
  select.replaceChildren();
  for (const model of models) {
    select.append(el("option", { value: model.name }, `${model.name} (${model.task})`));
  }
  const wanted = new URLSearchParams(location.search).get("run");
  if (wanted && models.some((m) => m.name === wanted)) select.value = wanted;
  choose(select.value);
}

function kindOf(model) {
  if (["classify", "lm", "tag", "translate", "forecast"].includes(model.task)) {
    return model.inputs.kind === "frames" ? "frames" : model.task;
  }
  return "json";
}

function choose(name) {
  current = models.find((m) => m.name === name) || null;
  $("output").replaceChildren();
  showError("");
  setStatus("");
  if (!current) return;
  const kind = kindOf(current);
  document.body.dataset.kind = kind;
  $("task").textContent = current.task;
  let hint = HINTS[kind];
  if (kind === "forecast") {
    const cols = [current.inputs.time_col, ...current.inputs.columns].filter(Boolean);
    hint += ` (${cols.join(", ")}); the last ${current.inputs.window} rows are read, ` +
      `${current.inputs.horizon} steps are forecast.`;
    $("input").placeholder = cols.join(",") + "\n...";
  } else {
    $("input").placeholder = "";
  }
  $("hint").textContent = hint;
  $("generate-options").hidden = kind !== "lm";
  $("next").hidden = kind !== "lm";
  $("translate-options").hidden = kind !== "translate";
  if (kind === "translate") $("beam").value = current.beam || 1;
  $("go").textContent = { lm: "Generate", translate: "Translate", forecast: "Forecast" }[kind] || "Predict";
}

// ---------------------------------------------------------------- running

async function run(which) {
  if (!current) return;
  const text = $("input").value;
  showError("");
  $("output").replaceChildren();
  setStatus("running...");
  const started = performance.now();
  try {
    const kind = kindOf(current);
    if (kind === "lm" && which !== "next") await generate(text);
    else if (kind === "translate") await translate(text);
    else await predict(kind, text);
    setStatus(`${Math.round(performance.now() - started)} ms`);
  } catch (err) {
    setStatus("");
    showError(err.message);
  }
}

async function predict(kind, text) {
  let inputs = [text];
  const body = {};
  if (kind === "frames" || kind === "json") inputs = JSON.parse(text);
  if (kind === "frames") inputs = [inputs];
  if (kind === "json" && !Array.isArray(inputs)) inputs = [inputs];
  if (kind === "classify") body.top_k = Math.min((current.labels || []).length || 1, 10);
  if (kind === "lm") body.top_k = 10;
  body.inputs = inputs;
  const found = (await (await post("predict", body)).json()).outputs;
  const out = $("output");
  if (kind === "classify") {
    out.append(bars(found[0].top_k.map((r) => [r.label, r.probability])));
  } else if (kind === "lm") {
    out.append(el("p", { class: "note" }, "next token after the prompt"));
    out.append(bars(found[0].next.map((r) => [r.token, r.p])));
  } else if (kind === "tag") {
    out.append(tagged(found[0]));
  } else if (kind === "forecast") {
    out.append(forecastPlot(text, found[0]));
    out.append(table(found[0]));
  } else {
    out.append(el("pre", {}, JSON.stringify(found, null, 2)));
  }
}

function bars(rows) {
  const box = el("div", { class: "bars" });
  for (const [name, p] of rows) {
    const row = el("div", { class: "bar-row" });
    row.append(el("span", { class: "bar-label" }, name));
    const track = el("span", { class: "bar-track" });
    const bar = el("span", { class: "bar" });
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(bar);
    row.append(track, el("span", { class: "bar-value" }, `${(100 * p).toFixed(1)}%`));
    box.append(row);
  }
  return box;
}

function tagged(record) {
  const box = el("p", { class: "tagged" });
  if (!record.tokens) {  // frames: one label per frame
    box.textContent = record.labels.join(" ");
    return box;
  }
  const starts = new Map((record.entities || []).map((e) => [e.start, e]));
  let i = 0;
  while (i < record.tokens.length) {
    const entity = starts.get(i);
    if (entity) {
      const mark = el("mark", { class: "entity", "data-type": entity.type, style: `--hue: ${hue(entity.type)}` });
      mark.append(document.createTextNode(record.tokens.slice(entity.start, entity.end).join(" ")));
      mark.append(el("span", { class: "entity-type" }, entity.type));
      box.append(mark, " ");
      i = entity.end;
    } else if (!record.entities) {
      const token = el("span", { class: "token" }, record.tokens[i]);
      token.append(el("sub", {}, record.tags[i]));
      box.append(token, " ");
      i += 1;
    } else {
      box.append(document.createTextNode(record.tokens[i] + " "));
      i += 1;
    }
  }
  return box;
}

function hue(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

// ---------------------------------------------------------------- translate

async function translate(text) {
  const body = { inputs: [text], beam: Number($("beam").value) || 1 };
  if (current.attention) body.attention = true;
  const record = (await (await post("translate", body)).json()).outputs[0];
  const out = $("output");
  out.append(el("p", { class: "translation" }, record.translation || "(empty translation)"));
  out.append(el("p", { class: "note" }, `score ${record.score}` +
    (record.unknown ? `; unknown source words: ${record.unknown.join(", ")}` : "")));
  if (record.attention && record.attention.target.length) out.append(heatmap(record.attention));
}

function heatmap(att) {
  const table = el("table", { class: "heatmap", "aria-label": "attention" });
  const head = el("tr");
  head.append(el("th"));
  for (const s of att.source) head.append(el("th", { class: "source" }, s));
  table.append(head);
  att.weights.forEach((row, t) => {
    const tr = el("tr");
    tr.append(el("th", {}, att.target[t]));
    for (const w of row) {
      const cell = el("td", { title: w.toFixed(3) });
      cell.style.background = `rgba(20, 60, 160, ${w.toFixed(3)})`;
      tr.append(cell);
    }
    table.append(tr);
  });
  return table;
}

// ---------------------------------------------------------------- generate (streamed)

async function generate(prompt) {
  const body = {
    prompt,
    max_tokens: Number($("max-tokens").value) || 40,
    temperature: Number($("temperature").value) || 1.0,
    greedy: $("greedy").checked,
    stream: true,
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  const response = await post("generate", body);
  const out = $("output");
  const text = el("p", { class: "generated" });
  text.append(el("span", { class: "prompt" }, prompt));
  const made = el("span", { class: "made" });
  text.append(made);
  out.append(text);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = parseEvent(frame);
      if (event.type === "token") {
        made.textContent += prompt === "" && event.data.index === 0 ? event.data.text.trimStart() : event.data.text;
        setStatus(`${event.data.index + 1} tokens`);
      } else if (event.type === "error") {
        throw new Error(event.data.error);
      } else if (event.type === "done") {
        text.dataset.done = "true";
      }
    }
  }
}

function parseEvent(frame) {
  let type = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { type, data: data.length ? JSON.parse(data.join("\n")) : null };
}

// ---------------------------------------------------------------- forecast

function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0].split(",").map((h) => h.trim());
  return { header, rows: lines.slice(1).map((l) => l.split(",")) };
}

function forecastPlot(text, steps) {
  const targets = current.inputs.targets;
  const { header, rows } = parseCsv(text);
  const recent = rows.slice(-current.inputs.window);
  const box = el("div", { class: "plots" });
  for (const target of targets) {
    const col = header.indexOf(target);
    const history = col >= 0 ? recent.map((r) => Number(r[col])) : [];
    const future = steps.map((s) => s[target]);
    box.append(linePlot(target, history, future));
  }
  return box;
}

function linePlot(name, history, future) {
  const W = 640, H = 180, pad = 36;
  const all = [...history, ...future].filter((v) => Number.isFinite(v));
  let lo = Math.min(...all), hi = Math.max(...all);
  if (lo === hi) { lo -= 1; hi += 1; }
  const n = history.length + future.length;
  const x = (i) => pad + (i / Math.max(n - 1, 1)) * (W - 2 * pad);
  const y = (v) => H - pad + ((lo - v) / (hi - lo)) * (H - 2 * pad);
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": `forecast of ${name}` });
  plot.append(svg("text", { x: 4, y: 14, class: "plot-title" }, name));
  plot.append(svg("text", { x: 4, y: pad, class: "axis" }, hi.toPrecision(4)));
  plot.append(svg("text", { x: 4, y: H - pad, class: "axis" }, lo.toPrecision(4)));
  const line = (points, cls) => svg("polyline", { points: points.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), class: cls });
  if (history.length) plot.append(line(history.map((v, i) => [i, v]), "history"));
  const start = history.length ? [[history.length - 1, history[history.length - 1]]] : [];
  plot.append(line([...start, ...future.map((v, k) => [history.length + k, v])], "forecast"));
  if (history.length) {
    plot.append(svg("line", { x1: x(history.length - 1), x2: x(history.length - 1), y1: pad / 2, y2: H - pad, class: "now" }));
  }
  return plot;
}

function table(steps) {
  const t = el("table", { class: "values" });
  const keys = Object.keys(steps[0]);
  const head = el("tr");
  for (const k of keys) head.append(el("th", {}, k));
  t.append(head);
  for (const s of steps) {
    const tr = el("tr");
    for (const k of keys) tr.append(el("td", {}, typeof s[k] === "number" && k !== "step" ? s[k].toPrecision(5) : String(s[k])));
    t.append(tr);
  }
  return t;
}

// ---------------------------------------------------------------- wiring

$("run").addEventListener("change", (e) => choose(e.target.value));
$("go").addEventListener("click", () => run("go"));
$("next").addEventListener("click", () => run("next"));
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run("go");
});
loadModels().catch((err) => showError(`cannot list the runs: ${err.message}`));
