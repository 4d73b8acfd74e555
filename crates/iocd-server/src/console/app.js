// The iocd console: signs in with a bearer token (pasted, or from the page's #token=
// fragment, which never reaches the server), lists a tenant's indicators by type with
// server-side paging and search, adds and deletes them, and asks the matcher what would
// happen. Every request goes to the API of the server that serves the page.

const TOKEN_KEY = "iocd.token";
const PAGE = 50;
const TABS = {
  files: ["FileSha256", "FileSha1", "FileMd5"],
  ips: ["IpAddress"],
  urls: ["Url", "DomainName"],
  certs: ["CertificateThumbprint"],
};
const state = { token: null, claims: null, tab: "files", skip: 0, search: "", count: 0 };
const $ = (id) => document.getElementById(id);

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function roles() {
  return (state.claims && state.claims.roles) || [];
}

function canWrite() {
  return roles().some((r) => r === "Ti.ReadWrite" || r === "Ti.ReadWrite.All");
}

class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (response.status === 401) signOut("Your token was refused; sign in again.");
  if (!response.ok) throw new ApiFailure(response.status, body);
  return body;
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function signIn(token) {
  const claims = decodeClaims(token.trim());
  if (!claims) {
    $("sign-in-error").textContent = "That is not a token (three dot-separated parts).";
    return;
  }
  state.token = token.trim();
  state.claims = claims;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  const name = claims.name || claims.app_displayname || claims.appid || "unknown";
  $("identity").textContent = `Tenant ${claims.tid || "?"} · ${name} · ${roles().join(", ") || "no roles"}`;
  show("sign-in", false);
  show("sign-out", true);
  show("workspace", true);
  $("add-button").hidden = !canWrite();
  selectTab(state.tab);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.claims = null;
  $("identity").textContent = "";
  show("workspace", false);
  show("sign-out", false);
  show("sign-in", true);
  $("sign-in-error").textContent = message || "";
}

function quote(text) {
  return `'${text.replace(/'/g, "''")}'`;
}

