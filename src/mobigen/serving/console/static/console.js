// mobigen edge console: live view over server-sent events, small canvas charts, and the "Try it" form.
// Vanilla JavaScript, no external resources. Served by the edge at /ui.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_SLOTS = 200;       // slots kept in memory
  const TABLE_SLOTS = 20;      // slots shown in the table
  const WORKER_WINDOW_S = 10;  // worker use = edge denoising seconds in this window / window
  const state = {
    info: null,
    slots: [],                 // slot events, oldest first; users carry .measured and .device
    byReq: new Map(),          // request_id -> user object of its slot
    pendingReq: new Map(),     // request events that arrived before their slot event
    pendingDev: new Map(),     // device events that arrived before their slot event
    edgeRuns: [],              // [t_wall, edge_denoise_s] of finished edge shares
    workerSamples: [],         // {queue, use} over time (heartbeats and slots)
    serverNow: 0,              // the server's clock (s), from its events
    lastHeartbeat: null,
    dirty: false,
  };

  // ---- formatting --------------------------------------------------------------------------
  const num = (x) => typeof x === "number" && Number.isFinite(x);
  const fmt = (x, d = 3) => (num(x) ? x.toFixed(d) : "–");
  const pct = (x) => (num(x) ? `${(100 * x).toFixed(0)} %` : "–");
  function fmtBytes(n) {
    if (!num(n)) return "–";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  }
  const mean = (xs) => { const v = xs.filter(num); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; };
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // ---- state updates -----------------------------------------------------------------------
  function addSlot(slot) {
    if (state.slots.some((s) => s.slot_id === slot.slot_id && s.t_wall === slot.t_wall)) return;
    for (const u of slot.users) {
      u.measured = u.measured || state.pendingReq.get(u.request_id) || null;
      u.device = u.device || state.pendingDev.get(u.request_id) || null;
      state.pendingReq.delete(u.request_id);
      state.pendingDev.delete(u.request_id);
      state.byReq.set(u.request_id, u);
    }
    state.slots.push(slot);
    while (state.slots.length > MAX_SLOTS) {
      for (const u of state.slots.shift().users) state.byReq.delete(u.request_id);
    }
    state.serverNow = Math.max(state.serverNow, slot.t_wall);
    sampleWorker(slot.worker_queue);
  }
  function addRequest(ev) {
    const u = state.byReq.get(ev.request_id);
    if (u) u.measured = ev; else state.pendingReq.set(ev.request_id, ev);
    if (ev.timings && num(ev.timings.edge_denoise_s)) state.edgeRuns.push([ev.t_wall, ev.timings.edge_denoise_s]);
    state.serverNow = Math.max(state.serverNow, ev.t_wall);
  }
  function addDevice(ev) {
    const u = state.byReq.get(ev.request_id);
    if (u) u.device = ev; else state.pendingDev.set(ev.request_id, ev);
  }
  function workerUse() {
    const t0 = state.serverNow - WORKER_WINDOW_S;
    state.edgeRuns = state.edgeRuns.filter(([t]) => t >= t0);
    return Math.min(1, state.edgeRuns.reduce((a, [, s]) => a + s, 0) / WORKER_WINDOW_S);
  }
  function sampleWorker(queue) {
    state.workerSamples.push({ queue, use: workerUse() });
    if (state.workerSamples.length > 300) state.workerSamples.shift();
  }
  function onHeartbeat(hb) {
    state.lastHeartbeat = hb;
    state.serverNow = Math.max(state.serverNow, hb.t_wall);
    sampleWorker(hb.worker_queue);
    $("heartbeat").textContent = `last heartbeat ${new Date(hb.t_wall * 1000).toLocaleTimeString()}` +
      (hb.dropped ? ` · ${hb.dropped} events dropped (this browser was slow)` : "");
    $("queue").textContent = `${hb.worker_queue}${hb.worker_busy ? " + 1 running" : ""}`;
    $("in-flight").textContent = String(hb.in_flight) + (hb.try_waiting ? ` (${hb.try_waiting} try-it)` : "");
    $("worker-use").textContent = pct(workerUse());
  }
  function changed() {
    if (state.dirty) return;
    state.dirty = true;
    requestAnimationFrame(() => { state.dirty = false; render(); });
  }

  // ---- charts (canvas) ---------------------------------------------------------------------
  function drawChart(canvas, series, opts = {}) {
    const dpr = window.devicePixelRatio || 1;
    const W = canvas.clientWidth || canvas.width, H = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const pad = { l: 44, r: 8, t: 18, b: 16 };
    const n = Math.max(0, ...series.map((s) => s.values.length));
    const all = series.flatMap((s) => s.values.filter(num));
    if (num(opts.hline)) all.push(opts.hline);
    let lo = num(opts.ymin) ? opts.ymin : Math.min(0, ...all);
    let hi = num(opts.ymax) ? opts.ymax : Math.max(...all, lo + 1e-9);
    if (!all.length) { hi = 1; lo = 0; }
    if (hi - lo < 1e-12) hi = lo + 1;
    const x = (i) => pad.l + (n <= 1 ? 0 : (i * (W - pad.l - pad.r)) / (n - 1));
    const y = (v) => H - pad.b - ((v - lo) * (H - pad.t - pad.b)) / (hi - lo);
    ctx.strokeStyle = "#d9dde5"; ctx.fillStyle = "#5b6475"; ctx.font = "10px system-ui, sans-serif"; ctx.lineWidth = 1;
    for (const v of [lo, (lo + hi) / 2, hi]) {
      ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(W - pad.r, y(v)); ctx.stroke();
      ctx.fillText((opts.yfmt || ((z) => z.toPrecision(2)))(v), 2, y(v) + 3);
    }
    if (num(opts.hline)) {
      ctx.save(); ctx.setLineDash([4, 3]); ctx.strokeStyle = "#cf222e";
      ctx.beginPath(); ctx.moveTo(pad.l, y(opts.hline)); ctx.lineTo(W - pad.r, y(opts.hline)); ctx.stroke(); ctx.restore();
    }
    let lx = pad.l;
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.5;
      ctx.beginPath();
      let open = false;
      s.values.forEach((v, i) => {
        if (!num(v)) { open = false; return; }
        if (open) ctx.lineTo(x(i), y(v)); else { ctx.moveTo(x(i), y(v)); open = true; }
      });
      ctx.stroke();
      s.values.forEach((v, i) => { if (num(v)) { ctx.fillRect(x(i) - 1.5, y(v) - 1.5, 3, 3); } });
      ctx.fillText(`■ ${s.label}`, lx, 11);
      lx += ctx.measureText(`■ ${s.label}`).width + 12;
    }
    if (!n) { ctx.fillStyle = "#5b6475"; ctx.fillText("waiting for the first slot…", pad.l + 8, H / 2); }
  }

  function renderCharts() {
    const slots = state.slots.slice(-60);
    const users = (s) => s.users;
    drawChart($("chart-latency"), [
      { label: "predicted L", color: "#1f6feb", values: slots.map((s) => mean(users(s).map((u) => u.predicted.L))) },
      { label: "device measured L", color: "#8250df",
        values: slots.map((s) => mean(users(s).map((u) => (u.device ? u.device.measured.L : null)))) },
      { label: "edge measured", color: "#1a7f37",
        values: slots.map((s) => mean(users(s).map((u) => (u.measured ? u.measured.timings.server_total_s : null)))) },
    ], { ymin: 0, hline: state.info ? state.info.latency_threshold_s : null });
    drawChart($("chart-quality"), [
      { label: "Q mean (surrogate)", color: "#1f6feb", values: slots.map((s) => mean(users(s).map((u) => u.Q))) },
      { label: "satisfied (surrogate)", color: "#1a7f37",
        values: slots.map((s) => mean(users(s).map((u) => (u.satisfied ? 1 : 0)))) },
    ], { ymin: 0, ymax: 1 });
    drawChart($("chart-budget"), [
      { label: "edge budget used", color: "#bf8700",
        values: slots.map((s) => (s.edge_budget_steps > 0 ? s.edge_used_steps / s.edge_budget_steps : null)) },
    ], { ymin: 0, hline: 1, yfmt: (v) => `${(100 * v).toFixed(0)}%` });
    const ws = state.workerSamples.slice(-120);
    drawChart($("chart-worker"), [
      { label: "jobs queued", color: "#cf222e", values: ws.map((w) => w.queue) },
      { label: "worker use", color: "#1f6feb", values: ws.map((w) => w.use) },
    ], { ymin: 0 });
  }

  // ---- table and tiles ---------------------------------------------------------------------
  function renderTable() {
    const body = $("slots-body");
    body.textContent = "";
    const slots = state.slots.slice(-TABLE_SLOTS).reverse();
    if (!slots.length) {
      const tr = document.createElement("tr"); tr.className = "empty";
      const td = cell(tr, "no slot has closed yet"); td.colSpan = 15; body.appendChild(tr);
      return;
    }
    for (const s of slots) {
      s.users.forEach((u, k) => {
        const tr = document.createElement("tr");
        tr.dataset.slotId = String(s.slot_id);
        tr.dataset.requestId = u.request_id;
        if (k === 0) tr.className = "slot-first";
        const c = cell(tr, k === 0 ? `#${s.slot_id} (K=${s.K})` : "");
        if (k === 0) c.title = `controller ${s.controller}; decision ${fmt(s.decision_s, 4)} s; ` +
          `edge budget ${s.edge_used_steps}/${s.edge_budget_steps} steps${s.feasible ? "" : "; INFEASIBLE slot"}`;
        cell(tr, u.request_id.slice(0, 10)).title = u.request_id;
        cell(tr, `${u.condition}, ${u.alpha}, ${u.beta}, ${u.codec}`);
        cell(tr, fmt(u.omega_I, 2));
        cell(tr, fmt(u.qoe_threshold, 2));
        cell(tr, `${u.T} (${u.edge_steps} + ${u.local_steps})${u.guard_repaired ? " ✱" : ""}`).title =
          u.guard_repaired ? "repaired by the feasibility guard" : `o = ${fmt(u.o, 3)}`;
        const p = u.predicted;
        cell(tr, fmt(p.L1));
        cell(tr, `${fmt(p.L2)} (${fmt(p.edge)} / ${fmt(p.downlink)} / ${fmt(p.local)})`);
        cell(tr, fmt(p.L));
        const m = u.measured;
        cell(tr, m ? `${fmt(m.timings.edge_wait_s)} + ${fmt(m.timings.edge_denoise_s)}` : "…");
        cell(tr, m ? fmt(m.timings.server_total_s) : "…");
        const d = u.device;
        cell(tr, d ? `${fmt(d.measured.L1)} / ${fmt(d.measured.L2)}${d.simulated ? " (sim.)" : ""}` : "–");
        cell(tr, `${fmtBytes(u.uplink_bytes)} / ${m ? fmtBytes(m.downlink_bytes) : "…"}`);
        cell(tr, fmt(u.Q));
        cell(tr, u.satisfied ? "yes" : "no", u.satisfied ? "yes" : "no");
        body.appendChild(tr);
      });
    }
  }

  function renderTiles() {
    $("slot-count").textContent = String(state.slots.length);
    const s = state.slots[state.slots.length - 1];
    if (!s) return;
    $("last-k").textContent = `#${s.slot_id}: ${s.K}`;
    $("budget").textContent = `${s.edge_used_steps} / ${s.edge_budget_steps} steps` +
      (s.edge_budget_steps > 0 ? ` (${pct(s.edge_used_steps / s.edge_budget_steps)})` : "");
    $("sat").textContent = `${s.users.filter((u) => u.satisfied).length} / ${s.K}`;
    if (!state.lastHeartbeat) $("queue").textContent = String(s.worker_queue);
    $("worker-use").textContent = pct(workerUse());
    for (const el of document.querySelectorAll(".quality-backend")) el.textContent = s.quality_backend;
  }

  function render() {
    renderTiles();
    renderTable();
    renderCharts();
  }

  // ---- the live stream ---------------------------------------------------------------------
  function connect() {
    const buffered = [];
    let ready = false;
    const handle = (kind, data) => {
      if (!ready) { buffered.push([kind, data]); return; }
      if (kind === "slot") addSlot(data);
      else if (kind === "request") addRequest(data);
      else if (kind === "device") addDevice(data);
      else if (kind === "heartbeat") onHeartbeat(data);
      changed();
    };
    const es = new EventSource("/ui/api/events");
    for (const kind of ["slot", "request", "device", "heartbeat"]) {
      es.addEventListener(kind, (e) => handle(kind, JSON.parse(e.data)));
    }
    es.onopen = () => { const b = $("conn"); b.textContent = "live"; b.className = "badge on"; };
    es.onerror = () => { const b = $("conn"); b.textContent = "reconnecting"; b.className = "badge off"; };
    fetch("/ui/api/slots?limit=100", { cache: "no-store" })
      .then((r) => r.json())
      .then((j) => {
        for (const s of j.slots) addSlot(s);
        onHeartbeat(j);
      })
      .catch((err) => { $("heartbeat").textContent = `could not load the recent slots: ${err}`; })
      .finally(() => { ready = true; for (const [k, d] of buffered.splice(0)) handle(k, d); changed(); });
  }

  // ---- server facts and the try-it form ----------------------------------------------------
  function showInfo(info) {
    state.info = info;
    $("server-info").textContent = `scenario ${info.scenario} · controller ${info.controller} · K ≤ ${info.max_users} · ` +
      `slot ${info.slot_ms} ms · components ${info.components_label} · image ${info.image_size} px · ` +
      `T ∈ [${info.steps[0]}, ${info.steps[1]}] · L̃ = ${info.latency_threshold_s} s · quality ${info.quality_backend}`;
    const sel = $("try-device");
    sel.textContent = "";
    for (const t of info.device_types) {
      const o = document.createElement("option");
      o.value = String(t.index);
      o.textContent = `type ${t.index}: f = ${(t.f_flops / 1e12).toFixed(2)} TFLOPS, C = ${(t.budget_flops / 1e12).toFixed(1)} TFLOP/slot`;
      sel.appendChild(o);
    }
    $("try-prompt").maxLength = info.max_prompt_chars;
    if (!info.generates) {
      $("try-busy").textContent = "this edge runs the control plane only (no generation): try-it gets a decision but no image";
    }
  }

  function showError(text) {
    const el = $("try-error");
    el.textContent = text;
    el.hidden = false;
  }

  function timingRows(r) {
    const m = r.measured, p = r.predicted || {}, st = r.server_timings || {};
    return [
      ["extraction (device)", m.extraction, null],
      ["uplink (device, at B↑)", m.uplink, p.uplink_s],
      ["L¹ = extraction + uplink", m.L1, p.L1_s],
      ["slot wait (edge)", st.queue_s, null],
      ["decision (edge)", st.decision_s, null],
      ["edge steps (edge worker)", st.edge_denoise_s, p.edge_s],
      ["server wait seen by the device", m.server_wait, null],
      ["downlink (at B↓)", m.downlink, p.downlink_s],
      ["local steps + VAE decode (device)", m.local, p.local_s],
      ["L² = server wait + downlink + local", m.L2, p.L2_s],
      ["L = L¹ + L²", m.L, num(p.L1_s) && num(p.L2_s) ? p.L1_s + p.L2_s : null],
    ];
  }

  function showResult(r) {
    $("try-rid").textContent = `request ${r.request_id}`;
    const v = r.vce, d = r.decision, b = r.bytes, dev = r.device;
    $("try-cond-img").src = r.condition.data_url;
    $("try-cond-cap").textContent = `condition as uploaded: λ = ${v.condition}, α = ${v.alpha}, β = ${v.beta}, ` +
      `${v.codec}, ${r.condition.width}×${r.condition.height} px, ${r.condition.bytes} bytes`;
    $("try-decision").textContent = `T = ${d.T}, o = ${fmt(d.o, 3)}: ${d.edge_steps} edge steps + ${d.local_steps} ` +
      `device steps (controller ${d.controller}${d.guard_repaired ? ", repaired by the guard" : ""}); device type ` +
      `${dev.device_type}, B↑ = ${fmt(dev.uplink_mbps, 2)} Mbps, B↓ = ${fmt(dev.downlink_mbps, 2)} Mbps; ` +
      `completion: ${r.completion ? r.completion.status : "n/a (the edge ran every step)"}`;
    const tb = $("try-timings").querySelector("tbody");
    tb.textContent = "";
    for (const [name, meas, pred] of timingRows(r)) {
      const tr = document.createElement("tr");
      cell(tr, name); cell(tr, fmt(meas, 4)); cell(tr, fmt(pred, 4));
      tb.appendChild(tr);
    }
    $("try-bytes").textContent = `up ${b.uplink} bytes on the wire (condition ${b.condition}) · down ${b.downlink} ` +
      `bytes (${b.payload_kind} ${b.payload})`;
    const p = r.predicted || {};
    const sat = num(p.Q) ? (p.Q >= r.qoe_threshold ? "satisfied" : "not satisfied") : "";
    $("try-quality").textContent = `QoE Q = ${fmt(p.Q)} predicted by the ${p.quality_backend || "?"} quality model ` +
      `(Q̃ = ${fmt(r.qoe_threshold, 2)}: ${sat}); VCE expected (q^I, q^T) = ` +
      `${v.expected_q ? v.expected_q.map((q) => fmt(q)).join(", ") : "–"} (${v.quality_backend || "?"})`;
    const img = $("try-final-img");
    if (r.image) {
      img.hidden = false;
      img.src = r.image.data_url;
      $("try-final-cap").textContent = `final image, components ${r.components}` + (r.image.note ? `: ${r.image.note}` : "");
    } else {
      img.hidden = true;
      $("try-final-cap").textContent = "no image: this edge runs the control plane only";
    }
    $("try-result").hidden = false;
  }

  async function submitTry(ev) {
    ev.preventDefault();
    $("try-error").hidden = true;
    const file = $("try-image").files[0];
    if (!file) { showError("invalid_image: field 'image': choose an image to upload"); $("try-image").focus(); return; }
    const limit = state.info ? state.info.max_body_bytes : null;
    if (num(limit) && file.size > limit) {  // the edge's own body limit: refused before upload, as the edge would
      showError(`body_too_large (HTTP 413): field 'image': the file has ${file.size} bytes; this edge accepts request ` +
        `bodies up to ${limit} bytes`);
      return;
    }
    const fd = new FormData($("try-form"));
    const btn = $("try-submit");
    btn.disabled = true;
    $("try-busy").textContent = "running the simulated device… (its request waits for the slot to close, then the " +
      "edge and the device denoise)";
    try {
      const r = await fetch("/ui/api/try", { method: "POST", body: fd });
      let j = null;
      try { j = await r.json(); } catch (e) { j = null; }
      if (!r.ok || !j) {
        showError(j && j.error ? `${j.error} (HTTP ${r.status}): ${j.detail}` : `HTTP ${r.status}: the edge gave no JSON answer`);
        return;
      }
      showResult(j);
    } catch (err) {
      showError(`the request did not reach the edge: ${err}`);
    } finally {
      btn.disabled = false;
      $("try-busy").textContent = "";
    }
  }

  function bindOutput(inputId, outId) {
    const i = $(inputId), o = $(outId);
    const up = () => { o.textContent = Number(i.value).toFixed(2); };
    i.addEventListener("input", up);
    up();
  }

  document.addEventListener("DOMContentLoaded", () => {
    bindOutput("try-omega", "try-omega-out");
    bindOutput("try-qoe", "try-qoe-out");
    $("try-form").addEventListener("submit", submitTry);
    fetch("/ui/api/info", { cache: "no-store" })
      .then((r) => r.json())
      .then(showInfo)
      .catch((err) => { $("server-info").textContent = `could not load the server facts: ${err}`; });
    connect();
    render();
  });
})();
