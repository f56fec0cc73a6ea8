// The admin page: every table built with textContent, every POST with the session's CSRF token.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const isAdmin = $("admin").dataset.role === "admin";
  const say = (text) => { $("message").textContent = text; };
  const row = (cells) => {
    const tr = minescan.el("tr");
    for (const cell of cells) {
      const td = minescan.el("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === null || cell === undefined ? "" : String(cell);
      tr.appendChild(td);
    }
    return tr;
  };
  const button = (label, action) => {
    const b = minescan.el("button", {type: "button"}, label);
    b.addEventListener("click", async () => {
      try { await action(); say(""); } catch (error) { say(error.message); }
      refresh();
    });
    return b;
  };
  const fill = (id, rows) => $(id).querySelector("tbody").replaceChildren(...rows);

  async function runs() {
    const list = await minescan.json("/admin/api/runs");
    fill("runs", list.map((r) => row([r.seq, r.run_id, r.kind, r.source, r.periods, r.polygons, r.published ? "yes" : "no",
      isAdmin && r.kind !== "monitor"
        ? button(r.published ? "Unpublish" : "Publish", () => minescan.post(`/admin/api/runs/${encodeURIComponent(r.run_id)}/${r.published ? "unpublish" : "publish"}`))
        : ""])));
  }
  async function alerts() {
    const list = await minescan.json("/admin/api/alerts");
    fill("alerts", list.map((a) => {
      const note = minescan.el("input", {placeholder: "note", size: 20});
      const controls = minescan.el("span");
      for (const state of ["confirmed", "dismissed", "under_review"]) {
        controls.appendChild(button(state.replace("_", " "), () => minescan.post(`/admin/api/alerts/${a.id}/triage`, {state, note: note.value})));
      }
      controls.prepend(note);
      const verdict = a.triage ? `${a.triage.state} by ${a.triage.reviewer}: ${a.triage.note}` : "not reviewed";
      return row([a.id, a.mine_id, a.zone, a.category, a.severity, verdict, controls]);
    }));
  }
  async function jobs() {
    if (!isAdmin) return;
    const list = await minescan.json("/admin/api/jobs");
    fill("jobs", list.map((j) => row([j.id, `${j.kind} ${j.args.join(" ")}`, j.state, j.user,
      `${j.lines} lines; ${j.log.length ? j.log[j.log.length - 1] : ""}`])));
  }
  async function users() {
    if (!isAdmin) return;
    const list = await minescan.json("/admin/api/users");
    fill("users", list.map((u) => row([u.user, u.role, u.created,
      button("Remove", () => minescan.post(`/admin/api/users/${encodeURIComponent(u.user)}/remove`))])));
  }
  async function audit() {
    const log = await minescan.json("/admin/api/audit");
    $("audit-status").textContent = log.problem ? log.problem : `hash chain intact: ${log.verified_rows} rows`;
    fill("audit", log.rows.map((r) => row([r.seq, r.at, r.actor, r.action, r.detail])));
  }
  function refresh() {
    return Promise.all([runs(), alerts(), jobs(), users(), audit()]).catch((error) => say(error.message));
  }

  $("logout").addEventListener("click", async () => {
    await minescan.post("/admin/api/logout");
    window.location.assign("/admin/login");
  });
  const on = (id, handler) => {
    const form = $(id);
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await handler(form); say(""); form.reset(); } catch (error) { say(error.message); }
      refresh();
    });
  };
  on("job-form", (f) => minescan.post("/admin/api/jobs", {kind: f.kind.value, args: f.args.value.split(/\s+/).filter(Boolean)}));
  on("user-form", (f) => minescan.post("/admin/api/users", {user: f.user.value, role: f.role.value, password: f.password.value}));
  on("boundary-form", async (f) => {
    const file = f.file.files[0];
    const geojson = file ? JSON.parse(await file.text()) : null;
    return minescan.post("/admin/api/boundaries", {kind: f.kind.value, name_column: f.name_column.value, geojson});
  });
  refresh();
  setInterval(jobs, 2000);
})();