function listQuery() {
  const types = TABS[state.tab].map((t) => `indicatorType eq ${quote(t)}`).join(" or ");
  let filter = `(${types})`;
  if (state.search) filter += ` and contains(indicatorValue,${quote(state.search)})`;
  const params = new URLSearchParams({ $filter: filter, $top: String(PAGE), $skip: String(state.skip), $count: "true" });
  return `/api/indicators?${params}`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

async function loadList() {
  $("list-error").textContent = "";
  let page;
  try {
    page = await api(listQuery());
  } catch (error) {
    $("list-error").textContent = error.message;
    return;
  }
  const rows = $("rows");
  rows.replaceChildren();
  for (const item of page.value) {
    const row = document.createElement("tr");
    cell(row, item.indicatorValue, "value");
    cell(row, item.indicatorType);
    cell(row, item.action);
    cell(row, item.generateAlert ? "Yes" : "No");
    cell(row, item.title);
    cell(row, item.severity);
    cell(row, item.rbacGroupNames.length ? item.rbacGroupNames.join(", ") : "All devices");
    cell(row, item.expirationTime || "Never");
    cell(row, item.createdByDisplayName);
    cell(row, item.creationTimeDateTimeUtc.slice(0, 19).replace("T", " "));
    const actions = cell(row, "");
    actions.textContent = "";
    if (canWrite()) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete ${item.indicatorValue}`);
      remove.addEventListener("click", () => removeIndicator(item));
      actions.appendChild(remove);
    }
    rows.appendChild(row);
  }
  if (!page.value.length) {
    const row = document.createElement("tr");
    const td = cell(row, state.search ? "Nothing matches the search." : "No indicators of this type yet.");
    td.colSpan = 11;
    rows.appendChild(row);
  }
  state.count = page["@odata.count"] || 0;
  const last = Math.min(state.skip + PAGE, state.count);
  $("page-info").textContent = state.count ? `${state.skip + 1}–${last} of ${state.count}` : "0 of 0";
  $("previous").disabled = state.skip === 0;
  $("next").disabled = last >= state.count;
}

async function removeIndicator(item) {
  if (!window.confirm(`Delete the indicator ${item.indicatorValue}? Devices stop enforcing it at once.`)) return;
  try {
    await api(`/api/indicators/${encodeURIComponent(item.id)}`, { method: "DELETE" });
  } catch (error) {
    $("list-error").textContent = error.message;
    return;
  }
  loadList();
}

function selectTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  const tester = tab === "tester";
  show("tester", tester);
  show("indicators", !tester);
  show("add-panel", false);
  if (!tester) {
    state.skip = 0;
    loadList();
  }
}

function openAdd() {
  const form = $("add-form");
  form.reset();
  clearErrors();
  const type = $("f-indicatorType");
  type.replaceChildren(...TABS[state.tab].map((t) => new Option(t, t)));
  show("add-panel", true);
  $("f-indicatorValue").focus();
}

function clearErrors() {
  for (const p of document.querySelectorAll(".field-error")) p.textContent = "";
  $("add-error").textContent = "";
}

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

async function saveAdd(event) {
  event.preventDefault();
  clearErrors();
  const form = $("add-form");
  const value = (name) => form.elements[name].value.trim();
  const body = {
    indicatorValue: value("indicatorValue"),
    indicatorType: value("indicatorType"),
    action: value("action"),
    severity: value("severity"),
    title: value("title"),
    description: value("description"),
    generateAlert: form.elements.generateAlert.checked,
  };
  const expiry = value("expirationTime");
  if (expiry) body.expirationTime = `${expiry}:00Z`.replace(/:00:00Z$/, ":00Z");
  const groups = list(value("rbacGroupNames"));
  if (groups.length) body.rbacGroupNames = groups;
  const techniques = list(value("mitreTechniques"));
  if (techniques.length) body.mitreTechniques = techniques;
  for (const name of ["category", "recommendedActions", "application", "educateUrl", "notificationBody"]) {
    if (value(name)) body[name] = value(name);
  }
  let missing = false;
  for (const name of ["indicatorValue", "title", "description"]) {
    if (!body[name]) {
      $(`e-${name}`).textContent = "Required.";
      missing = true;
    }
  }
  if (missing) return;
  try {
    await api("/api/indicators", { method: "POST", body });
  } catch (error) {
    const detail = error.body && error.body.error && error.body.error.details && error.body.error.details[0];
    const target = detail && $(`e-${detail.target}`);
    if (target) {
      target.textContent = error.message;
      const input = $(`f-${detail.target}`);
      if (input) input.focus();
    } else {
      $("add-error").textContent = error.message;
    }
    return;
  }
  show("add-panel", false);
  state.skip = 0;
  loadList();
}

async function runTester(event) {
  event.preventDefault();
  const device = { id: "console" };
  const group = $("t-group").value.trim();
  const name = $("t-name").value.trim();
  if (group) device.groups = [group];
  else if (name) device.name = name;
  const out = $("verdict");
  out.replaceChildren();
  let answer;
  try {
    answer = await api("/api/match", {
      method: "POST",
      body: { device, observables: [{ type: $("t-type").value, value: $("t-value").value.trim() }] },
    });
  } catch (error) {
    out.textContent = error.message;
    return;
  }
  const result = answer.value[0];
  const line = (text, className) => {
    const p = document.createElement("p");
    p.textContent = text;
    if (className) p.className = className;
    out.appendChild(p);
  };
  if (result.isFailed) {
    line(`Not a valid value: ${result.failureReason}`, "action");
    return;
  }
  line(result.action ? `${result.action}` : "Nothing matches: allowed by default", "action");
  if (result.indicatorId) line(`Decided by indicator ${result.indicatorId} (rule: ${result.rule}).`);
  for (const item of result.explanation || []) {
    line(`Indicator ${item.indicatorId}: ${item.indicatorType} ${item.action}${item.groupScoped ? ", scoped to a device group" : ""}${item.generateAlert ? ", raises an alert" : ""}.`);
  }
}

function start() {
  if (location.hash.startsWith("#token=")) {
    const token = decodeURIComponent(location.hash.slice("#token=".length));
    history.replaceState(null, "", location.pathname + location.search);
    sessionStorage.setItem(TOKEN_KEY, token);
  }
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  let timer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.search = $("search").value.trim();
      state.skip = 0;
      loadList();
    }, 250);
  });
  $("previous").addEventListener("click", () => {
    state.skip = Math.max(0, state.skip - PAGE);
    loadList();
  });
  $("next").addEventListener("click", () => {
    state.skip += PAGE;
    loadList();
  });
  $("add-button").addEventListener("click", openAdd);
  $("add-cancel").addEventListener("click", () => show("add-panel", false));
  $("add-form").addEventListener("submit", saveAdd);
  $("tester-form").addEventListener("submit", runTester);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else signOut();
}

start();
