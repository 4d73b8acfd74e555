// The iocd console: signs in with a bearer token (pasted, from the page's #token= fragment,
// which never reaches the server, from the built-in token endpoint, or from an OpenID Connect
// issuer by the authorisation code flow with PKCE), lists a tenant's indicators by type with
// server-side paging and search, adds, edits and deletes them and shows their history, works
// the tenant's alerts, and asks the matcher what would happen. Every request goes to the API
// of the server that serves the page.

const TOKEN_KEY = "iocd.token";
const PENDING_SIGN_IN_KEY = "iocd.pendingSignIn";
const PAGE = 50;
// How long typing in a search box must pause before the page asks the server.
const TYPING_PAUSE_MS = 150;
const TABS = {
  files: ["FileSha256", "FileSha1", "FileMd5"],
  ips: ["IpAddress"],
  urls: ["Url", "DomainName"],
  certs: ["CertificateThumbprint"],
};
const state = { token: null, claims: null, tab: "files", skip: 0, search: "", editing: null, alert: null, sort: null, descending: false, importing: null, selected: new Map(), groupEditing: null, listRequests: 0, conversions: 0 };
const TYPES = ["FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url"];
const ACTIONS = ["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate", "Alert", "AlertAndBlock"];
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

// Application permissions (`roles`) and, for a signed-in user, delegated ones (`scp`).
function roles() {
  const claims = state.claims || {};
  const granted = Array.isArray(claims.roles) ? [...claims.roles] : [];
  if (typeof claims.scp === "string") granted.push(...claims.scp.split(" ").filter(Boolean));
  return granted;
}

function canWrite() {
  return roles().some((r) => r === "Ti.ReadWrite" || r === "Ti.ReadWrite.All");
}

function canReadAlerts() {
  return roles().some((r) => r === "Alert.Read.All" || r === "Alert.ReadWrite.All");
}

function canWriteAlerts() {
  return roles().includes("Alert.ReadWrite.All");
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
  const name = claims.name || claims.upn || claims.preferred_username || claims.app_displayname || claims.appid || "unknown";
  $("identity").textContent = `Tenant ${claims.tid || "?"} · ${name} · ${roles().join(", ") || "no roles"}`;
  show("sign-in", false);
  show("sign-out", true);
  show("workspace", true);
  $("add-button").hidden = !canWrite();
  $("import-button").hidden = !canWrite();
  $("alerts-tab").hidden = !canReadAlerts();
  $("webhooks-tab").hidden = !canWriteAlerts();
  $("groups-tab").hidden = !roles().some((r) => r.startsWith("Ti."));
  $("group-form").hidden = !roles().includes("Ti.ReadWrite.All");
  $("delete-selected").hidden = !canWrite();
  $("select-page").hidden = !canWrite();
  loadGroupOptions();
  selectTab(state.tab);
}

// The device-group filter lists the tenant's groups.
async function loadGroupOptions() {
  let answer;
  try {
    answer = await api("/api/deviceGroups");
  } catch {
    return;
  }
  const select = $("filter-group");
  const chosen = select.value;
  select.replaceChildren(new Option("All", ""), ...answer.value.filter((g) => !g.isDefault).map((g) => new Option(g.name, g.name)));
  select.value = chosen;
}

