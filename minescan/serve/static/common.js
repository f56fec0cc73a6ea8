// Shared helpers. Data never enters markup: elements are built and filled with textContent.
"use strict";
const minescan = {
  el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  },
  async json(url, options) {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || body.detail || response.statusText);
    return body;
  },
  post(url, body) {
    const token = document.querySelector('meta[name="csrf-token"]');
    return minescan.json(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token ? token.content : ""},
      body: JSON.stringify(body || {}),
    });
  },
  fmt(value) {
    return Number(value).toLocaleString("en-US", {maximumFractionDigits: 2});
  },
  // One colour per onset period, oldest blue to newest red.
  colour(index, count) {
    const hue = count > 1 ? 220 - (220 * index) / (count - 1) : 0;
    return `hsl(${hue}, 75%, 45%)`;
  },
};
