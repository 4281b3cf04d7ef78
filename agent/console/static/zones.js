// The zone editor: draw, move and delete polygon points on a camera's frame, set name, kind
// and grace time, save through the agent's staged apply. Problems come back per field.
"use strict";
(function () {
  const { h, s, t, api, json } = App;
  const KINDS = ["corridor", "fire_lane", "entrance", "exit", "elevator_car", "lobby", "stairwell", "other"];
  const ed = { cams: [], cam: null, zones: [], sel: -1, errors: {}, msg: null, drag: -1, moved: false,
    onHandle: false, frameTimer: null };

  function current() { return ed.cams.find((c) => c.name === ed.cam); }
  function fieldError(i, field) {
    const m = ed.errors[`zones[${i}].${field}`];
    return m ? h("p", { class: "field-error", "data-field": field }, I18N.message(m)) : null;
  }
  function zoneInvalid(i) { return Object.keys(ed.errors).some((k) => k.startsWith(`zones[${i}]`)); }

  function toFrac(svg, ev) {
    const r = svg.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
  }

  function drawSvg() {
    const cam = current();
    const f = cam.frame || { width: 640, height: 480 };
    const W = f.width, H = f.height;
    const svg = s("svg", { class: "overlay editing", id: "zone-svg", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
    ed.zones.forEach((z, i) => {
      const pts = z.polygon.map((p) => `${p[0] * W},${p[1] * H}`).join(" ");
      const cls = `zone kind-${z.kind} ${i === ed.sel ? "selected" : ""} ${zoneInvalid(i) ? "invalid" : ""}`;
      svg.append(z.polygon.length >= 3 ? s("polygon", { class: cls, points: pts }) : s("polyline", { class: cls, points: pts }));
      if (z.polygon.length) {
        svg.append(s("text", { class: "zone-label", x: z.polygon[0][0] * W + 6, y: z.polygon[0][1] * H - 6 }, z.id || "?"));
      }
    });
    const z = ed.zones[ed.sel];
    if (z) {
      z.polygon.forEach((p, j) => {
        svg.append(s("circle", {
          class: "handle", cx: p[0] * W, cy: p[1] * H, r: Math.max(6, W / 90), "data-point": j,
          onpointerdown: (ev) => { ev.stopPropagation(); ed.drag = j; ed.moved = false; ed.onHandle = true; },
        }));
      });
    }
    svg.addEventListener("pointermove", (ev) => {
      if (ed.drag < 0 || !ed.zones[ed.sel]) return;
      ed.zones[ed.sel].polygon[ed.drag] = toFrac(svg, ev); ed.moved = true; redraw();
    });
    svg.addEventListener("pointerup", () => { ed.drag = -1; setTimeout(() => { ed.moved = false; ed.onHandle = false; }, 0); });
    svg.addEventListener("dblclick", (ev) => {
      // Delete the point under the pointer (found by distance: a redraw may have replaced it).
      const zone = ed.zones[ed.sel];
      if (!zone) return;
      const r = svg.getBoundingClientRect();
      const j = zone.polygon.findIndex((p) => Math.hypot(p[0] * r.width + r.left - ev.clientX,
        p[1] * r.height + r.top - ev.clientY) <= 12);
      if (j >= 0) { zone.polygon.splice(j, 1); redraw(); panel(); }
    });
    svg.addEventListener("click", (ev) => {
      if (ed.onHandle || ed.moved) { ed.onHandle = false; return; }  // a press on a point
      if (!ed.zones[ed.sel]) newZone();
      ed.zones[ed.sel].polygon.push(toFrac(svg, ev));
      redraw(); panel();
    });
    return svg;
  }
  function redraw() {
    const old = document.getElementById("zone-svg");
    if (old) old.replaceWith(drawSvg());
    const n = document.getElementById("zone-points");
    if (n && ed.zones[ed.sel]) n.textContent = String(ed.zones[ed.sel].polygon.length);
  }

  function newZone() {
    let n = ed.zones.length + 1;
    while (ed.zones.some((z) => z.id === `zone-${n}`)) n++;
    ed.zones.push({ id: `zone-${n}`, kind: "corridor", grace_s: 180, polygon: [] });
    ed.sel = ed.zones.length - 1;
  }

  function fields() {
    const i = ed.sel, z = ed.zones[i];
    if (!z) return h("p", { class: "muted" }, t("zone_help"));
    return h("div", { class: "zone-fields" },
      h("label", { for: "zone-name" }, t("name")),
      h("input", { id: "zone-name", value: z.id, oninput: (e) => { z.id = e.target.value; redraw(); } }), fieldError(i, "id"),
      h("label", { for: "zone-kind" }, t("kind")),
      h("select", { id: "zone-kind", onchange: (e) => { z.kind = e.target.value; redraw(); } },
        KINDS.map((k) => h("option", { value: k, selected: z.kind === k }, t(k)))), fieldError(i, "kind"),
      h("label", { for: "zone-grace" }, t("grace")),
      h("input", { id: "zone-grace", type: "number", min: "0", max: "86400", step: "1", value: String(z.grace_s),
        oninput: (e) => { z.grace_s = e.target.value === "" ? null : Number(e.target.value); } }), fieldError(i, "grace_s"),
      h("p", {}, `${t("points")}: `, h("span", { id: "zone-points" }, String(z.polygon.length))), fieldError(i, "polygon"));
  }

  function panel() {
    const box = document.getElementById("zone-panel");
    if (!box) return;
    const summary = Object.entries(ed.errors).map(([k, m]) => {
      const i = Number((k.match(/zones\[(\d+)\]/) || [])[1]);
      const who = Number.isNaN(i) ? "" : `${(ed.zones[i] && ed.zones[i].id) || i + 1}: `;
      return h("li", {}, who + I18N.message(m));
    });
    box.replaceChildren(...[
      h("label", { for: "zone-camera" }, t("camera")),
      h("select", { id: "zone-camera", onchange: (e) => { ed.cam = e.target.value; load(true); } },
        ed.cams.map((c) => h("option", { value: c.name, selected: c.name === ed.cam }, c.name))),
      h("h3", {}, t("zones")),
      h("ul", { class: "zone-list" }, ed.zones.map((z, i) => h("li", {},
        h("button", { type: "button", class: `zone-item ${i === ed.sel ? "selected" : ""} ${zoneInvalid(i) ? "invalid" : ""}`,
          "data-zone": z.id, onclick: () => { ed.sel = i; redraw(); panel(); } }, `${z.id} · ${t(z.kind)}`)))),
      h("div", { class: "buttons" },
        h("button", { type: "button", id: "new-zone", onclick: () => { newZone(); redraw(); panel(); } }, t("new_zone")),
        h("button", { type: "button", id: "delete-zone", disabled: ed.sel < 0,
          onclick: () => { ed.zones.splice(ed.sel, 1); ed.sel = Math.min(ed.sel, ed.zones.length - 1); ed.errors = {}; redraw(); panel(); } }, t("delete_zone"))),
      fields(),
      h("button", { type: "button", id: "save-zones", class: "primary", onclick: save }, t("save")),
      ed.msg ? h("p", { id: "zone-message", class: `message ${ed.msg.cls}`, "data-outcome": ed.msg.cls }, ed.msg.text) : null,
      summary.length ? h("ul", { id: "zone-errors", class: "error" }, summary) : null,
      h("p", { class: "muted help" }, t("zone_help"))].filter(Boolean));
  }

  async function save() {
    ed.msg = { cls: "busy", text: t("saving") }; ed.errors = {}; panel();
    const body = { zones: ed.zones.map((z) => ({ id: z.id, kind: z.kind, grace_s: z.grace_s, polygon: z.polygon })) };
    const r = await api(`/api/cameras/${encodeURIComponent(ed.cam)}/zones`, {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const doc = await r.json();
    if (r.status === 422) {
      ed.errors = doc.errors || {}; ed.msg = { cls: "invalid", text: t("invalid") };
    } else if (r.ok) {
      const res = doc.result;
      ed.msg = { cls: "applied", text: `${t("saved")} ${res.sha256.slice(0, 12)} (${res.restarted.join(", ") || "—"})` };
    } else {
      const res = doc.result || {};
      ed.msg = { cls: res.rolled_back ? "rolled-back" : "refused",
        text: `${res.rolled_back ? t("rolled_back") : t("refused")} ${res.reason || doc.error || ""}` };
    }
    redraw(); panel();
  }

  async function load(reset) {
    const doc = await json("/api/cameras");
    ed.cams = doc.cameras;
    const page = document.getElementById("page");
    if (!ed.cams.length) { page.replaceChildren(h("p", { class: "empty" }, t("no_cameras"))); return; }
    const wanted = new URLSearchParams(location.search).get("camera");
    if (!ed.cam || !current()) ed.cam = (ed.cams.find((c) => c.name === wanted) || ed.cams[0]).name;
    const cam = current();
    if (reset || !ed.zones.length) {
      ed.zones = cam.zones.map((z) => ({ id: z.id, kind: z.kind, grace_s: z.grace_s, polygon: z.polygon.map((p) => [p[0], p[1]]) }));
      ed.sel = ed.zones.length ? 0 : -1; ed.errors = {};
    }
    page.replaceChildren(h("div", { class: "editor" },
      h("div", { class: "stage", id: "zone-stage" }, App.frameImg(cam), drawSvg()),
      h("aside", { id: "zone-panel", class: "card" })));
    panel();
    if (!document.body.dataset.loaded) window.__loadedAt = performance.now();
    document.body.dataset.loaded = "zones";
    clearInterval(ed.frameTimer);
    ed.frameTimer = setInterval(() => {
      const img = document.querySelector("#zone-stage img.frame");
      if (img && !document.hidden) img.src = `/api/cameras/${encodeURIComponent(ed.cam)}/frame.jpg?t=${Date.now()}`;
    }, 2000);
  }
  App.state.renderers.zones = () => (ed.cams.length ? (panel(), redraw()) : load(true));
})();