// The built-in token endpoint (Entra's client-credentials form) for an application
// registered with `iocd app create`.
async function appSignIn(event) {
  event.preventDefault();
  $("app-sign-in-error").textContent = "";
  const tenant = $("app-tenant").value.trim();
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: $("app-client-id").value.trim(),
    client_secret: $("app-client-secret").value,
    scope: "api://iocd/.default",
  });
  let answer = null;
  try {
    const response = await fetch(`/${encodeURIComponent(tenant)}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!answer || !answer.access_token) {
    $("app-sign-in-error").textContent = (answer && (answer.error_description || answer.error)) || "The token endpoint did not answer.";
    return;
  }
  $("app-client-secret").value = "";
  signIn(answer.access_token);
}

// The issuers `[[auth.oidc]]` names a console client for, as buttons.
async function loadIssuers() {
  let answer = null;
  try {
    const response = await fetch("/console/sign-in.json");
    answer = await response.json();
  } catch {
    answer = null;
  }
  const issuers = (answer && answer.issuers) || [];
  const buttons = $("issuer-sign-in");
  buttons.replaceChildren();
  for (const issuer of issuers) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `Sign in with ${issuer.name}`;
    button.addEventListener("click", () => startIssuerSignIn(issuer));
    buttons.appendChild(button);
  }
  show("issuer-section", issuers.length > 0);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(length) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

// The authorisation code flow with PKCE (RFC 7636), as a public client: the verifier and
// state wait in sessionStorage while the browser is at the issuer; the code comes back in the
// fragment (response_mode=fragment), so it never reaches this server either.
async function startIssuerSignIn(issuer) {
  $("issuer-error").textContent = "";
  try {
    if (!crypto.subtle) throw new Error("the console must be served over https (or from localhost) for this");
    const response = await fetch(`${issuer.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`its discovery document answered HTTP ${response.status}`);
    const meta = await response.json();
    const verifier = randomText(32);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    const pending = { clientId: issuer.clientId, verifier, state: randomText(16), redirect: `${location.origin}/`, tokenEndpoint: meta.token_endpoint };
    sessionStorage.setItem(PENDING_SIGN_IN_KEY, JSON.stringify(pending));
    const params = new URLSearchParams({
      client_id: issuer.clientId,
      response_type: "code",
      response_mode: "fragment",
      redirect_uri: pending.redirect,
      scope: issuer.scope,
      state: pending.state,
      code_challenge: base64url(new Uint8Array(digest)),
      code_challenge_method: "S256",
    });
    location.assign(`${meta.authorization_endpoint}?${params}`);
  } catch (error) {
    $("issuer-error").textContent = `Cannot sign in with ${issuer.name}: ${error.message}`;
  }
}

// Back from the issuer with a code (or an error) in the fragment: redeem the code for a
// token. Answers an error message, or null when the token is stored.
async function finishIssuerSignIn(fragment) {
  const params = new URLSearchParams(fragment);
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_SIGN_IN_KEY) || "null");
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(PENDING_SIGN_IN_KEY);
  if (!pending || params.get("state") !== pending.state) return "The identity provider's answer does not belong to a sign-in this page started; sign in again.";
  if (params.get("error")) return `The identity provider refused: ${params.get("error_description") || params.get("error")}`;
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: params.get("code") || "",
    redirect_uri: pending.redirect,
    client_id: pending.clientId,
    code_verifier: pending.verifier,
  });
  let answer = null;
  try {
    const response = await fetch(pending.tokenEndpoint, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: form });
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!answer || !answer.access_token) return `The identity provider gave no token: ${(answer && (answer.error_description || answer.error)) || "no answer"}`;
  sessionStorage.setItem(TOKEN_KEY, answer.access_token);
  return null;
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

function currentFilter() {
  const types = TABS[state.tab].map((t) => `indicatorType eq ${quote(t)}`).join(" or ");
  let filter = `(${types})`;
  if (state.search) filter += ` and contains(indicatorValue,${quote(state.search)})`;
  const action = $("filter-action").value;
  const severity = $("filter-severity").value;
  if (action) filter += ` and action eq ${quote(action)}`;
  if (severity) filter += ` and severity eq ${quote(severity)}`;
  const group = $("filter-group").value;
  if (group) filter += ` and rbacGroupNames/any(g: g eq ${quote(group)})`;
  const expiry = $("filter-expiry").value;
  const now = new Date();
  if (expiry === "never") filter += " and expirationTime eq null";
  else if (expiry === "expired") filter += ` and expirationTime ne null and expirationTime lt ${now.toISOString().slice(0, 19)}Z`;
  else if (expiry) {
    const until = new Date(now.getTime() + Number(expiry) * 86400000);
    filter += ` and expirationTime ne null and expirationTime le ${until.toISOString().slice(0, 19)}Z`;
  }
  const creator = $("filter-creator").value.trim();
  if (creator) filter += ` and (createdByDisplayName eq ${quote(creator)} or createdBy eq ${quote(creator)})`;
  return filter;
}

function listQuery(skip = state.skip, top = PAGE) {
  // No $count: counting a large tenant's matches would cost a scan per page; the next link
  // says whether more follow.
  const params = new URLSearchParams({ $filter: currentFilter(), $top: String(top), $skip: String(skip) });
  if (state.sort) params.set("$orderby", `${state.sort} ${state.descending ? "desc" : "asc"}`);
  return `/api/indicators?${params}`;
}

function sortBy(field) {
  state.descending = state.sort === field ? !state.descending : false;
  state.sort = field;
  for (const button of document.querySelectorAll("button.sort")) {
    const sorted = button.dataset.sort === field;
    button.parentElement.setAttribute("aria-sort", sorted ? (state.descending ? "descending" : "ascending") : "none");
  }
  state.skip = 0;
  loadList();
}

