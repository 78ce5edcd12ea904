// The dashboard's charts: the figures come from /api/stats (behind the login), drawn with Chart.js.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Filler,
} from "chart.js";

Chart.register(
  BarController, BarElement, CategoryScale, Legend, LinearScale,
  LineController, LineElement, PointElement, Tooltip, Filler,
);

const BLUE = "#1f4e79";
const TEAL = "#2a9d8f";
const ORANGE = "#e76f51";
const RED = "#b3261e";
const GREEN = "#2e7d32";
const PALETTE = [BLUE, TEAL, "#e9c46a", ORANGE, "#8e6bbf", "#6c8ead", "#c05780", "#7a9e3b"];

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.color = "#3d4650";
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.animation = false; // the figures are read, not watched

const shortDay = (iso) => iso.slice(5); // 2026-12-01 -> 12-01
const percent = (value) => (value == null ? "–" : `${(value * 100).toFixed(1)} %`);

function figure(label, value) {
  const box = document.createElement("div");
  box.className = "figure";
  const number = document.createElement("span");
  number.className = "value";
  number.textContent = value;
  const caption = document.createElement("span");
  caption.className = "label";
  caption.textContent = label;
  box.append(number, caption);
  return box;
}

function chart(id, config) {
  const canvas = document.getElementById(id);
  return new Chart(canvas, config);
}

function draw(stats) {
  const t = stats.totals;
  document.getElementById("figures").replaceChildren(
    figure("messages", t.messages.toLocaleString()),
    figure("conversations", t.conversations.toLocaleString()),
    figure("“did you mean”", percent(t.did_you_mean_rate)),
    figure("out of scope", percent(t.out_of_scope_rate)),
    figure("crisis replies", t.crisis.toLocaleString()),
    figure("found helpful", percent(t.helpful_rate)),
    figure("open in the queue", t.queue_open.toLocaleString()),
  );
  const days = stats.days.map(shortDay);
  const integer = { beginAtZero: true, ticks: { precision: 0 } };

  chart("chart-traffic", {
    type: "line",
    data: {
      labels: days,
      datasets: [
        { label: "Messages", data: stats.messages, borderColor: BLUE, backgroundColor: "rgba(31,78,121,.12)", fill: true, tension: 0.25 },
        { label: "Conversations", data: stats.conversations, borderColor: TEAL, backgroundColor: TEAL, tension: 0.25 },
      ],
    },
    options: { scales: { y: integer }, interaction: { mode: "index", intersect: false } },
  });

  const topics = Object.keys(stats.answers_by_topic);
  chart("chart-topics", {
    type: "bar",
    data: {
      labels: topics,
      datasets: [{ label: "Answers", data: topics.map((k) => stats.answers_by_topic[k]), backgroundColor: PALETTE }],
    },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: integer } },
  });

  const asPercent = (values) => values.map((v) => (v == null ? null : +(v * 100).toFixed(1)));
  chart("chart-rates", {
    type: "line",
    data: {
      labels: days,
      datasets: [
        { label: "Did you mean", data: asPercent(stats.did_you_mean_rate), borderColor: ORANGE, backgroundColor: ORANGE, spanGaps: true, tension: 0.25 },
        { label: "Out of scope", data: asPercent(stats.out_of_scope_rate), borderColor: "#8e6bbf", backgroundColor: "#8e6bbf", spanGaps: true, tension: 0.25 },
      ],
    },
    options: {
      scales: { y: { beginAtZero: true, ticks: { callback: (v) => `${v} %` } } },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y} % of messages` } } },
      interaction: { mode: "index", intersect: false },
    },
  });

  chart("chart-crisis", {
    type: "bar",
    data: { labels: days, datasets: [{ label: "Crisis replies", data: stats.crisis, backgroundColor: RED }] },
    options: { plugins: { legend: { display: false } }, scales: { y: integer } },
  });

  const answers = Object.keys(stats.helpfulness);
  chart("chart-helpful", {
    type: "bar",
    data: {
      labels: answers,
      datasets: [
        { label: "Yes, helpful", data: answers.map((a) => stats.helpfulness[a].yes), backgroundColor: GREEN },
        { label: "Not helpful", data: answers.map((a) => stats.helpfulness[a].no), backgroundColor: RED },
      ],
    },
    options: {
      indexAxis: "y",
      scales: { x: { ...integer, stacked: true }, y: { stacked: true } },
      interaction: { mode: "index", intersect: false },
    },
  });

  // Each language's messages per day, stacked: their sum is the messages line above.
  const languages = Object.keys(stats.by_language);
  chart("chart-languages", {
    type: "bar",
    data: {
      labels: days,
      datasets: languages.map((code, n) => ({
        label: stats.by_language[code].name,
        data: stats.messages_by_language[code],
        backgroundColor: [BLUE, ORANGE, "#8e6bbf"][n % 3],
      })),
    },
    options: {
      scales: { x: { stacked: true }, y: { ...integer, stacked: true } },
      interaction: { mode: "index", intersect: false },
    },
  });

  const body = document.querySelector("#languages tbody");
  body.replaceChildren(
    ...languages.map((code) => {
      const figures = stats.by_language[code];
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = `${figures.name} (${code.toUpperCase()})`;
      row.append(name);
      for (const value of [
        figures.messages.toLocaleString(),
        figures.conversations.toLocaleString(),
        figures.answers.toLocaleString(),
        percent(figures.did_you_mean_rate),
        percent(figures.out_of_scope_rate),
        figures.crisis.toLocaleString(),
        percent(figures.helpful_rate),
        figures.queue_open.toLocaleString(),
      ]) {
        const cell = document.createElement("td");
        cell.className = "number";
        cell.textContent = value;
        row.append(cell);
      }
      return row;
    }),
  );

  chart("chart-hours", {
    type: "bar",
    data: {
      labels: stats.hours.map((_, hour) => String(hour).padStart(2, "0")),
      datasets: [{ label: "Messages", data: stats.hours, backgroundColor: BLUE }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: integer } },
  });
  document.getElementById("dashboard").dataset.ready = "true";
}

async function main() {
  const root = document.getElementById("dashboard");
  const response = await fetch(`/api/stats?days=${encodeURIComponent(root.dataset.days)}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) {
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = response.status === 401 ? "Your session ended: log in again." : `The figures could not be loaded (${response.status}).`;
    root.prepend(message);
    return;
  }
  draw(await response.json());
}

main();
