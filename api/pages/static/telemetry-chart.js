// A device's telemetry as an SVG line chart: the average of each bucket over its min..max band,
// a value axis titled with the metric's name and unit, a time axis, and the value of the
// nearest bucket under the pointer. An empty range says so.
import { formatWhen, t } from "./common.js";
import { metricTitle, metricValue } from "./metrics.js";

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs = {}) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// Round value-axis ticks around lo..hi: steps of 1, 2 or 5 times a power of ten.
export function valueTicks(lo, hi, count = 4) {
  if (hi === lo) { hi += 1; lo -= 1; }
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const first = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = first; v <= hi + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(Number((first + step).toPrecision(12)));
  return ticks;
}

function timeTick(ms, spanMs) {
  return formatWhen(ms, spanMs > 2 * 86400e3 ? "day" : "clock");
}

// points: [{x, avg, min, max}], oldest first. Returns the svg (data-points: how many).
export function telemetryChart(container, points, { from, to, metric, height = 250 } = {}) {
  container.replaceChildren();
  container.classList.add("telemetry-chart");
  const width = Math.max(container.clientWidth || 600, 280);
  const pad = { l: 66, r: 14, t: 12, b: 46 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img",
                             "aria-label": metricTitle(metric), class: "chart" });
  container.append(svg);
  svg.dataset.points = String(points.length);
  if (!points.length) {
    const text = svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" });
    text.textContent = t("chart.nodata");
    svg.append(text);
    return svg;
  }
  const ticks = valueTicks(Math.min(...points.map((p) => p.min ?? p.avg)),
                           Math.max(...points.map((p) => p.max ?? p.avg)));
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const x0 = from ?? points[0].x;
  const x1 = to ?? points[points.length - 1].x;
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const sx = (x) => pad.l + ((x - x0) / Math.max(x1 - x0, 1)) * plotW;
  const sy = (y) => pad.t + (1 - (y - lo) / (hi - lo)) * plotH;
  // The plot's scale, for a page that draws over the chart (the alarm rules' preview bands).
  svg.plot = { sx, top: pad.t, height: plotH };
  // Value axis: a grid line and a label at each round value, and the title with the unit.
  for (const v of ticks) {
    svg.append(svgEl("line", { x1: pad.l, x2: width - pad.r, y1: sy(v), y2: sy(v), class: "grid" }));
    const tick = svgEl("text", { x: pad.l - 6, y: sy(v) + 4, "text-anchor": "end", class: "tick value-tick" });
    tick.textContent = String(v);
    svg.append(tick);
  }
  const valueTitle = svgEl("text", { x: 0, y: 0, "text-anchor": "middle", class: "axis-title value-title",
                                     transform: `translate(14 ${pad.t + plotH / 2}) rotate(-90)` });
  valueTitle.textContent = metricTitle(metric);
  svg.append(valueTitle);
  // Time axis: five labels and its title.
  svg.append(svgEl("line", { x1: pad.l, x2: width - pad.r, y1: pad.t + plotH, y2: pad.t + plotH, class: "axis-line" }));
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    const tick = svgEl("text", { x: sx(x), y: pad.t + plotH + 16,
                                 "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "tick time-tick" });
    tick.textContent = timeTick(x, x1 - x0);
    svg.append(tick);
  }
  const timeTitle = svgEl("text", { x: pad.l + plotW / 2, y: height - 6, "text-anchor": "middle",
                                    class: "axis-title time-title" });
  timeTitle.textContent = t("chart.time");
  svg.append(timeTitle);
  // The band (min..max of each bucket) and the line (its average).
  const band = points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.max ?? p.avg).toFixed(1)}`)
    .concat(points.slice().reverse().map((p) => `${sx(p.x).toFixed(1)},${sy(p.min ?? p.avg).toFixed(1)}`));
  svg.append(svgEl("polygon", { points: band.join(" "), class: "band" }));
  svg.append(svgEl("polyline", {
    points: points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.avg).toFixed(1)}`).join(" "), class: "line" }));
  // Hover: the nearest bucket's time and value, beside a dot on the line.
  const dot = svgEl("circle", { r: 4, class: "hover-dot", visibility: "hidden" });
  svg.append(dot);
  const area = svgEl("rect", { x: pad.l, y: pad.t, width: plotW, height: plotH, class: "hover-area" });
  svg.append(area);
  const tip = document.createElement("div");
  tip.className = "chart-tip";
  tip.hidden = true;
  tip.setAttribute("role", "status");
  container.append(tip);
  const show = (event) => {
    const box = svg.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * width;
    let nearest = points[0];
    for (const p of points) if (Math.abs(sx(p.x) - x) < Math.abs(sx(nearest.x) - x)) nearest = p;
    dot.setAttribute("cx", sx(nearest.x));
    dot.setAttribute("cy", sy(nearest.avg));
    dot.setAttribute("visibility", "visible");
    const range = nearest.min != null && nearest.max != null && nearest.min !== nearest.max
      ? ` (${metricValue(metric, nearest.min)} – ${metricValue(metric, nearest.max)})` : "";
    // Over a day or more, the time needs its date.
    const when = x1 - x0 >= 86400e3 ? formatWhen(nearest.x, "day") + " " + formatWhen(nearest.x, "clock")
      : formatWhen(nearest.x, "clock");
    tip.textContent = `${when} · ${metricValue(metric, nearest.avg)}${range}`;
    tip.dataset.x = String(nearest.x);
    tip.hidden = false;
    // Beside the dot, kept inside the chart.
    const scale = box.width / width;
    const left = Math.min(sx(nearest.x) * scale + 10, box.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(left, 0)}px`;
    tip.style.top = `${Math.max(sy(nearest.avg) * scale - 34, 0)}px`;
  };
  area.addEventListener("pointermove", show);
  area.addEventListener("pointerenter", show);
  area.addEventListener("pointerleave", () => {
    tip.hidden = true;
    dot.setAttribute("visibility", "hidden");
  });
  return svg;
}