// Every indicator of the current tab and filter, as a JSON file the browser saves.
async function exportCurrent() {
  const all = [];
  for (let skip = 0; skip < 1000000; skip += 10000) {
    let page;
    try {
      page = await api(listQuery(skip, 10000));
    } catch (error) {
      $("list-error").textContent = error.message;
      return;
    }
    all.push(...page.value);
    if (page.value.length < 10000) break;
  }
  const blob = new Blob([JSON.stringify(all, null, 1)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `indicators-${state.tab}.json`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// CSV rows (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes).
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function previewImport(text) {
  const rows = parseCsv(text.replace(/^\uFEFF/, ""));
  const body = $("import-rows");
  body.replaceChildren();
  const header = (rows[0] || []).map((h) => h.trim().toLowerCase());
  const column = (name) => header.indexOf(name);
  const [type, value, action] = [column("indicatortype"), column("indicatorvalue"), column("action")];
  if (type < 0 || value < 0 || action < 0) {
    $("import-summary").textContent = "This is not an MDE CSV file: its first line must name IndicatorType, IndicatorValue and Action.";
    $("import-run").disabled = true;
    return;
  }
  let problems = 0;
  let count = 0;
  for (let i = 1; i < rows.length; i++) {
    const cells = rows[i];
    if (cells.length === 1 && !cells[0].trim()) continue;
    count++;
    let problem = "";
    if (cells.length !== header.length) problem = `${cells.length} fields, the header has ${header.length}`;
    else if (!TYPES.includes(cells[type].trim())) problem = `unknown type ${cells[type]}`;
    else if (!cells[value].trim()) problem = "no value";
    else if (!ACTIONS.includes(cells[action].trim())) problem = `unknown action ${cells[action]}`;
    if (problem) problems++;
    if (body.children.length < 200 || problem) {
      const tr = document.createElement("tr");
      cell(tr, i + 1);
      cell(tr, cells[type]);
      cell(tr, cells[value], "value");
      cell(tr, cells[action]);
      cell(tr, problem || "ok", problem ? "problem" : "");
      body.appendChild(tr);
    }
  }
  $("import-summary").textContent = `${count} rows; ${problems} with problems (they will be reported and skipped).`;
  $("import-run").disabled = count === 0;
}

function importRow(where, type, value, action, problem) {
  const tr = document.createElement("tr");
  cell(tr, where);
  cell(tr, type);
  cell(tr, value, "value");
  cell(tr, action);
  cell(tr, problem || "ok", problem ? "problem" : "");
  $("import-rows").appendChild(tr);
}

// A file that is not MDE CSV: the server reads it (STIX, MISP, a list) and answers what it
// holds, without storing anything; the preview shows that.
async function convertImport(file, bytes) {
  const params = new URLSearchParams({ action: $("import-action").value, severity: $("import-severity").value, name: file.name });
  $("import-rows").replaceChildren();
  $("import-run").disabled = true;
  // A newer choice (another file, other defaults) replaces this one's answer.
  const ticket = ++state.conversions;
  let answer;
  try {
    const response = await fetch(`/api/indicators/convert?${params}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/octet-stream" },
      body: bytes,
    });
    answer = await response.json().catch(() => null);
    if (ticket !== state.conversions) return;
    if (!response.ok) throw new ApiFailure(response.status, answer);
  } catch (error) {
    if (ticket !== state.conversions) return;
    state.importing = null;
    $("import-summary").textContent = `This file cannot be imported: ${error.message}`;
    return;
  }
  state.importing = { kind: "converted", answer };
  let listed = 0;
  for (const item of answer.value) {
    if (listed++ >= 200) break;
    importRow(item.origin, item.indicator.indicatorType, item.indicator.indicatorValue, item.indicator.action, "");
  }
  for (const removal of answer.removals) importRow(removal.origin, removal.indicatorType, removal.indicatorValue, "remove", "");
  for (const problem of answer.problems) importRow(problem.origin, "", "", "", problem.reason);
  const removals = answer.removals.length ? `, ${answer.removals.length} to remove` : "";
  $("import-summary").textContent = `${answer.format}: ${answer.value.length} indicators${removals}; ${answer.problems.length} items cannot be imported (listed).`;
  $("import-run").disabled = answer.value.length + answer.removals.length === 0;
}

// Removals a document asks for (revoked STIX objects): found by value, deleted together.
async function applyRemovals(removals) {
  const ids = [];
  const missing = [];
  for (const removal of removals) {
    const filter = `indicatorType eq ${quote(removal.indicatorType)} and indicatorValue eq ${quote(removal.indicatorValue)}`;
    const found = await api(`/api/indicators?${new URLSearchParams({ $filter: filter })}`);
    if (found.value.length) ids.push(...found.value.map((i) => i.id));
    else missing.push(removal);
  }
  for (let start = 0; start < ids.length; start += 500) {
    await api("/api/indicators/BatchDelete", { method: "POST", body: { IndicatorIds: ids.slice(start, start + 500) } });
  }
  return { removed: ids.length, missing };
}

// MDE CSV is previewed here and streamed to the bulk endpoint as it is; other files are read
// by the server first.
async function chooseImportFile() {
  const file = $("import-file").files[0];
  if (!file) return;
  const text = await file.text();
  const first = text.replace(/^\uFEFF/, "").trimStart()[0];
  const header = text.split("\n", 1)[0].toLowerCase();
  const csv = first !== "{" && first !== "[" && header.includes("indicatortype");
  $("import-defaults").hidden = csv;
  $("import-summary").textContent = "";
  if (csv) {
    state.importing = { kind: "csv", text };
    previewImport(text);
  } else {
    await convertImport(file, await file.arrayBuffer());
  }
}

function runImport() {
  const importing = state.importing;
  if (!importing) return;
  const converted = importing.kind === "converted";
  const text = converted ? importing.answer.value.map((item) => JSON.stringify(item.indicator)).join("\n") + "\n" : importing.text;
  const progress = $("import-progress");
  progress.hidden = false;
  progress.value = 0;
  $("import-run").disabled = true;
  const request = new XMLHttpRequest();
  request.open("POST", "/api/indicators/bulk");
  request.setRequestHeader("Authorization", `Bearer ${state.token}`);
  request.setRequestHeader("Content-Type", converted ? "application/x-ndjson" : "text/csv");
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
  };
  request.onload = async () => {
    progress.value = 100;
    let answer = null;
    try {
      answer = JSON.parse(request.responseText);
    } catch {
      answer = null;
    }
    if (request.status !== 200 || !answer) {
      $("import-summary").textContent = (answer && answer.error && answer.error.message) || `The import failed (HTTP ${request.status}).`;
      return;
    }
    let summary = `Imported: ${answer.created} created, ${answer.updated} updated, ${answer.failed} failed.`;
    $("import-rows").replaceChildren();
    // Bulk numbers the lines it was sent; a converted file's items say where they came from.
    const where = (line) => (converted ? importing.answer.value[line - 1]?.origin || `item ${line}` : line);
    for (const row of answer.value) importRow(where(row.line), "", row.indicator, "", row.failureReason);
    if (converted) {
      for (const problem of importing.answer.problems) importRow(problem.origin, "", "", "", problem.reason);
      if (importing.answer.removals.length) {
        try {
          const { removed, missing } = await applyRemovals(importing.answer.removals);
          summary += ` ${removed} removed.`;
          for (const m of missing) importRow(m.origin, m.indicatorType, m.indicatorValue, "remove", `revoked, but ${m.indicatorValue} is not there to remove`);
        } catch (error) {
          summary += ` Removing the revoked ones failed: ${error.message}`;
        }
      }
    }
    $("import-summary").textContent = summary;
    loadList();
  };
  request.onerror = () => {
    $("import-summary").textContent = "The import could not reach the server.";
  };
  request.send(text);
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
  // Answers can arrive out of order (a search typed on while the last one runs): only the
  // newest request's answer is shown.
  const ticket = ++state.listRequests;
  let page;
  try {
    page = await api(listQuery());
  } catch (error) {
    if (ticket === state.listRequests) $("list-error").textContent = error.message;
    return;
  }
  if (ticket !== state.listRequests) return;
  const rows = $("rows");
  rows.replaceChildren();
  state.selected.clear();
  updateSelection();
  for (const item of page.value) {
    const row = document.createElement("tr");
    const pick = cell(row, "", "select");
    pick.textContent = "";
    if (canWrite()) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "pick";
      box.setAttribute("aria-label", `Select ${item.indicatorValue}`);
      box.addEventListener("change", () => {
        if (box.checked) state.selected.set(item.id, item.indicatorValue);
        else state.selected.delete(item.id);
        updateSelection();
      });
      pick.appendChild(box);
    }
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
    const history = document.createElement("button");
    history.type = "button";
    history.textContent = "History";
    history.setAttribute("aria-label", `History of ${item.indicatorValue}`);
    history.addEventListener("click", () => showHistory(item));
    actions.appendChild(history);
    if (canWrite()) {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `Edit ${item.indicatorValue}`);
      edit.addEventListener("click", () => openEdit(item));
      actions.appendChild(edit);
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
    td.colSpan = 12;
    rows.appendChild(row);
  }
  const more = Boolean(page["@odata.nextLink"]);
  const last = state.skip + page.value.length;
  $("page-info").textContent = page.value.length ? `${state.skip + 1}–${last}${more ? ", more follow" : ""}` : "none";
  $("previous").disabled = state.skip === 0;
  $("next").disabled = !more;
}

function updateSelection() {
  const count = state.selected.size;
  $("delete-selected").disabled = count === 0;
  $("delete-selected").textContent = count ? `Delete selected (${count})` : "Delete selected";
  const boxes = document.querySelectorAll("#rows input.pick");
  $("select-page").checked = boxes.length > 0 && count === boxes.length;
}

function selectPage() {
  const on = $("select-page").checked;
  for (const box of document.querySelectorAll("#rows input.pick")) {
    if (box.checked !== on) {
      box.checked = on;
      box.dispatchEvent(new Event("change"));
    }
  }
}

// MDE's BatchDelete: every selected indicator goes, or none does.
async function deleteSelected() {
  const ids = [...state.selected.keys()];
  if (!ids.length) return;
  const names = [...state.selected.values()];
  const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
  if (!window.confirm(`Delete ${ids.length} indicators (${shown})? Devices stop enforcing them at once.`)) return;
  try {
    await api("/api/indicators/BatchDelete", { method: "POST", body: { IndicatorIds: ids } });
  } catch (error) {
    $("list-error").textContent = error.message;
    return;
  }
  loadList();
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
  const listing = tab in TABS;
  show("tester", tab === "tester");
  show("alerts", tab === "alerts");
  show("groups", tab === "groups");
  show("webhooks", tab === "webhooks");
  show("indicators", listing);
  show("add-panel", false);
  show("history-panel", false);
  if (listing) {
    state.skip = 0;
    loadList();
  } else if (tab === "alerts") {
    loadAlerts();
  } else if (tab === "groups") {
    loadGroups();
  } else if (tab === "webhooks") {
    loadWebhooks();
  }
}

async function loadGroups() {
  $("groups-error").textContent = "";
  let answer;
  try {
    answer = await api("/api/deviceGroups");
  } catch (error) {
    $("groups-error").textContent = error.message;
    return;
  }
  const rows = $("group-rows");
  rows.replaceChildren();
  for (const group of answer.value) {
    const row = document.createElement("tr");
    cell(row, group.isDefault ? "last" : group.rank);
    cell(row, group.name);
    cell(row, group.description);
    const rules = [];
    if (group.rules.nameStartsWith.length) rules.push(`name starts with ${group.rules.nameStartsWith.join(" or ")}`);
    if (group.rules.domain.length) rules.push(`domain ${group.rules.domain.join(" or ")}`);
    if (group.rules.os.length) rules.push(`OS ${group.rules.os.join(" or ")}`);
    if (group.rules.tags.length) rules.push(`tag ${group.rules.tags.join(" or ")}`);
    cell(row, group.isDefault ? "devices no other group takes" : rules.join("; ") || "no rules (named by devices or indicators)");
    const actions = cell(row, "");
    actions.textContent = "";
    if (!group.isDefault && roles().includes("Ti.ReadWrite.All")) {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `Edit group ${group.name}`);
      edit.addEventListener("click", () => editGroup(group));
      actions.appendChild(edit);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete group ${group.name}`);
      remove.addEventListener("click", async () => {
        if (!window.confirm(`Delete the device group ${group.name}?`)) return;
        try {
          await api(`/api/deviceGroups/${group.id}`, { method: "DELETE" });
        } catch (error) {
          $("groups-error").textContent = error.message;
          return;
        }
        loadGroups();
      });
      actions.appendChild(remove);
    }
    rows.appendChild(row);
  }
}

// The group form filled with a group; saving changes it (PATCH) instead of adding one.
function editGroup(group) {
  state.groupEditing = group;
  $("group-form-heading").textContent = `Edit group ${group.name}`;
  $("group-save").textContent = "Save group";
  $("group-cancel").hidden = false;
  $("g-name").value = group.name;
  $("g-rank").value = group.rank;
  $("g-description").value = group.description || "";
  $("g-prefixes").value = group.rules.nameStartsWith.join(", ");
  $("g-domains").value = group.rules.domain.join(", ");
  $("g-os").value = group.rules.os.join(", ");
  $("g-tags").value = group.rules.tags.join(", ");
  $("group-form-error").textContent = "";
  $("g-name").focus();
}

function resetGroupForm() {
  state.groupEditing = null;
  $("group-form").reset();
  $("group-form-heading").textContent = "Add a group";
  $("group-save").textContent = "Add group";
  $("group-cancel").hidden = true;
  $("group-form-error").textContent = "";
}

async function addGroup(event) {
  event.preventDefault();
  $("group-form-error").textContent = "";
  const body = {
    name: $("g-name").value.trim(),
    description: $("g-description").value.trim(),
    rules: { nameStartsWith: list($("g-prefixes").value), domain: list($("g-domains").value), os: list($("g-os").value), tags: list($("g-tags").value) },
  };
  if ($("g-rank").value !== "") body.rank = Number($("g-rank").value);
  const editing = state.groupEditing;
  try {
    if (editing) await api(`/api/deviceGroups/${editing.id}`, { method: "PATCH", body });
    else await api("/api/deviceGroups", { method: "POST", body });
  } catch (error) {
    $("group-form-error").textContent = error.message;
    return;
  }
  resetGroupForm();
  loadGroups();
  loadGroupOptions();
}

async function loadWebhooks() {
  $("webhooks-error").textContent = "";
  let answer;
  try {
    answer = await api("/api/webhooks");
  } catch (error) {
    $("webhooks-error").textContent = error.message;
    return;
  }
  const rows = $("webhook-rows");
  rows.replaceChildren();
  for (const hook of answer.value) {
    const row = document.createElement("tr");
    cell(row, hook.id);
    cell(row, hook.url, "value");
    cell(row, hook.events.join(", "));
    cell(row, hook.createdDateTimeUtc.slice(0, 19).replace("T", " "));
    const actions = cell(row, "");
    actions.textContent = "";
    const deliveries = document.createElement("button");
    deliveries.type = "button";
    deliveries.textContent = "Deliveries";
    deliveries.setAttribute("aria-label", `Deliveries of webhook ${hook.id}`);
    deliveries.addEventListener("click", () => showDeliveries(hook));
    actions.appendChild(deliveries);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete webhook ${hook.id}`);
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete the webhook to ${hook.url}?`)) return;
      try {
        await api(`/api/webhooks/${hook.id}`, { method: "DELETE" });
      } catch (error) {
        $("webhooks-error").textContent = error.message;
        return;
      }
      loadWebhooks();
    });
    actions.appendChild(remove);
    rows.appendChild(row);
  }
  if (!answer.value.length) {
    const row = document.createElement("tr");
    cell(row, "No webhooks.").colSpan = 5;
    rows.appendChild(row);
  }
}

