// Console pages: Gateway, Elevators, Cameras, Residents. Data comes from /api/*; a server-sent
// event stream says when something changed, and the page re-reads its document then.
"use strict";
const App = (function () {
  const t = I18N.t;
  const state = { csrf: "", page: location.pathname.replace(/^\//, "") || "gateway", renderers: {} };

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  async function api(path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.method && o.method !== "GET") o.headers["X-CSRF-Token"] = state.csrf;
    const r = await fetch(path, o);
    if (r.status === 401) { location.href = "/login"; throw new Error("login required"); }
    return r;
  }
  async function json(path) { return (await api(path)).json(); }

  function age(s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }
  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
  }
  function yn(v) { return v === null || v === undefined ? t("unknown") : v ? t("yes") : t("no"); }
  function badge(v, cls) { return h("span", { class: `badge ${cls || v}` }, t(String(v))); }
  function kv(rows) {
    return h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
  }
  function card(title, ...body) { return h("section", { class: "card" }, h("h2", {}, t(title)), body); }
  function table(cols, rows, attrs) {
    return h("table", attrs || {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(c))))),
      h("tbody", {}, rows));
  }

  // -- Gateway --------------------------------------------------------------------------
  const filter = { priority: "all", text: "" };
  function eventsTable(events) {
    const shown = events.filter((e) => (filter.priority === "all" || e.priority === filter.priority)
      && (!filter.text || `${e.type} ${e.subject}`.includes(filter.text)));
    return table(["time", "priority", "type", "subject"], shown.map((e) =>
      h("tr", { class: `prio-${e.priority} sev-${e.severity}` },
        h("td", {}, new Date(e.time).toLocaleTimeString()), h("td", {}, badge(e.priority)),
        h("td", {}, e.type), h("td", {}, e.subject))), { id: "events" });
  }
  function gateway(doc) {
    const u = doc.uplink, b = doc.backlog, hl = doc.health;
    const prio = Object.entries(b.bytes_by_priority || {}).map(([k, v]) => `${t(k)} ${bytes(v)}`).join(" · ") || t("none");
    const thr = hl.throttled_raw === null ? t("unknown")
      : `0x${hl.throttled_raw.toString(16)}${hl.under_voltage_now ? " ⚡" : ""}${hl.throttled_now ? " 🐢" : ""}`;
    const events = h("div", { id: "events-box" }, eventsTable(doc.events));
    const select = h("select", { id: "event-filter", onchange: (e) => { filter.priority = e.target.value; events.replaceChildren(eventsTable(doc.events)); } },
      ["all", "alarm", "event", "telemetry"].map((p) => h("option", { value: p, selected: filter.priority === p }, t(p))));
    const text = h("input", { type: "search", placeholder: t("filter"), value: filter.text,
      oninput: (e) => { filter.text = e.target.value; events.replaceChildren(eventsTable(doc.events)); } });
    return [
      h("div", { class: "cards" },
        card("uplink", kv([["state", badge(u.state)], ["broker", u.broker], ["reason", u.reason || "—"], ["since", age(u.age_s)]])),
        card("backlog", kv([["pending", String(b.pending)], ["oldest", age(b.oldest_unsent_age_s)],
          ["by_priority", prio], ["dead", String(b.dead_letters)]])),
        card("host", kv([["clock", yn(hl.clock_synchronised)], ["disk", bytes(hl.disk_free_bytes)],
          ["temperature", hl.cpu_temp_c === null ? t("unknown") : `${hl.cpu_temp_c} °C`], ["throttling", thr],
          ["memory", hl.memory_used_fraction === null ? t("unknown") : `${Math.round(hl.memory_used_fraction * 100)} %`],
          ["config", h("code", {}, (doc.config_sha256 || "").slice(0, 12))]]))),
      card("drivers", table(["name", "kind", "state", "restarts", "last_seen", "last_error"], doc.drivers.map((d) =>
        h("tr", { "data-driver": d.name }, h("td", {}, d.name), h("td", {}, d.kind), h("td", {}, badge(d.state)),
          h("td", {}, String(d.restarts)), h("td", {}, age(d.last_seen_age_s)), h("td", { class: "error-text" }, d.last_error || ""))), { id: "drivers" })),
      card("events", h("div", { class: "filters" }, select, text), events),
    ];
  }

  // -- Elevators ------------------------------------------------------------------------
  function elevators(doc) {
    if (!doc.cars.length) return [h("p", { class: "empty" }, t("no_cars"))];
    return [h("div", { class: "cards" }, doc.cars.map((c) => h("section", { class: `card car ${c.faults.length ? "has-fault" : ""}`, "data-car": c.device },
      h("h2", {}, `${t("car")} ${c.device} `, badge(c.online === false ? "offline" : "online")),
      h("div", { class: "floor" }, c.floor === null ? "—" : String(c.floor)),
      kv([["direction", t(`${c.direction || "none"}_dir`)], ["door", t(c.door || "unknown")], ["moving", yn(c.running)],
        ["service_mode", c.service_mode || "—"], ["since", age(c.status_age_s)]]),
      h("h3", {}, t("faults")),
      c.faults.length ? h("ul", { class: "faults" }, c.faults.map((f) =>
        h("li", { class: `sev-${f.severity}`, "data-fault": f.key }, h("strong", {}, f.key), ` ${f.label_zh} · ${age(f.age_s)}`)))
        : h("p", { class: "muted" }, t("none")))))];
  }

  // -- Cameras --------------------------------------------------------------------------
  function overlay(cam, extra) {
    const f = cam.frame || { width: 640, height: 480 };
    const W = f.width, H = f.height, px = (p) => `${p[0] * W},${p[1] * H}`;
    const svg = s("svg", { class: "overlay", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
    for (const z of cam.zones) {
      svg.append(s("polygon", { class: `zone kind-${z.kind}`, points: z.polygon.map(px).join(" ") }));
      const top = z.polygon.reduce((a, p) => (p[1] < a[1] ? p : a), z.polygon[0]);
      svg.append(s("text", { class: "zone-label", x: top[0] * W + 4, y: top[1] * H + 16 }, `${z.id} (${t(z.kind)})`));
    }
    for (const d of (extra ? [] : cam.detections)) {
      const [x1, y1, x2, y2] = d.box;
      svg.append(s("rect", { class: `det det-${d.label}`, x: x1 * W, y: y1 * H, width: (x2 - x1) * W, height: (y2 - y1) * H }));
      svg.append(s("circle", { class: "anchor", cx: d.anchor[0] * W, cy: d.anchor[1] * H, r: 5 }));
      svg.append(s("text", { class: "det-label", x: x1 * W + 2, y: y1 * H - 4 }, `${d.label} ${d.score.toFixed(2)}`));
    }
    for (const c of (extra ? [] : cam.candidates)) {
      const [x1, y1, x2, y2] = c.box;
      svg.append(s("rect", { class: `cand ${c.violation ? "violating" : ""}`, x: x1 * W, y: y1 * H, width: (x2 - x1) * W, height: (y2 - y1) * H }));
      svg.append(s("text", { class: "timer", x: x1 * W + 2, y: y2 * H - 6 },
        `${c.zone} ${t("dwell")} ${Math.round(c.dwell_s)} / ${c.grace_s === null ? "?" : Math.round(c.grace_s)} s`));
    }
    return svg;
  }
  function frameImg(cam) {
    return h("img", { class: "frame", alt: cam.name, src: `/api/cameras/${encodeURIComponent(cam.name)}/frame.jpg?seq=${cam.frame ? cam.frame.seq : 0}` });
  }
  function cameras(doc) {
    if (!doc.cameras.length) return [h("p", { class: "empty" }, t("no_cameras"))];
    return doc.cameras.map((cam) => h("section", { class: "card camera", "data-camera": cam.name },
      h("h2", {}, `${t("camera")} ${cam.name} `, badge(cam.online ? "online" : "offline"),
        h("a", { class: "button", href: `/zones?camera=${encodeURIComponent(cam.name)}` }, t("edit_zones"))),
      cam.frame ? h("div", { class: "stage" }, frameImg(cam), overlay(cam)) : h("p", {}, t("no_frame")),
      kv([["frame_age", cam.frame ? age(cam.frame.age_s) : "—"], ["detections", String(cam.detections.length)],
        ["candidates", String(cam.candidates.length)]]),
      h("h3", {}, t("violations")),
      cam.violations.length ? h("ul", { class: "violations" }, cam.violations.map((v) => h("li", { "data-violation": v.id },
        h("strong", {}, v.zone), ` · ${age(v.age_s)} `,
        h("div", { class: "evidence" }, v.evidence.map((e) => h("a", { href: e.url, target: "_blank" },
          h("img", { src: e.url, alt: `${e.role} ${e.view}`, title: `${e.role} ${e.view}` }))))))) : h("p", { class: "muted" }, t("none"))));
  }

  // -- Residents ------------------------------------------------------------------------
  function residents(doc) {
    if (!doc.devices.length) return [h("p", { class: "empty" }, t("no_devices"))];
    return [card("nav_residents", table(["device", "last_seen", "battery", "worn"], doc.devices.map((d) =>
      h("tr", { "data-device": d.device }, h("td", {}, d.device), h("td", {}, age(d.last_seen_age_s)),
        h("td", {}, d.battery === null ? "—" : `${d.battery} %`), h("td", {}, yn(d.worn))))))];
  }

  const PAGES = {
    gateway: ["/api/gateway", gateway], elevators: ["/api/elevators", elevators],
    cameras: ["/api/cameras", cameras], residents: ["/api/residents", residents],
  };
  let pending = null;
  async function refresh() {
    const entry = PAGES[state.page];
    if (entry) {
      const doc = await json(entry[0]);
      document.getElementById("page").replaceChildren(...entry[1](doc));
      if (!document.body.dataset.loaded) window.__loadedAt = performance.now();
      document.body.dataset.loaded = state.page;
    } else if (state.renderers[state.page]) {
      await state.renderers[state.page]();
    }
  }
  function soon() { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 250); }

  async function start() {
    I18N.apply();
    document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === state.page));
    const sess = await json("/api/session");
    state.csrf = sess.csrf;
    document.getElementById("brand").textContent = sess.gateway_id;
    document.getElementById("lang").addEventListener("click", () => I18N.toggle());
    document.addEventListener("langchange", () => refresh());
    document.getElementById("logout").addEventListener("click", async () => {
      await api("/api/logout", { method: "POST" });
      location.href = "/login";
    });
    const live = document.getElementById("live");
    const es = new EventSource("/api/stream");
    es.onopen = () => { live.dataset.t = "live_on"; live.textContent = t("live_on"); live.classList.add("on"); };
    es.onerror = () => { live.dataset.t = "live_off"; live.textContent = t("live_off"); live.classList.remove("on"); };
    es.addEventListener("change", () => { if (state.page !== "zones") soon(); });
    if (state.page === "cameras" || state.page === "residents") setInterval(() => { if (!document.hidden) soon(); }, 1000);
    await refresh();
  }
  return { h, s, api, json, age, t, state, overlay, frameImg, start, badge };
})();
document.addEventListener("DOMContentLoaded", () => App.start());
