// The user map: period slider, layers, aggregated points or outlines, panel, search, statistics.
// The view lives in the URL (?period=&layer=&lat=&lon=&z=&kind=&name=&from=&to=&show=) so it can be shared.
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(window.location.search);
  const periods = await minescan.json("/api/periods");
  const labels = periods.map((p) => p.period);
  const state = {
    period: labels.includes(params.get("period")) ? params.get("period") : labels[labels.length - 1],
    layer: params.get("layer") || "cumulative",
    kind: params.get("kind") || "total",
    name: params.get("name") || "",
    from: params.get("from") || labels[0],
    to: params.get("to") || labels[labels.length - 1],
    show: (params.get("show") || "").split(",").filter(Boolean),
  };
  const map = L.map("map", {preferCanvas: false});
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {maxZoom: 19, attribution: "© OpenStreetMap"}).addTo(map);
  if (params.has("lat") && params.has("lon")) {
    map.setView([Number(params.get("lat")), Number(params.get("lon"))], Number(params.get("z") || 8));
  } else {
    const box = await minescan.json("/api/extent");
    if (box) map.fitBounds([[box[1], box[0]], [box[3], box[2]]]); else map.setView([0, 0], 2);
  }
  const mines = L.layerGroup().addTo(map);
  const boundaries = {};
  const colourOf = (onset) => minescan.colour(Math.max(labels.indexOf(onset), 0), labels.length);

  function saveUrl() {
    const c = map.getCenter();
    const query = new URLSearchParams({period: state.period, layer: state.layer, lat: c.lat.toFixed(5),
      lon: c.lng.toFixed(5), z: map.getZoom(), kind: state.kind, name: state.name, from: state.from, to: state.to,
      show: state.show.join(",")});
    window.history.replaceState(null, "", `?${query}`);
  }
  function bbox() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].join(",");
  }
  function viewQuery() {
    return new URLSearchParams({period: state.period, layer: state.layer});
  }

  let drawing = 0;
  async function drawMines() {
    const ticket = ++drawing;
    const query = viewQuery();
    query.set("bbox", bbox());
    query.set("zoom", map.getZoom());
    const data = await minescan.json(`/api/map?${query}`);
    if (ticket !== drawing) return;
    mines.clearLayers();
    if (data.mode === "outlines") {
      L.geoJSON(data, {
        style: (f) => ({color: colourOf(f.properties.onset), weight: 2, fillOpacity: 0.35, dashArray: f.properties.provisional ? "4" : null}),
        onEachFeature: (f, layer) => {
          layer.bindTooltip(`mine ${f.properties.mine_id}, onset ${f.properties.onset}`);
          layer.on("click", () => window.location.assign(`/mine/${f.properties.mine_id}`));
        },
      }).addTo(mines);
    } else {
      for (const f of data.features) {
        const [lon, lat] = f.geometry.coordinates;
        const marker = L.circleMarker([lat, lon], {radius: 4 + Math.min(3 * Math.log2(f.properties.count), 18),
          color: colourOf(f.properties.onset), weight: 1, fillOpacity: 0.7});
        marker.bindTooltip(`${f.properties.count} mine(s), ${minescan.fmt(f.properties.area_ha)} ha`);
        if (f.properties.mine_id !== null) marker.on("click", () => window.location.assign(`/mine/${f.properties.mine_id}`));
        else marker.on("click", () => map.setView([lat, lon], map.getZoom() + 2));
        marker.addTo(mines);
      }
    }
    $("shown").textContent = minescan.fmt(data.count);
    $("mode").textContent = data.mode;
    $("map").dataset.features = String(data.features.length);
    $("map").dataset.mode = data.mode;
    $("map").dataset.ready = `${state.period}/${state.layer}/${ticket}`;
  }
  async function drawBoundaries() {
    for (const kind of Object.keys(boundaries)) { boundaries[kind].remove(); delete boundaries[kind]; }
    for (const kind of state.show) {
      const data = await minescan.json(`/api/boundaries?kind=${encodeURIComponent(kind)}&bbox=${bbox()}`);
      const colour = {nogo: "#c00", concession: "#070"}[kind] || "#555";
      boundaries[kind] = L.geoJSON(data, {style: {color: colour, weight: 1, fill: kind === "nogo", fillOpacity: 0.1},
        onEachFeature: (f, layer) => layer.bindTooltip(`${kind}: ${f.properties.name}`)}).addTo(map);
    }
  }
  async function drawCounts() {
    const counts = await minescan.json(`/api/summary?period=${encodeURIComponent(state.period)}`);
    $("count-cumulative").textContent = minescan.fmt(counts.cumulative);
    $("count-new").textContent = minescan.fmt(counts.new);
    $("count-provisional").textContent = minescan.fmt(counts.provisional);
    $("area").textContent = minescan.fmt(counts.area_ha);
    $("new-area").textContent = minescan.fmt(counts.new_area_ha);
    $("period-label").textContent = state.period;
  }
  async function drawStats() {
    const query = new URLSearchParams({kind: state.kind, from: state.from, to: state.to});
    if (state.kind !== "total") query.set("name", state.name);
    $("stats-csv").href = `/api/stats.csv?${query}`;
    const stats = await minescan.json(`/api/stats?${query}`).catch(() => ({rows: [], compliance: null}));
    charts.bars($("area-chart"), stats.rows.map((r) => ({label: r.period, value: r.area_ha})));
    charts.bars($("new-chart"), stats.rows.map((r) => ({label: r.period, value: r.new_area_ha})), "#d99a2b");
    const share = stats.compliance || {category_1: 0, category_3: 0};
    charts.donut($("donut"), [
      {label: "category 1 (in concession)", value: share.category_1, colour: "#3a8a3a"},
      {label: "category 3 (outside / no-go)", value: share.category_3, colour: "#c0392b"},
    ]);
  }
  async function redraw() {
    saveUrl();
    await Promise.all([drawMines(), drawCounts()]);
  }

  // Period slider, layers, legend.
  const slider = $("period");
  slider.max = String(Math.max(labels.length - 1, 0));
  slider.value = String(Math.max(labels.indexOf(state.period), 0));
  slider.addEventListener("input", () => { state.period = labels[Number(slider.value)]; redraw(); });
  for (const radio of document.querySelectorAll('input[name="layer"]')) {
    radio.checked = radio.value === state.layer;
    radio.addEventListener("change", () => { state.layer = radio.value; redraw(); });
  }
  $("legend").replaceChildren(...labels.map((label) => {
    const item = minescan.el("span", {}, label);
    const swatch = minescan.el("i");
    swatch.style.background = colourOf(label);
    item.prepend(swatch);
    return item;
  }));
  for (const box of document.querySelectorAll("#boundary-layers input")) {
    box.checked = state.show.includes(box.value);
    box.addEventListener("change", () => {
      state.show = [...document.querySelectorAll("#boundary-layers input:checked")].map((b) => b.value);
      saveUrl(); drawBoundaries();
    });
  }

  // Jurisdiction picker and the date filter.
  const layers = await minescan.json("/api/jurisdictions");
  for (const layer of layers) $("kind").appendChild(minescan.el("option", {value: layer.kind}, layer.kind));
  function fillNames() {
    const found = layers.find((l) => l.kind === state.kind);
    $("name").replaceChildren(...(found ? found.names : []).map((n) => minescan.el("option", {value: n}, n)));
    $("name").disabled = !found;
    if (found && !found.names.includes(state.name)) state.name = found.names[0] || "";
    $("name").value = state.name;
  }
  for (const id of ["from", "to"]) {
    $(id).replaceChildren(...labels.map((l) => minescan.el("option", {value: l}, l)));
    $(id).value = state[id];
    $(id).addEventListener("change", () => { state[id] = $(id).value; saveUrl(); drawStats(); });
  }
  $("kind").value = layers.some((l) => l.kind === state.kind) ? state.kind : "total";
  state.kind = $("kind").value;
  fillNames();
  $("kind").addEventListener("change", () => { state.kind = $("kind").value; fillNames(); saveUrl(); drawStats(); });
  $("name").addEventListener("change", () => { state.name = $("name").value; saveUrl(); drawStats(); });
  for (const link of document.querySelectorAll("a.export")) {
    link.addEventListener("click", (event) => {
      const query = viewQuery();
      query.set("format", link.dataset.format);
      query.set("bbox", bbox());
      link.href = `/api/export?${query}`;
    });
  }

  // Search by id or name.
  let searching;
  $("search").addEventListener("input", () => {
    clearTimeout(searching);
    searching = setTimeout(async () => {
      const text = $("search").value.trim();
      const hits = text ? await minescan.json(`/api/search?q=${encodeURIComponent(text)}`) : [];
      $("search-results").replaceChildren(...hits.map((hit) => {
        const item = minescan.el("li");
        item.appendChild(minescan.el("a", {href: `/mine/${hit.mine_id}`}, hit.name ? `${hit.mine_id}: ${hit.name}` : `mine ${hit.mine_id}`));
        return item;
      }));
    }, 200);
  });

  map.on("moveend", () => { saveUrl(); drawMines(); if (state.show.length) drawBoundaries(); });
  await Promise.all([redraw(), drawStats(), drawBoundaries()]);
})();