async function showDeliveries(hook) {
  const list = $("delivery-list");
  list.replaceChildren();
  $("deliveries-heading").textContent = `Deliveries of webhook ${hook.id}`;
  show("deliveries", true);
  let answer;
  try {
    answer = await api(`/api/webhooks/${hook.id}/deliveries`);
  } catch (error) {
    list.textContent = error.message;
    return;
  }
  for (const d of answer.value) {
    const li = document.createElement("li");
    li.textContent = `${d.id}: ${d.event} of alert ${d.alertId} · ${d.state} after ${d.attempts} attempts${d.lastError ? ` · ${d.lastError}` : ""}`;
    list.appendChild(li);
  }
  if (!answer.value.length) list.textContent = "No deliveries yet.";
}

async function addWebhook(event) {
  event.preventDefault();
  $("webhook-form-error").textContent = "";
  $("webhook-secret").textContent = "";
  const events = [];
  if ($("w-created").checked) events.push("alert.created");
  if ($("w-updated").checked) events.push("alert.updated");
  let answer;
  try {
    answer = await api("/api/webhooks", { method: "POST", body: { url: $("w-url").value.trim(), events } });
  } catch (error) {
    $("webhook-form-error").textContent = error.message;
    return;
  }
  $("webhook-secret").textContent = `Signing secret (shown only now): ${answer.secret}`;
  $("w-url").value = "";
  loadWebhooks();
}

