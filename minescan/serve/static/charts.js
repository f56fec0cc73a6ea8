// Small inline SVG charts: bars and a donut, labels as SVG text nodes.
"use strict";
const charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function bars(container, items, colour) {
    container.replaceChildren();
    const width = 320, height = 140, pad = 24;
    const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img"});
    const top = Math.max(...items.map((d) => d.value), 0) || 1;
    const step = (width - pad) / Math.max(items.length, 1);
    items.forEach((d, i) => {
      const h = ((height - 2 * pad) * d.value) / top;
      const bar = svg("rect", {x: pad + i * step + 2, y: height - pad - h, width: Math.max(step - 4, 1),
        height: h, fill: colour || "#b5562c", "data-value": d.value});
      bar.appendChild(svg("title", {}, `${d.label}: ${minescan.fmt(d.value)}`));
      root.appendChild(bar);
      root.appendChild(svg("text", {x: pad + i * step + step / 2, y: height - 8, "text-anchor": "middle"}, d.label));
    });
    root.appendChild(svg("text", {x: 2, y: 12}, minescan.fmt(top)));
    container.appendChild(root);
  }
  function donut(container, slices) {
    container.replaceChildren();
    const total = slices.reduce((s, d) => s + d.value, 0);
    const root = svg("svg", {viewBox: "0 0 320 130", class: "donut", role: "img"});
    let angle = -Math.PI / 2;
    slices.forEach((d, i) => {
      const share = total ? d.value / total : 0;
      const end = angle + share * 2 * Math.PI;
      const large = share > 0.5 ? 1 : 0;
      const p = (a, r) => `${65 + r * Math.cos(a)},${65 + r * Math.sin(a)}`;
      const path = share >= 0.9999
        ? `M ${p(0, 55)} A 55 55 0 1 1 ${p(Math.PI, 55)} A 55 55 0 1 1 ${p(0, 55)} Z`
        : `M ${p(angle, 55)} A 55 55 0 ${large} 1 ${p(end, 55)} L ${p(end, 30)} A 30 30 0 ${large} 0 ${p(angle, 30)} Z`;
      if (share > 0) root.appendChild(svg("path", {d: path, fill: d.colour}));
      root.appendChild(svg("rect", {x: 140, y: 20 + i * 30, width: 12, height: 12, fill: d.colour}));
      root.appendChild(svg("text", {x: 158, y: 31 + i * 30}, `${d.label}: ${(100 * share).toFixed(1)}%`));
      angle = end;
    });
    container.appendChild(root);
  }
  return {bars, donut};
})();
