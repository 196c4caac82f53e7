// The inspector page. Plain browser JavaScript, no dependencies, no build step.
//
// Safety rule: every input and every model output reaches the page as text (textContent,
// Element.append of strings, title, dataset); nothing is ever parsed as HTML. The server's
// Content-Security-Policy (no inline script, same origin only) is the second line of defence.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SETTING_TITLES = {
    numeric: "numerical reasoning (MSEGenBERT, DROP-like)",
    multihop: "multi-hop QA (READER, HotpotQA-like)",
    qa_summary: "QA next to a summariser (READERSUM, SQuAD-like)",
  };
  const DEBOUNCE_MS = 450;
  const COLOURS = 8; // .h0 … .h7 in inspector.css

  const state = {
    key: null,          // the API key, in this tab's memory only (never localStorage/sessionStorage)
    heads: [],          // from GET /v1/heads, in the checkpoint's order (fixes each head's colour)
    tasks: {},
    limits: null,
    examples: [],
    reference: null,    // the example the inputs came from, while they are unchanged
    last: null,         // the last answer shown, what the next one is compared with
    answers: 0,
    seq: 0,             // only the newest request may draw (an older one can answer later)
    debounce: null,
  };

  // ---------------------------------------------------------------------------------------------
  // DOM helpers: text only

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "data") Object.assign(node.dataset, value);
      else if (key.startsWith("aria-") || key === "role" || key === "tabindex" || key === "for") node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const fmt = (x) => (typeof x === "number" ? x.toFixed(2) : "—");
  const pct = (x) => (typeof x === "number" ? `${(x * 100).toFixed(0)}%` : "—");
  const quote = (s) => `“${s}”`;
  // what a yes/no that compares two facts (pooling compare_reads) read: "compared “1917” with “1956”"
  const comparedText = (o) => `compared ${o.compared.map((s) => quote(s.text)).join(" with ")}`;
  const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  function colourOf(head) {
    const i = state.heads.findIndex((h) => h.name === head);
    return `h${(i < 0 ? COLOURS - 1 : i) % COLOURS}`;
  }

  function chip(head, extra) {
    return el("span", { class: `chip ${colourOf(head)}`, text: extra ? `${head} ${extra}` : head });
  }

  function showAlert(message) {
    $("alert").textContent = message;
    $("alert").hidden = false;
  }

  function clearAlert() {
    $("alert").hidden = true;
    $("alert").textContent = "";
  }

  // ---------------------------------------------------------------------------------------------
  // The API

  class ApiFailure extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (state.key) headers.authorization = `Bearer ${state.key}`;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiFailure(0, `the service did not answer (${err.message}); is it still running?`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    const message = data && data.error && data.error.message;
    if (response.status === 401) {
      askForKey(state.key ? message || "the key was refused" : "");
      throw new ApiFailure(401, message || "this service needs an API key");
    }
    if (!response.ok) {
      const retry = response.headers.get("retry-after");
      throw new ApiFailure(response.status, `${response.status}: ${message || response.statusText}` +
        (retry ? ` (retry after ${retry} s)` : ""));
    }
    return data;
  }

  function askForKey(problem) {
    state.key = null;
    $("key-form").hidden = false;
    $("key-error").textContent = problem || "";
    $("key").focus();
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key").value.trim();
    $("key").value = "";
    $("key-form").hidden = true;
    boot();
  });

  // ---------------------------------------------------------------------------------------------
  // What each head kind looks like. Unknown kinds fall back to their output's shape, then to JSON.

  const KIND_VIEWS = {
    span: {
      spans: (o) => (o.end > o.start ? [{ ...o, rank: 1 }] : []).concat((o.alternatives || []).map((s, i) => ({ ...s, rank: i + 2 }))),
      describe: (o) => (o.end > o.start ? quote(o.text) : "(no span)"),
      confidence: (o) => o.score,
      body(o) {
        return el("div", {}, el("p", { class: "gen-text", text: this.describe(o) }), this.details(o));
      },
      details(o) {
        const box = el("div");
        if (o.end > o.start) box.append(el("p", { class: "meta", text: `${o.field} ${o.start}–${o.end} · score ${fmt(o.score)}` }));
        const alts = o.alternatives || [];
        if (alts.length) {
          box.append(el("p", { class: "meta", text: "alternatives" }),
            el("ol", { class: "span-list", start: 2 }, ...alts.map((s) => el("li", { text: `${quote(s.text)} · ${fmt(s.score)}` }))));
        }
        return box;
      },
    },
    tagging: {
      spans: (o) => (o.spans || []).map((s, i) => ({ ...s, rank: i + 1 })),
      describe: (o) => (o.spans && o.spans.length ? `${o.spans.length} span(s): ${o.spans.map((s) => quote(s.text)).join(", ")}` : "(no spans)"),
      confidence: (o) => (o.spans && o.spans.length ? Math.min(...o.spans.map((s) => s.score ?? 1)) : undefined),
      body(o) {
        if (!o.spans || !o.spans.length) return el("p", { class: "meta", text: "no spans tagged" });
        return el("ol", { class: "span-list" },
          ...o.spans.map((s) => el("li", { text: `${quote(s.text)} · ${s.field} ${s.start}–${s.end} · ${fmt(s.score)}` })));
      },
    },
    classification: {
      // a yes/no that compares two facts (pooling compare_reads) says which two it read
      spans: (o) => (o.compared || []).map((s, i) => ({ ...s, rank: i + 1 })),
      describe: (o) => `${o.label} (${pct(o.score)})` + (o.compared ? `, ${comparedText(o)}` : ""),
      confidence: (o) => o.score,
      body(o, head) {
        const bars = el("div", { class: `bars ${colourOf(head)}`, role: "list", "aria-label": `${head} probabilities` });
        const probs = Object.entries(o.probabilities || { [o.label]: o.score }).sort((a, b) => b[1] - a[1]);
        for (const [label, p] of probs) {
          const fill = el("span");
          fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
          const top = label === o.label ? " top" : "";
          bars.append(el("span", { class: `bar-label${top}`, role: "listitem", text: label }),
            el("span", { class: "bar", "aria-hidden": "true" }, fill),
            el("span", { class: top.trim(), text: pct(p) }));
        }
        if (!o.compared) return bars;
        return el("div", {}, bars, el("p", { class: "meta gen-compared", text: comparedText(o) }));
      },
    },
    generative: {
      // a number decoder that writes arithmetic answers its value and shows what it wrote
      describe: (o) => quote(o.text) + (o.expression ? ` = ${o.expression}` : ""),
      confidence: (o) => o.score,
      body(o) {
        return el("div", {}, el("p", { class: "gen-text", text: o.text === "" ? "(empty)" : o.text }),
          ...(o.expression ? [el("p", { class: "gen-expr", text: `= ${o.expression}` })] : []), this.details(o));
      },
      details(o) {
        return el("p", { class: "meta", text: `${o.num_tokens ?? "?"} tokens · mean token probability ${fmt(o.score)}` +
          (o.finished === false ? " · stopped at the length limit" : "") });
      },
    },
    other: {
      describe: (o) => clip(JSON.stringify(o), 120),
      body: (o) => el("pre", { text: JSON.stringify(o, null, 2) }),
    },
  };

  function viewOf(kind, output) {
    if (KIND_VIEWS[kind] && kind !== "other") return KIND_VIEWS[kind];
    if (Array.isArray(output.spans)) return KIND_VIEWS.tagging;
    if (typeof output.start === "number" && typeof output.end === "number") return KIND_VIEWS.span;
    if (output.probabilities) return KIND_VIEWS.classification;
    if (typeof output.text === "string") return KIND_VIEWS.generative;
    return KIND_VIEWS.other;
  }

  // ---------------------------------------------------------------------------------------------
  // Marks: the spans of every span / tagging head, drawn into the question and passage

  const onPassage = (field) => field !== "question";

  function collectMarks(result, withAlternatives) {
    const marks = [];
    const outputs = [result.target, ...result.non_target];
    for (const out of outputs) {
      const view = viewOf(out.kind, out.output);
      if (!view.spans) continue;
      for (const s of view.spans(out.output)) {
        if (s.rank > 1 && !withAlternatives) continue;
        if (!(s.end > s.start)) continue;
        marks.push({ id: `m${marks.length}`, head: out.head, kind: out.kind, rank: s.rank, score: s.score,
          start: s.start, end: s.end, field: s.field || "context", text: s.text, isTarget: out === result.target, isArg: false });
      }
    }
    const explanation = result.explanation;
    for (const arg of (explanation && explanation.arguments) || []) {
      let mark = marks.find((m) => m.head === arg.head && m.start === arg.start && m.end === arg.end &&
        onPassage(m.field) === onPassage(arg.field));
      if (!mark) {
        mark = { id: `m${marks.length}`, head: arg.head, kind: "argument", rank: "arg", score: arg.score, start: arg.start,
          end: arg.end, field: arg.field, text: arg.text, isTarget: false, isArg: true };
        marks.push(mark);
      }
      mark.isArg = true;
      arg.markId = mark.id;
    }
    return marks;
  }

  function markLabel(m) {
    return m.rank === 1 ? m.head : `${m.head} #${m.rank}`;
  }

  function drawMarked(container, text, marks) {
    container.replaceChildren();
    const cuts = new Set([0, text.length]);
    for (const m of marks) {
      cuts.add(Math.max(0, Math.min(text.length, m.start)));
      cuts.add(Math.max(0, Math.min(text.length, m.end)));
    }
    const points = [...cuts].sort((a, b) => a - b);
    for (let i = 0; i < points.length - 1; i += 1) {
      const a = points[i];
      const b = points[i + 1];
      for (const m of marks) {
        if (m.start === a) container.append(el("span", { class: `tag ${colourOf(m.head)}${m.rank === 1 ? "" : " alt"}`, text: markLabel(m), "aria-hidden": "true" }));
      }
      if (a === b) continue;
      const seg = el("span", { class: "seg", text: text.slice(a, b), data: { start: a, end: b } });
      const covering = marks.filter((m) => m.start <= a && m.end >= b);
      if (covering.length) {
        seg.classList.add("m");
        seg.dataset.marks = covering.map((m) => m.id).join(" ");
        seg.title = covering.map((m) => `${m.head} (${m.kind}) · rank ${m.rank} · score ${fmt(m.score)}` +
          (m.isArg ? " · argument of the explanation" : "")).join("\n");
        stripe(seg, covering);
        if (covering.some((m) => m.isArg)) seg.classList.add("arg");
      }
      container.append(seg);
    }
  }

  // One stripe per covering mark under the text (thick for a head's best span, thin for its
  // alternatives), stacked, set through CSSOM (the CSP forbids inline style attributes).
  function stripe(seg, covering) {
    const images = [];
    const sizes = [];
    const positions = [];
    let offset = 0;
    for (const m of covering) {
      const width = m.rank === 1 || m.isArg ? 4 : 2;
      const colour = `var(--c${colourOf(m.head).slice(1)})`;
      images.push(`linear-gradient(${colour}, ${colour})`);
      sizes.push(`100% ${width}px`);
      positions.push(`0 calc(100% - ${offset}px)`);
      offset += width + 1;
    }
    seg.style.backgroundImage = images.join(", ");
    seg.style.backgroundSize = sizes.join(", ");
    seg.style.backgroundPosition = positions.join(", ");
    seg.style.setProperty("--pad", `${offset + 1}px`);
  }

  function flash(container, markId, on) {
    for (const seg of container.querySelectorAll(".seg.m")) {
      if (seg.dataset.marks.split(" ").includes(markId)) seg.classList.toggle("flash", on);
    }
  }

  function flashEverywhere(markId, on, scroll) {
    for (const id of ["marked-passage", "marked-question"]) flash($(id), markId, on);
    if (on && scroll) {
      const first = document.querySelector(`.seg.flash`);
      if (first) first.scrollIntoView({ block: "nearest" });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What changed since the last answer

  function spanKeys(view, output) {
    return new Map(view.spans(output).map((s) => [`${s.field}|${s.text}`, s]));
  }

  function wordDiff(before, after) {
    const a = before.split(/\s+/).filter(Boolean);
    const b = after.split(/\s+/).filter(Boolean);
    if (a.length * b.length > 160000) return [el("del", { text: before }), " ", el("ins", { text: after })];
    const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
    for (let i = a.length - 1; i >= 0; i -= 1) {
      for (let j = b.length - 1; j >= 0; j -= 1) {
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const parts = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) { parts.push(`${a[i]} `); i += 1; j += 1; }
      else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) { parts.push(el("ins", { text: b[j] }), " "); j += 1; }
      else { parts.push(el("del", { text: a[i] }), " "); i += 1; }
    }
    return parts;
  }

  // -> {changed, items: [node or string, ...]}, comparing one head's output with its previous one.
  function compare(kind, now, before) {
    const view = viewOf(kind, now);
    const items = [];
    if (view.spans && view !== KIND_VIEWS.classification) {
      const a = spanKeys(view, before);
      const b = spanKeys(view, now);
      const added = [...b.keys()].filter((k) => !a.has(k)).map((k) => b.get(k));
      const removed = [...a.keys()].filter((k) => !b.has(k)).map((k) => a.get(k));
      const topBefore = view.describe(before);
      const topNow = view.describe(now);
      if (view === KIND_VIEWS.span && topBefore !== topNow) items.push(`best span ${topBefore} → ${topNow}`);
      for (const s of added) items.push(el("span", {}, "added ", el("ins", { text: quote(s.text) })));
      for (const s of removed) items.push(el("span", {}, "removed ", el("del", { text: quote(s.text) })));
    } else if (view === KIND_VIEWS.classification) {
      if (now.label !== before.label) items.push(`label flipped: ${before.label} → ${now.label}`);
      else if (Math.abs(now.score - before.score) >= 0.005) items.push(`still ${now.label}: ${pct(before.score)} → ${pct(now.score)}`);
    } else if (view === KIND_VIEWS.generative) {
      if (now.text !== before.text) items.push(el("span", { class: "diff" }, ...wordDiff(before.text, now.text)));
    } else if (JSON.stringify(now) !== JSON.stringify(before)) {
      items.push("output changed");
    }
    return { changed: items.length > 0, items };
  }

  function changesBox(title, comparison) {
    const box = el("div", { class: `changes${comparison.changed ? " changed" : ""}`, data: { changed: String(comparison.changed) } },
      el("h4", { text: title }));
    if (!comparison.changed) box.append(el("p", { class: "meta", text: "unchanged" }));
    else box.append(el("ul", {}, ...comparison.items.map((item) => el("li", {}, item))));
    return box;
  }

  function headChanges(head, kind, output, previous) {
    if (!previous) return null;
    const before = [previous.target, ...previous.non_target].find((o) => o.head === head);
    if (!before) {
      const failed = previous.errors.some((e) => e.head === head);
      return { changed: true, items: [failed ? "did not answer last time; answers now" : "not run last time"] };
    }
    return compare(kind, output, before.output);
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs -> request

  function fillTaskSelect(select) {
    select.replaceChildren();
    const tasks = el("optgroup", { label: "Task (its target head answers)" });
    for (const [task, head] of Object.entries(state.tasks)) tasks.append(el("option", { value: `task:${task}`, text: `${task} → ${head}` }));
    const heads = el("optgroup", { label: "Target head, directly" });
    for (const h of state.heads) heads.append(el("option", { value: `head:${h.name}`, text: `${h.name} (${h.kind})` }));
    select.append(tasks, heads);
  }

  function fillExampleSelect(select) {
    select.replaceChildren(el("option", { value: "", text: "— free text —" }));
    const groups = {};
    state.examples.forEach((ex, i) => {
      if (!groups[ex.setting]) {
        groups[ex.setting] = el("optgroup", { label: SETTING_TITLES[ex.setting] || ex.setting });
        select.append(groups[ex.setting]);
      }
      groups[ex.setting].append(el("option", { value: String(i), text: `${ex.task}: ${clip(ex.question || ex.context, 80)}` }));
    });
  }

  function requestBody(taskValue, question, passage, field) {
    const split = taskValue.indexOf(":");
    const kind = taskValue.slice(0, split);
    const name = taskValue.slice(split + 1);
    const body = kind === "head" ? { target_head: name } : { task: name };
    body.inputs = {};
    if (question.trim()) body.inputs.question = question;
    body.inputs[field] = passage;
    return body;
  }

  // ---------------------------------------------------------------------------------------------
  // Inspect view

  function inspectBody() {
    return requestBody($("task").value, $("question").value, $("passage").value, $("passage-field").value);
  }

  async function runInspect() {
    clearTimeout(state.debounce);
    const seq = ++state.seq;
    const body = inspectBody();
    $("inspect-status").textContent = "asking every head…";
    try {
      const result = await api("POST", "v1/predict", body);
      if (seq !== state.seq) return;
      clearAlert();
      renderInspect(result, body);
      $("inspect-status").textContent = `answered in ${result.timings_ms.total.toFixed(0)} ms (request ${result.request_id})`;
    } catch (err) {
      if (seq !== state.seq) return;
      $("inspect-status").textContent = "";
      showAlert(err.message);
    }
  }

  const passageOf = (body) => body.inputs.context ?? body.inputs.text;

  function renderInspect(result, body) {
    // Compared with the last answer only while the passage is the same: across passages every
    // span would differ, which says nothing about the heads.
    const previous = state.last && passageOf(state.last.body) === passageOf(body) ? state.last.result : null;
    state.answers += 1;
    const out = $("inspect-out");
    out.hidden = false;
    out.dataset.answers = String(state.answers);
    out.dataset.requestId = result.request_id;

    const marks = collectMarks(result, $("show-alternatives").checked);
    renderTarget(result, body, previous, marks);
    renderMarks(body, marks, result);
    renderPanels(result, previous);
    state.last = { result, body, marks };
  }

  function renderTarget(result, body, previous, marks) {
    const t = result.target;
    const view = viewOf(t.kind, t.output);
    const box = $("target-body");
    box.replaceChildren();
    box.dataset.head = t.head;
    box.append(el("p", {}, chip(t.head), el("span", { class: "kind", text: `${t.kind} · answers ${result.task ? `task ${result.task}` : "as the named target head"}` })));
    box.append(el("p", { class: "answer", text: view.describe(t.output) }));
    const meta = [];
    const confidence = view.confidence ? view.confidence(t.output) : undefined;
    if (confidence !== undefined) meta.push(`confidence ${pct(confidence)}`);
    const route = result.route !== undefined ? result.route : t.route;
    if (route !== undefined && route !== null) {
      meta.push(`route: ${typeof route === "object" ? Object.entries(route).map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v) : v}`).join(", ") : route}`);
    }
    if (result.input) {
      if (result.input.windowed) meta.push(`passage read in ${result.input.windows} windows`);
      if (result.input.question_truncated) meta.push("question truncated to fit the model");
    }
    if (meta.length) box.append(el("p", { class: "meta", text: meta.join(" · ") }));
    const ref = state.reference;
    if (ref && body.inputs.question === (ref.question || undefined) && (body.inputs.context ?? body.inputs.text) === ref.context) {
      box.append(el("p", { class: "meta", text: `reference answer (${ref.answer_from === "generator" ? "the generator's" : `gold, ${ref.answer_from}`}): ${ref.answer}` +
        (ref.operation ? ` · operation: ${ref.operation} of ${ref.argument_spans.map((s) => quote(s.text)).join(", ")}` : "") }));
    }
    // The answer is already on top; what the head says beyond it (offsets, alternatives, probabilities).
    box.append((view.details || view.body).call(view, t.output, t.head));
    const comparison = headChanges(t.head, t.kind, t.output, previous);
    if (comparison) box.append(changesBox("Since the last answer", comparison));
    if (result.errors.length) {
      box.append(el("p", { class: "error", text: `degraded: ${result.errors.length} non-target head(s) did not answer (see their panels)` }));
    }
    renderExplanation(result.explanation, marks);
  }

  function renderExplanation(explanation, marks) {
    const box = $("explanation");
    box.replaceChildren();
    if (!explanation) return;
    box.className = "explanation";
    const title = { arithmetic: "Explanation: arithmetic over the extracted spans", evidence: "Explanation: the evidence spans",
      none: "Explanation: none that holds" }[explanation.kind] || `Explanation (${explanation.kind})`;
    box.append(el("h3", { class: "minor", text: title }));
    if (explanation.expression) box.append(el("p", { class: "expr", text: explanation.expression }));
    box.append(el("p", { text: explanation.message }));
    const meta = [];
    if (explanation.consistent === true) meta.push("consistent: an operation over the spans gives the target's number");
    if (typeof explanation.chance === "number") {
      meta.push(`chance rate ${pct(explanation.chance)}` + (typeof explanation.chance_bound === "number" ? ` (trusted below ${pct(explanation.chance_bound)})` : ""));
    }
    if (explanation.compared_entities && explanation.compared_entities.length) meta.push(`compares ${explanation.compared_entities.join(" and ")}`);
    if (meta.length) box.append(el("p", { class: "meta", text: meta.join(" · ") }));
    if (explanation.arguments.length) {
      const what = { arithmetic: "arguments", evidence: "evidence", none: "numbers tried" }[explanation.kind] || "spans";
      const args = el("p", { class: "args" }, `${what} (select one to find it in the text): `);
      for (const arg of explanation.arguments) {
        const link = el("button", { type: "button", class: `arg-link ${colourOf(arg.head)}`, text: `${quote(arg.text)} · ${arg.head}`,
          data: { mark: arg.markId || "" }, "aria-label": `argument ${arg.text} from head ${arg.head}, ${arg.field} ${arg.start} to ${arg.end}` });
        link.addEventListener("mouseenter", () => flashEverywhere(arg.markId, true, false));
        link.addEventListener("mouseleave", () => flashEverywhere(arg.markId, false, false));
        link.addEventListener("focus", () => flashEverywhere(arg.markId, true, true));
        link.addEventListener("blur", () => flashEverywhere(arg.markId, false, false));
        link.addEventListener("click", () => flashEverywhere(arg.markId, true, true));
        args.append(link);
      }
      box.append(args);
    }
  }

  function renderMarks(body, marks, result) {
    const passage = body.inputs.context ?? body.inputs.text;
    const question = body.inputs.question || "";
    drawMarked($("marked-passage"), passage, marks.filter((m) => onPassage(m.field)));
    drawMarked($("marked-question"), question, marks.filter((m) => !onPassage(m.field)));
    $("marked-question").dataset.empty = String(!question);

    const legend = $("legend");
    legend.replaceChildren();
    const outputs = [result.target, ...result.non_target];
    for (const out of outputs) {
      const count = marks.filter((m) => m.head === out.head).length;
      const view = viewOf(out.kind, out.output);
      if (!view.spans) continue;
      legend.append(el("li", { class: colourOf(out.head) }, el("span", { class: "swatch", "aria-hidden": "true" }),
        `${out.head}${out === result.target ? " (target)" : ""}: ${count} span(s)`));
    }
    if (marks.some((m) => m.isArg)) legend.append(el("li", { text: "dashed box: an argument of the explanation" }));

    const list = $("mark-list");
    list.replaceChildren();
    for (const m of marks) {
      const item = el("li", { tabindex: "0", class: "mark-item",
        data: { mark: m.id, head: m.head, start: m.start, end: m.end, field: onPassage(m.field) ? "passage" : "question" } },
      chip(m.head, m.rank === 1 ? "" : `#${m.rank}`), el("span", { class: "mark-text", text: m.text }),
      ` · ${m.field} ${m.start}–${m.end} · score ${fmt(m.score)}${m.isArg ? " · argument" : ""}`);
      item.addEventListener("focus", () => flashEverywhere(m.id, true, true));
      item.addEventListener("blur", () => flashEverywhere(m.id, false, false));
      item.addEventListener("mouseenter", () => flashEverywhere(m.id, true, false));
      item.addEventListener("mouseleave", () => flashEverywhere(m.id, false, false));
      list.append(item);
    }
  }

  function renderPanels(result, previous) {
    const panels = $("panels");
    panels.replaceChildren();
    for (const out of result.non_target) {
      const view = viewOf(out.kind, out.output);
      const panel = el("article", { class: `card panel ${colourOf(out.head)}`, data: { head: out.head, kind: out.kind }, "aria-label": `head ${out.head}` },
        el("h3", {}, chip(out.head), el("span", { class: "kind", text: out.kind })),
        view.body(out.output, out.head));
      const comparison = headChanges(out.head, out.kind, out.output, previous);
      if (comparison) panel.append(changesBox("Since the last answer", comparison));
      panels.append(panel);
    }
    for (const error of result.errors) {
      panels.append(el("article", { class: "card panel degraded", data: { head: error.head, kind: "error" }, "aria-label": `head ${error.head} did not answer` },
        el("h3", {}, chip(error.head), el("span", { class: "kind", text: "did not answer" })),
        el("p", { class: "error", text: `${error.kind}: ${error.message}` }),
        el("p", { class: "meta", text: "The request still succeeded: a non-target head that fails is reported, not dropped." })));
    }
  }

  $("inspect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runInspect();
  });
  $("question").addEventListener("input", () => {
    if (!$("live").checked || !$("passage").value.trim()) return;
    clearTimeout(state.debounce);
    state.debounce = setTimeout(runInspect, DEBOUNCE_MS);
  });
  $("show-alternatives").addEventListener("change", () => {
    if (!state.last) return;
    const { result, body } = state.last;
    const marks = collectMarks(result, $("show-alternatives").checked);
    renderMarks(body, marks, result);
    renderExplanation(result.explanation, marks);
    state.last.marks = marks;
  });
  $("example").addEventListener("change", () => {
    const ex = state.examples[Number($("example").value)];
    if (!ex) { state.reference = null; return; }
    state.reference = ex;
    $("task").value = `task:${ex.task}`;
    $("question").value = ex.question;
    $("passage").value = ex.context;
    $("passage-field").value = "context";
    runInspect();
  });

  // ---------------------------------------------------------------------------------------------
  // Steer view: two questions, one passage, one batch

  async function runSteer() {
    const passage = $("steer-passage").value;
    const questions = [$("steer-q1").value, $("steer-q2").value];
    const items = questions.map((q) => requestBody($("steer-task").value, q, passage, "context"));
    $("steer-status").textContent = "asking every head, for both questions…";
    try {
      const batch = await api("POST", "v1/predict/batch", { items });
      clearAlert();
      renderSteer(batch, items);
      $("steer-status").textContent = `answered in ${batch.timings_ms.total.toFixed(0)} ms (one batch)`;
    } catch (err) {
      $("steer-status").textContent = "";
      showAlert(err.message);
    }
  }

  function renderSteer(batch, items) {
    $("steer-out").hidden = false;
    const [a, b] = batch.results;
    ["steer-a", "steer-b"].forEach((id, i) => {
      const result = batch.results[i];
      const body = items[i];
      const col = $(id);
      col.replaceChildren();
      const t = result.target;
      col.append(el("h3", { text: `${i ? "B" : "A"}: ${body.inputs.question || "(no question)"}` }));
      col.append(el("p", {}, chip(t.head, "(target)"), viewOf(t.kind, t.output).describe(t.output)));
      for (const out of [t, ...result.non_target]) {
        if (viewOf(out.kind, out.output) !== KIND_VIEWS.generative) continue;
        col.append(el("p", { class: "summary-box", data: { head: out.head } }, chip(out.head), out.output.text));
      }
      const marks = collectMarks(result, false);
      const marked = el("p", { class: "marked steer-passage" });
      drawMarked(marked, body.inputs.context, marks.filter((m) => onPassage(m.field)));
      col.append(el("h4", { class: "minor", text: "spans in the passage" }), marked);
      const list = el("ul", { class: "span-list" });
      for (const m of marks) list.append(el("li", { class: "mark-item", data: { head: m.head, start: m.start, end: m.end, field: onPassage(m.field) ? "passage" : "question" } }, chip(m.head), el("span", { class: "mark-text", text: m.text })));
      col.append(list);
      for (const error of result.errors) col.append(el("p", { class: "error", text: `${error.head} did not answer: ${error.kind}: ${error.message}` }));
    });
    const diff = $("steer-diff");
    diff.replaceChildren(el("h3", { text: "What changes from question A to question B" }));
    const list = el("ul");
    for (const out of [b.target, ...b.non_target]) {
      const before = [a.target, ...a.non_target].find((o) => o.head === out.head);
      if (!before) continue;
      const comparison = compare(out.kind, out.output, before.output);
      list.append(el("li", { data: { head: out.head, changed: String(comparison.changed) } }, chip(out.head), " ",
        ...(comparison.changed ? comparison.items.flatMap((item) => [item, "; "]).slice(0, -1) : ["unchanged"])));
    }
    diff.append(list);
  }

  $("steer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runSteer();
  });
  $("steer-example").addEventListener("change", () => {
    const ex = state.examples[Number($("steer-example").value)];
    if (!ex) return;
    $("steer-task").value = `task:${ex.task}`;
    $("steer-passage").value = ex.context;
    $("steer-q1").value = ex.question;
    // Another question of the same setting, as a starting point for B.
    const other = state.examples.find((e) => e.setting === ex.setting && e.question && e.question !== ex.question);
    $("steer-q2").value = other ? other.question : "";
  });

  // ---------------------------------------------------------------------------------------------
  // Batch view: rows of inputs, one column per head, through /v1/predict/batch

  let rowCounter = 0;

  function addRow(values = {}) {
    const rows = $("batch-rows");
    const max = state.limits ? state.limits.max_batch_items : 8;
    if (rows.children.length >= max) {
      $("batch-status").textContent = `the service takes at most ${max} items per batch`;
      return;
    }
    rowCounter += 1;
    const row = $("batch-row-template").content.firstElementChild.cloneNode(true);
    const n = rowCounter;
    for (const [cls, key] of [["b-task", "task"], ["b-question", "question"], ["b-passage", "passage"]]) {
      const control = row.querySelector(`.${cls}`);
      control.id = `${cls}-${n}`;
      control.closest(".field").querySelector("label").htmlFor = control.id;
      if (cls === "b-task") fillTaskSelect(control);
      if (values[key] !== undefined) control.value = values[key];
    }
    row.querySelector(".b-remove").addEventListener("click", () => { row.remove(); numberRows(); });
    rows.append(row);
    numberRows();
  }

  function numberRows() {
    [...$("batch-rows").children].forEach((row, i) => {
      row.querySelector("legend").textContent = `Input ${i + 1}`;
      row.querySelector(".b-remove").setAttribute("aria-label", `Remove input ${i + 1}`);
    });
  }

  function fillBatchWithExamples() {
    $("batch-rows").replaceChildren();
    const seen = new Set();
    for (const ex of state.examples) {
      if (seen.has(ex.task)) continue;
      seen.add(ex.task);
      addRow({ task: `task:${ex.task}`, question: ex.question, passage: ex.context });
    }
  }

  async function runBatch() {
    const rows = [...$("batch-rows").children];
    if (!rows.length) { showAlert("add at least one row"); return; }
    const items = rows.map((row) => requestBody(row.querySelector(".b-task").value, row.querySelector(".b-question").value,
      row.querySelector(".b-passage").value, "context"));
    $("batch-status").textContent = `asking every head about ${items.length} inputs in one batch…`;
    try {
      const batch = await api("POST", "v1/predict/batch", { items });
      clearAlert();
      renderBatch(batch, items);
      $("batch-status").textContent = `answered in ${batch.timings_ms.total.toFixed(0)} ms`;
    } catch (err) {
      $("batch-status").textContent = "";
      showAlert(err.message);
    }
  }

  function renderBatch(batch, items) {
    $("batch-out").hidden = false;
    const table = $("batch-table");
    table.replaceChildren();
    const heads = state.heads.map((h) => h.name);
    table.append(el("caption", { class: "visually-hidden", text: "One row per input, one column per head; the target head's cell is marked" }));
    table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "input" }),
      ...heads.map((h) => el("th", { scope: "col" }, chip(h))))));
    const tbody = el("tbody");
    batch.results.forEach((result, i) => {
      const inputs = items[i].inputs;
      const row = el("tr", { data: { row: String(i) } },
        el("th", { scope: "row" }, el("strong", { text: result.task || items[i].target_head || "" }), el("br"),
          el("span", { text: inputs.question || "(no question)" }), el("br"),
          el("span", { class: "muted", text: clip(inputs.context ?? inputs.text, 100) })));
      for (const head of heads) {
        const out = [result.target, ...result.non_target].find((o) => o.head === head);
        const error = result.errors.find((e) => e.head === head);
        if (out) {
          const isTarget = out === result.target;
          row.append(el("td", { class: isTarget ? "target-cell" : "", data: { head } },
            isTarget ? el("strong", { text: "target: " }) : null, viewOf(out.kind, out.output).describe(out.output)));
        } else if (error) {
          row.append(el("td", { class: "error-cell", data: { head }, text: `did not answer: ${error.kind}` }));
        } else {
          row.append(el("td", { data: { head }, text: "not run" }));
        }
      }
      tbody.append(row);
    });
    table.append(tbody);
  }

  $("batch-add").addEventListener("click", () => addRow());
  $("batch-fill").addEventListener("click", fillBatchWithExamples);
  $("batch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    runBatch();
  });

  // ---------------------------------------------------------------------------------------------
  // Views and start-up

  function showView(name) {
    for (const tab of document.querySelectorAll(".view-tab")) tab.setAttribute("aria-pressed", String(tab.dataset.view === name));
    for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  }

  for (const tab of document.querySelectorAll(".view-tab")) tab.addEventListener("click", () => showView(tab.dataset.view));

  async function boot() {
    try {
      const info = await api("GET", "v1/heads");
      state.heads = info.heads;
      state.tasks = info.tasks;
      state.limits = info.limits;
      $("checkpoint").textContent = `checkpoint ${info.checkpoint.name} (${info.checkpoint.hash}) · backbone ${info.checkpoint.backbone} · ` +
        `${info.heads.length} heads: ${info.heads.map((h) => `${h.name} (${h.kind})`).join(", ")}`;
      fillTaskSelect($("task"));
      fillTaskSelect($("steer-task"));
      const examples = await api("GET", "v1/examples");
      state.examples = examples.examples;
      fillExampleSelect($("example"));
      fillExampleSelect($("steer-example"));
      if (!state.examples.length) $("inspect-status").textContent = "this checkpoint stores no examples: type your own";
      if (!$("batch-rows").children.length) addRow();
      document.body.dataset.ready = "true";
    } catch (err) {
      if (err.status !== 401) showAlert(err.message);
    }
  }

  const initial = location.hash.slice(1);
  showView(["inspect", "steer", "batch"].includes(initial) ? initial : "inspect");
  boot();
})();