async function showHistory(item) {
  const list = $("history-list");
  list.replaceChildren();
  $("history-heading").textContent = `History of ${item.indicatorValue}`;
  show("history-panel", true);
  let answer;
  try {
    answer = await api(`/api/indicators/${encodeURIComponent(item.id)}/history`);
  } catch (error) {
    list.textContent = error.message;
    return;
  }
  for (const entry of answer.value) {
    const li = document.createElement("li");
    const who = entry.actorName || entry.actorId || "the system";
    const after = entry.after ? ` → ${entry.after.action}, ${entry.after.severity}, "${entry.after.title}"` : "";
    li.textContent = `${entry.time.slice(0, 19).replace("T", " ")} · ${entry.operation} by ${who}${after}`;
    list.appendChild(li);
  }
}

async function loadAlerts() {
  $("alerts-error").textContent = "";
  const filters = [];
  const status = $("alert-status-filter").value;
  const severity = $("alert-severity-filter").value;
  if (status) filters.push(`status eq ${quote(status)}`);
  if (severity) filters.push(`severity eq ${quote(severity)}`);
  const params = new URLSearchParams({ $top: "100", $orderby: "lastEventTime desc" });
  if (filters.length) params.set("$filter", filters.join(" and "));
  let page;
  try {
    page = await api(`/api/alerts?${params}`);
  } catch (error) {
    $("alerts-error").textContent = error.message;
    return;
  }
  const rows = $("alert-rows");
  rows.replaceChildren();
  for (const alert of page.value) {
    const row = document.createElement("tr");
    cell(row, alert.title);
    cell(row, alert.severity);
    cell(row, alert.status);
    cell(row, alert.computerDnsName || alert.machineId);
    cell(row, alert.indicatorValue, "value");
    cell(row, alert.eventCount);
    cell(row, alert.lastEventTime.slice(0, 19).replace("T", " "));
    const actions = cell(row, "");
    actions.textContent = "";
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "Open";
    open.setAttribute("aria-label", `Open alert ${alert.id}: ${alert.title}`);
    open.addEventListener("click", () => openAlert(alert.id));
    actions.appendChild(open);
    rows.appendChild(row);
  }
  if (!page.value.length) {
    const row = document.createElement("tr");
    cell(row, "No alerts.").colSpan = 8;
    rows.appendChild(row);
  }
}

