"use strict";
(async () => {
  const id = document.getElementById("mine-page").dataset.mineId;
  const page = await minescan.json(`/api/mines/${encodeURIComponent(id)}`);
  charts.bars(document.getElementById("timeline"), page.periods.map((p) => ({label: p.period, value: p.area_ha})));
  const profile = page.area_profile.map((r) => ({label: String(r.date).slice(0, 7), value: Number(r.excavated_ha) || 0}));
  charts.bars(document.getElementById("profile"), profile, "#2c6fb5");
  if (page.outline) {
    const map = L.map("mine-map");
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {maxZoom: 19, attribution: "© OpenStreetMap"}).addTo(map);
    const layer = L.geoJSON(page.outline, {style: {color: "#b5562c", weight: 2}}).addTo(map);
    map.fitBounds(layer.getBounds(), {maxZoom: 16});
  }
})();
