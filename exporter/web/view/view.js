// The Metrics view: reads the service's API with the reader's token and draws the report.
//
// Rules: the token lives only in this tab's sessionStorage and in the Session-Token header of
// requests to this origin: never in a URL, a cookie or the console. Every request goes to this
// origin. Text from the API reaches the page only as textContent, never as markup.

const TOKEN_KEY = "usage-metrics.token";
const INTERVALS = { day: "1 day", week: "1 week", month: "1 month" };
const DEFAULT_DAYS = 30;
const SVG = "http://www.w3.org/2000/svg";
// A bucket starts at local midnight give or take a daylight-saving shift (the API counts in
// start's fixed offset): a few hours later is always still the bucket's first day.
const LABEL_SHIFT_MS = 3 * 3600 * 1000;

const byId = (id) => document.getElementById(id);
const state = {
  token: null,
  report: null,
  range: null,
  generation: 0,
  controller: null,
  retry: null,
  chartWidth: 0,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// --- talking to the service ---------------------------------------------------------------

async function api(path, signal) {
  let response;
  try {
    response = await fetch(path, {
      headers: { "Session-Token": state.token, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, `The service at ${location.origin} cannot be reached. Check that it is running, then try again.`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || body === null) throw new ApiError(response.status, explain(response.status, body));
  return body;
}

function explain(status, body) {
  const said = body && typeof body.message === "string" ? body.message : "no details given.";
  const fields = body && Array.isArray(body.validations)
    ? " " + body.validations.map((v) => `${v.field} ${v.detail}.`).join(" ")
    : "";
  switch (status) {
    case 401:
      return `The service refused the token: ${said} Paste a valid token.`;
    case 403:
      return `This token may not read that: ${said}`;
    case 404:
      return `Not found: ${said} Reload the page to refresh the list of organizations.`;
    case 400:
      return `The service refused the request: ${said}${fields}`;
    case 503:
      return `The service cannot reach its activity store right now: ${said} Try again in a moment.`;
    default:
      return `The service answered with status ${status}: ${said}`;
  }
}

// --- signing in and out ---------------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  state.retry = () => signIn(token);
  setState("loading");
  showMessage("");
  try {
    const me = await api("/api/v1/me");
    if (!me.reads_every_organization && me.readable_organizations.length === 0) {
      throw new ApiError(403, `${me.username} may not read the activity report: that needs the site-admin, site-manager or site-auditor role, or the organization-admin or organization-manager role of an organization. Paste another token.`);
    }
    const { organizations } = await api("/api/v1/organizations");
    if (state.token !== token) return; // forgotten, or another token pasted, meanwhile
    sessionStorage.setItem(TOKEN_KEY, token);
    byId("token").value = "";
    byId("whoami").textContent = me.name ? `${me.name} (${me.username})` : me.username;
    fillOrganizations(me.reads_every_organization, organizations);
    byId("sign-in").hidden = true;
    byId("view").hidden = false;
    await loadReport();
  } catch (error) {
    if (state.token === token) fail(error);
  }
}

function fillOrganizations(readsEvery, organizations) {
  const select = byId("org");
  const options = organizations.map((org) => new Option(org.display_name || org.name, org.id));
  if (readsEvery) options.unshift(new Option("Any", ""));
  select.replaceChildren(...options);
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.controller?.abort();
  state.token = null;
  state.report = null;
  byId("view").hidden = true;
  byId("sign-in").hidden = false;
  setState("signed-out");
  showMessage("");
  byId("token").focus();
}

function fail(error) {
  if (error.status === 401 || (error.status === 403 && byId("view").hidden)) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    byId("view").hidden = true;
    byId("sign-in").hidden = false;
  }
  const canRetry = error.status === 0 || error.status >= 500;
  showMessage(error.message || "Something went wrong.", canRetry);
  setState("error");
}

function showMessage(text, canRetry = false) {
  byId("message-text").textContent = text;
  byId("retry").hidden = !canRetry;
  byId("message").hidden = text === "";
}

function setState(name) {
  document.body.dataset.state = name;
  byId("results").setAttribute("aria-busy", String(name === "loading"));
}

// --- the range and the report -----------------------------------------------------------------

const pad = (number, width = 2) => String(number).padStart(width, "0");

function isoDate(date) {
  return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function parseDate(text) {
  const [year, month, day] = text.split("-").map(Number);
  return new Date(year, month - 1, day);
}

function rfc3339(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${isoDate(date)}T${time}${zone}`;
}

function setDefaultRange() {
  const today = new Date();
  const from = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (DEFAULT_DAYS - 1));
  byId("from").value = isoDate(from);
  byId("to").value = isoDate(today);
}

function readRange() {
  const from = byId("from").value;
  const to = byId("to").value;
  if (!from || !to) return "Choose the first and the last day of the range.";
  if (from > to) return "The first day of the range must not be after its last day.";
  const start = parseDate(from);
  const last = parseDate(to);
  const end = new Date(last.getFullYear(), last.getMonth(), last.getDate() + 1);
  return { from, to, start, end };
}

async function loadReport() {
  const range = readRange();
  if (typeof range === "string") {
    showMessage(range);
    setState("error");
    return;
  }
  const params = new URLSearchParams({
    start: rfc3339(range.start),
    end: rfc3339(range.end),
    category: byId("category").value,
    interval: INTERVALS[byId("interval").value],
  });
  if (byId("org").value) params.set("org", byId("org").value);
  const query = params.toString();
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  const generation = ++state.generation;
  state.retry = loadReport;
  setState("loading");
  byId("status").textContent = "Loading…";
  try {
    const report = await api(`/api/private/metrics/activity?${query}`, controller.signal);
    if (generation !== state.generation) return;
    state.report = report;
    state.range = range;
    showMessage("");
    render();
    document.body.dataset.query = query;
    setState("ready");
  } catch (error) {
    if (error.name === "AbortError" || generation !== state.generation) return;
    byId("status").textContent = "";
    fail(error);
  }
}

// --- formatting -------------------------------------------------------------------------------

const numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percents = new Intl.NumberFormat(undefined, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const days = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });
const shortDays = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const months = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric" });

function activeTime(minutes) {
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours}h ${minutes % 60}m` : `${minutes}m`;
}

function periodMinutes() {
  return (state.range.end - state.range.start) / 60000;
}

// --- drawing ------------------------------------------------------------------------------------

function buckets() {
  return state.report.activity.map((bucket) => ({
    time: bucket.time,
    day: new Date(Date.parse(bucket.time) + LABEL_SHIFT_MS),
    users: bucket.user_activity.length,
    minutes: bucket.user_activity.reduce((sum, entry) => sum + entry.count, 0),
  }));
}

function people() {
  return Object.values(state.report.users).sort(
    (a, b) => b.total_count - a.total_count || a.username.localeCompare(b.username) || (a.id < b.id ? -1 : 1),
  );
}

function render() {
  const list = buckets();
  const users = people();
  const interval = byId("interval").value;
  const minutes = users.reduce((sum, user) => sum + user.total_count, 0);
  const totalUsers = byId("total-users");
  totalUsers.textContent = numbers.format(users.length);
  totalUsers.dataset.value = String(users.length);
  const totalHours = byId("total-hours");
  totalHours.textContent = numbers.format(minutes / 60);
  totalHours.dataset.minutes = String(minutes);
  byId("chart-heading").textContent = `Active users per ${interval}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  byId("status").textContent = `${users.length} active ${users.length === 1 ? "user" : "users"} from ${days.format(state.range.start)} to ${days.format(parseDate(state.range.to))} (${zone}), by ${interval}.`;
  drawChart(list, interval);
  fillChartTable(list);
  fillUsers(users);
}

function label(day, interval, short) {
  if (interval === "month" && day.getDate() === 1) return months.format(day);
  return (short ? shortDays : days).format(day);
}

function ticks(max) {
  if (max <= 0) return [0, 1];
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough));
  const values = [];
  for (let value = 0; value < max + step; value += step) values.push(value);
  return values;
}

function svg(name, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== null) element.textContent = text;
  return element;
}

function drawChart(list, interval) {
  const holder = byId("chart");
  const width = Math.max(holder.clientWidth, 280);
  state.chartWidth = width;
  const height = width < 500 ? 200 : 260;
  const margin = { top: 10, right: 8, bottom: 26, left: 44 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const scale = ticks(Math.max(0, ...list.map((b) => b.users)));
  const top = scale[scale.length - 1];
  const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
  const peak = list.reduce((best, b) => (b.users > best.users ? b : best), list[0]);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "chart-title chart-desc",
  });
  chart.append(
    svg("title", { id: "chart-title" }, `Active users per ${interval}`),
    svg("desc", { id: "chart-desc" }, `${list.length} bars from ${days.format(list[0].day)}; the most active users in one ${interval}: ${peak.users}, from ${days.format(peak.day)}. The table below the chart holds every value.`),
  );
  for (const value of scale) {
    chart.append(
      svg("line", { class: value === 0 ? "axis" : "grid", x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value) }),
      svg("text", { x: margin.left - 6, y: y(value) + 4, "text-anchor": "end" }, numbers.format(value)),
    );
  }
  const band = plotWidth / list.length;
  const labelEvery = Math.max(1, Math.ceil(list.length / Math.max(1, Math.floor(plotWidth / 72))));
  list.forEach((bucket, index) => {
    const x = margin.left + index * band;
    const bar = svg("rect", {
      class: "bar",
      x: x + band * 0.1,
      y: y(bucket.users),
      width: Math.max(1, band * 0.8),
      height: Math.max(0, margin.top + plotHeight - y(bucket.users)),
      "data-time": bucket.time,
      "data-users": bucket.users,
    });
    bar.append(svg("title", {}, `${label(bucket.day, interval, false)}: ${bucket.users} active ${bucket.users === 1 ? "user" : "users"}`));
    chart.append(bar);
    if (index % labelEvery === 0) {
      chart.append(svg("text", { x: x + band / 2, y: height - 8, "text-anchor": "middle" }, label(bucket.day, interval, true)));
    }
  });
  holder.replaceChildren(chart);
}

function cell(text, className = null) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fillChartTable(list) {
  const rows = list.map((bucket) => {
    const row = document.createElement("tr");
    row.dataset.time = bucket.time;
    row.dataset.users = String(bucket.users);
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = days.format(bucket.day);
    row.append(head, cell(numbers.format(bucket.users), "number"), cell(numbers.format(bucket.minutes / 60), "number"));
    return row;
  });
  byId("chart-table").tBodies[0].replaceChildren(...rows);
}

function fillUsers(users) {
  const period = periodMinutes();
  const rows = users.map((user) => {
    const row = document.createElement("tr");
    row.dataset.userId = user.id;
    row.dataset.minutes = String(user.total_count);
    row.append(
      cell(user.name || "—"),
      cell(user.username),
      cell(activeTime(user.total_count), "number"),
      cell(percents.format(user.total_count / period), "number"),
    );
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const empty = cell("Nobody was active in this period.", "empty");
    empty.colSpan = 4;
    row.append(empty);
    rows.push(row);
  }
  byId("users-table").tBodies[0].replaceChildren(...rows);
}

// --- the CSV download -------------------------------------------------------------------------

function csvCell(value) {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`; // a spreadsheet must not run it as a formula
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function downloadCsv() {
  if (!state.report) return;
  const period = periodMinutes();
  const rows = [["name", "username", "user_id", "active_minutes", "active_time", "share_of_period"]];
  for (const user of people()) {
    rows.push([user.name, user.username, user.id, user.total_count, activeTime(user.total_count), (user.total_count / period).toFixed(4)]);
  }
  const text = rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const org = byId("org").value || "any";
  link.download = `usage-${org}-${byId("category").value}-${state.range.from}-to-${state.range.to}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// --- wiring ----------------------------------------------------------------------------------

function start() {
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = byId("token").value.trim();
    if (!token) {
      showMessage("Paste a token first.");
      byId("token").focus();
      return;
    }
    signIn(token);
  });
  byId("filters").addEventListener("submit", (event) => event.preventDefault());
  for (const id of ["org", "category", "from", "to", "interval"]) {
    byId(id).addEventListener("change", loadReport);
  }
  byId("forget").addEventListener("click", forgetToken);
  byId("retry").addEventListener("click", () => state.retry?.());
  byId("csv").addEventListener("click", downloadCsv);
  new ResizeObserver(() => {
    const width = Math.max(byId("chart").clientWidth, 280);
    if (state.report && Math.abs(width - state.chartWidth) > 1) drawChart(buckets(), byId("interval").value);
  }).observe(byId("chart"));
  setDefaultRange();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved);
  } else {
    byId("sign-in").hidden = false;
  }
}

start();