async function openAlert(id) {
  let alert;
  try {
    alert = await api(`/api/alerts/${encodeURIComponent(id)}`);
  } catch (error) {
    $("alerts-error").textContent = error.message;
    return;
  }
  state.alert = alert;
  $("alert-title").textContent = `Alert ${alert.id}: ${alert.title}`;
  $("alert-summary").textContent = `${alert.severity} · ${alert.status} · indicator ${alert.indicatorId} (${alert.indicatorType} ${alert.indicatorValue}, ${alert.action}) · device ${alert.computerDnsName || alert.machineId} · ${alert.eventCount} events, first ${alert.firstEventTime}, last ${alert.lastEventTime}`;
  const evidence = $("alert-evidence");
  evidence.replaceChildren();
  for (const item of alert.evidence) {
    const li = document.createElement("li");
    li.textContent = JSON.stringify(item);
    evidence.appendChild(li);
  }
  const comments = $("alert-comments");
  comments.replaceChildren();
  for (const c of alert.comments) {
    const li = document.createElement("li");
    li.textContent = `${c.createdTime.slice(0, 19).replace("T", " ")} ${c.createdBy}: ${c.comment}`;
    comments.appendChild(li);
  }
  if (!alert.comments.length) {
    const li = document.createElement("li");
    li.textContent = "None yet.";
    comments.appendChild(li);
  }
  $("a-status").value = alert.status;
  $("a-classification").value = alert.classification || "";
  $("a-assigned").value = alert.assignedTo || "";
  $("a-comment").value = "";
  $("alert-form-error").textContent = "";
  for (const id of ["a-status", "a-classification", "a-assigned", "a-comment", "alert-save"]) {
    $(id).disabled = !canWriteAlerts();
  }
  show("alert-detail", true);
}

async function saveAlert(event) {
  event.preventDefault();
  if (!state.alert) return;
  const body = {
    status: $("a-status").value,
    classification: $("a-classification").value || null,
    assignedTo: $("a-assigned").value.trim() || null,
  };
  const comment = $("a-comment").value.trim();
  if (comment) body.comment = comment;
  try {
    await api(`/api/alerts/${encodeURIComponent(state.alert.id)}`, { method: "PATCH", body });
  } catch (error) {
    $("alert-form-error").textContent = error.message;
    return;
  }
  await loadAlerts();
  await openAlert(state.alert.id);
}

function openAdd() {
  const form = $("add-form");
  form.reset();
  clearErrors();
  state.editing = null;
  $("add-heading").textContent = "Add indicator";
  $("f-indicatorValue").disabled = false;
  $("f-indicatorType").disabled = false;
  const type = $("f-indicatorType");
  type.replaceChildren(...TABS[state.tab].map((t) => new Option(t, t)));
  show("add-panel", true);
  $("f-indicatorValue").focus();
}

// The form filled with an indicator; saving submits it again (MDE's update), and when the
// action changed, removes the old one (the action is part of an indicator's key).
function openEdit(item) {
  openAdd();
  state.editing = item;
  $("add-heading").textContent = `Edit ${item.indicatorValue}`;
  const form = $("add-form");
  const set = (name, value) => {
    form.elements[name].value = value === null || value === undefined ? "" : value;
  };
  $("f-indicatorType").replaceChildren(new Option(item.indicatorType, item.indicatorType));
  set("indicatorValue", item.indicatorValue);
  set("action", item.action);
  set("severity", item.severity);
  set("title", item.title);
  set("description", item.description);
  set("expirationTime", item.expirationTime ? item.expirationTime.slice(0, 16) : "");
  set("rbacGroupNames", item.rbacGroupNames.join(", "));
  set("mitreTechniques", item.mitreTechniques.join(", "));
  set("recommendedActions", item.recommendedActions);
  set("application", item.application);
  set("educateUrl", item.educateUrl);
  set("notificationBody", item.notificationBody);
  form.elements.generateAlert.checked = item.generateAlert;
  $("f-indicatorValue").disabled = true;
  $("f-indicatorType").disabled = true;
  $("f-title").focus();
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
  // datetime-local gives "YYYY-MM-DDTHH:MM", or with ":SS" when seconds were set.
  if (expiry) body.expirationTime = `${expiry.length === 16 ? `${expiry}:00` : expiry}Z`;
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
    const old = state.editing;
    if (old && old.action !== body.action) {
      await api(`/api/indicators/${encodeURIComponent(old.id)}`, { method: "DELETE" });
    }
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

async function start() {
  let signInProblem = "";
  if (location.hash.startsWith("#token=")) {
    const token = decodeURIComponent(location.hash.slice("#token=".length));
    history.replaceState(null, "", location.pathname + location.search);
    sessionStorage.setItem(TOKEN_KEY, token);
  } else if (/^#(.*&)?state=/.test(location.hash)) {
    const fragment = location.hash.slice(1);
    history.replaceState(null, "", location.pathname + location.search);
    signInProblem = (await finishIssuerSignIn(fragment)) || "";
  }
  loadIssuers();
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("app-sign-in-form").addEventListener("submit", appSignIn);
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
    }, TYPING_PAUSE_MS);
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
  $("export-button").addEventListener("click", exportCurrent);
  $("import-button").addEventListener("click", () => {
    $("import-file").value = "";
    $("import-rows").replaceChildren();
    $("import-summary").textContent = "";
    $("import-progress").hidden = true;
    $("import-run").disabled = true;
    $("import-defaults").hidden = true;
    state.importing = null;
    show("import-panel", true);
  });
  $("import-close").addEventListener("click", () => show("import-panel", false));
  $("import-file").addEventListener("change", chooseImportFile);
  for (const id of ["import-action", "import-severity"]) $(id).addEventListener("change", chooseImportFile);
  $("import-run").addEventListener("click", runImport);
  $("filter-creator").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.skip = 0;
      loadList();
    }, TYPING_PAUSE_MS);
  });
  $("select-page").addEventListener("change", selectPage);
  $("delete-selected").addEventListener("click", deleteSelected);
  $("group-cancel").addEventListener("click", resetGroupForm);
  for (const id of ["filter-action", "filter-severity", "filter-group", "filter-expiry"]) {
    $(id).addEventListener("change", () => {
      state.skip = 0;
      loadList();
    });
  }
  for (const button of document.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => sortBy(button.dataset.sort));
  }
  $("add-cancel").addEventListener("click", () => show("add-panel", false));
  $("add-form").addEventListener("submit", saveAdd);
  $("tester-form").addEventListener("submit", runTester);
  $("history-close").addEventListener("click", () => show("history-panel", false));
  $("alert-status-filter").addEventListener("change", loadAlerts);
  $("alert-severity-filter").addEventListener("change", loadAlerts);
  $("alert-form").addEventListener("submit", saveAlert);
  $("group-form").addEventListener("submit", addGroup);
  $("webhook-form").addEventListener("submit", addWebhook);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved && !signInProblem) signIn(saved);
  else signOut(signInProblem);
}

start();
