// Browser test of the iocd console: Debian's chromium, driven by playwright-core, against a
// real `iocd serve` (IOCD_BIN). Signs in through /#token=, adds an indicator of each type
// through the form, sees a validation error at its field, searches, filters, deletes one and
// several, imports MDE CSV and STIX, edits a device group, uses the tester, checks that a
// read-only token sees no write controls, signs in as an application and as a user of a real
// OpenID Connect issuer (oidc-provider), and that the page logs no errors.
// Screenshots go to IOCD_SCREENSHOTS (or a temporary folder), which the test prints.
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONSOLE_CLIENT_ID, RESOURCE, listen as listenIssuer } from "./oidc-issuer.mjs";

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const iocd = process.env.IOCD_BIN;
check(iocd, "set IOCD_BIN to the iocd binary");
const work = mkdtempSync(join(tmpdir(), "iocd-console-"));
const dataDir = join(work, "data");
const shots = process.env.IOCD_SCREENSHOTS || join(work, "screenshots");
mkdirSync(shots, { recursive: true });
console.log(`screenshots: ${shots}`);

// An OpenID Connect issuer whose users may sign in to the console.
const issuer = await listenIssuer();
const configFile = join(work, "iocd.toml");
writeFileSync(
  configFile,
  `[[auth.oidc]]\nissuer = "${issuer.url}"\naudience = "${RESOURCE}"\nconsole_client_id = "${CONSOLE_CLIENT_ID}"\nconsole_name = "Test IdP"\nconsole_scope = "openid profile Ti.ReadWrite.All Alert.ReadWrite.All"\n`,
);
const server = spawn(iocd, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--config", configFile], {
  stdio: ["ignore", "ignore", "pipe"],
});
let browser;
let page;
try {
  const base = await new Promise((resolve, reject) => {
    let seen = "";
    server.stderr.on("data", (chunk) => {
      seen += chunk;
      const found = seen.match(/listening on (http:\/\/\S+)/);
      if (found) resolve(found[1]);
    });
    server.on("exit", (code) => reject(new Error(`iocd exited with ${code}: ${seen}`)));
    setTimeout(() => reject(new Error("iocd did not start")), 30000).unref();
  });
  issuer.configure({ redirectUri: `${base}/`, tenant: "contoso", scopes: "Ti.Read.All Ti.ReadWrite.All Alert.ReadWrite.All" });
  const token = (name, ...roles) =>
    execFileSync(iocd, ["token", "create", "--tenant", "contoso", ...roles.flatMap((r) => ["--role", r]), "--name", name, "--data-dir", dataDir])
      .toString()
      .trim();
  const admin = token("analyst", "Ti.ReadWrite.All", "Alert.ReadWrite.All", "Events.Write");
  // `iocd token create --open` prints the sign-in link.
  const link = execFileSync(iocd, ["token", "create", "--tenant", "contoso", "--role", "Ti.ReadWrite.All", "--role", "Alert.ReadWrite.All", "--role", "Events.Write", "--name", "analyst", "--data-dir", dataDir, "--open", base]).toString().trim();
  check(link.startsWith(`${base}/#token=`), `--open printed ${link}`);
  const app = JSON.parse(execFileSync(iocd, ["app", "create", "--tenant", "contoso", "--role", "Ti.Read.All", "--name", "console app", "--data-dir", dataDir]).toString());
  const reader = token("auditor", "Ti.Read.All");

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = [];
  page.on("console", (message) => {
    // The console's own messages; the issuer's login page asks for a web font it cannot get.
    if (message.type() === "error" && message.location().url.startsWith(base)) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  const urls = [];
  page.on("request", (request) => urls.push(request.url()));

  // Sign in through the fragment: it is read, kept in sessionStorage and cleared.
  await page.goto(link);
  await page.getByText("Tenant contoso").waitFor();
  const linkToken = link.slice(link.indexOf("#token=") + 7);
  check(!page.url().includes("token"), `the fragment stayed: ${page.url()}`);
  check(!urls.some((u) => u.includes(linkToken) || u.includes(admin)), "the token reached the server in a URL");
  const csp = (await page.request.get(`${base}/`)).headers()["content-security-policy"];
  check(csp && csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), `CSP: ${csp}`);

  // Add one indicator of each type through the form.
  const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const items = [
    ["File hashes", "FileSha256", sha256, "Block"],
    ["IP addresses", "IpAddress", "203.0.113.7", "Block"],
    ["URLs/Domains", "DomainName", "evil.example", "Warn"],
    ["Certificates", "CertificateThumbprint", "0123456789abcdef0123456789abcdef01234567", "Allowed"],
  ];
  for (const [tab, type, value, action] of items) {
    await page.getByRole("tab", { name: tab }).click();
    await page.getByRole("button", { name: "Add item" }).click();
    await page.locator("#add-form").getByLabel("Type", { exact: true }).selectOption(type);
    await page.locator("#add-form").getByLabel("Value", { exact: true }).fill(value);
    await page.locator("#f-action").selectOption(action);
    await page.getByLabel("Title").fill(`${type} from the console`);
    await page.locator("#add-form").getByLabel("Description").fill("added in a browser test");
    await page.getByRole("button", { name: "Save" }).click();
    await page.locator("#rows td.value", { hasText: value }).waitFor();
    await page.screenshot({ path: join(shots, `tab-${type}.png`), fullPage: true });
  }

  // Edit: a new title; the history shows the change.
  await page.getByRole("tab", { name: "IP addresses" }).click();
  await page.getByRole("button", { name: "Edit 203.0.113.7" }).click();
  await page.getByLabel("Title").fill("C2 server (edited)");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#rows td", { hasText: "C2 server (edited)" }).waitFor();
  await page.getByRole("button", { name: "History of 203.0.113.7" }).click();
  await page.locator("#history-list li", { hasText: "update" }).waitFor();
  check((await page.locator("#history-list li").count()) === 2, "history: a create and an update");
  await page.screenshot({ path: join(shots, "history.png"), fullPage: true });
  await page.getByRole("button", { name: "Close" }).click();

  // A value the API refuses: the message appears at the Value field.
  await page.getByRole("tab", { name: "URLs/Domains" }).click();
  await page.getByRole("button", { name: "Add item" }).click();
  await page.locator("#add-form").getByLabel("Type", { exact: true }).selectOption("Url");
  await page.locator("#add-form").getByLabel("Value", { exact: true }).fill("not a url at all");
  await page.getByLabel("Title").fill("bad");
  await page.locator("#add-form").getByLabel("Description").fill("bad");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#e-indicatorValue").filter({ hasText: /\S/ }).waitFor();
  await page.screenshot({ path: join(shots, "validation-error.png"), fullPage: true });
  await page.getByRole("button", { name: "Cancel" }).click();

  // Search, then delete with confirmation.
  await page.getByLabel("Search").fill("evil");
  await page.locator("#page-info", { hasText: /^1–1$/ }).waitFor();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Delete evil.example" }).click();
  await page.getByText("Nothing matches the search.").waitFor();
  await page.getByLabel("Search").fill("");

  // An alerting indicator, an event that hits it, and the alert worked in the console.
  await page.getByRole("tab", { name: "URLs/Domains" }).click();
  await page.getByRole("button", { name: "Add item" }).click();
  await page.locator("#add-form").getByLabel("Type", { exact: true }).selectOption("DomainName");
  await page.locator("#add-form").getByLabel("Value", { exact: true }).fill("alert.example");
  await page.locator("#f-action").selectOption("Audit");
  await page.getByLabel("Generate alert").check();
  await page.getByLabel("Title").fill("Watch this domain");
  await page.locator("#add-form").getByLabel("Description").fill("audit");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#rows td.value", { hasText: "alert.example" }).waitFor();
  const posted = await page.request.post(`${base}/api/events`, {
    headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/json" },
    data: [{ DeviceId: "d1", DeviceName: "pc-7", RemoteUrl: "https://alert.example/login" }],
  });
  check(posted.ok(), `events: ${posted.status()}`);
  await page.getByRole("tab", { name: "Alerts" }).click();
  await page.getByRole("button", { name: /^Open alert 1/ }).click();
  await page.locator("#alert-evidence li", { hasText: "alert.example" }).waitFor();
  await page.locator("#a-status").selectOption("InProgress");
  await page.locator("#a-classification").selectOption("TruePositive");
  await page.getByLabel("Add a comment").fill("Looking at pc-7");
  await page.getByRole("button", { name: "Save alert" }).click();
  await page.locator("#alert-comments li", { hasText: "Looking at pc-7" }).waitFor();
  await page.locator("#alert-rows td", { hasText: "InProgress" }).waitFor();
  await page.locator("#alert-status-filter").selectOption("New");
  await page.getByText("No alerts.").waitFor();
  await page.screenshot({ path: join(shots, "alerts.png"), fullPage: true });
  await page.locator("#alert-status-filter").selectOption("");

  // Import a CSV with a bad line: the preview flags it, the server reports what it refused.
  await page.getByRole("tab", { name: "IP addresses" }).click();
  await page.getByRole("button", { name: "Import" }).click();
  const csv = [
    "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert",
    "IpAddress,198.51.100.20,,Block,High,Imported one,from a file,,,,,false",
    "IpAddress,198.51.100.21,,Audit,Low,Imported two,from a file,,,,,true",
    "IpAddress,999.1.1.1,,Block,High,Bad address,from a file,,,,,false",
    "Nonsense,x,,Block,High,Bad type,from a file,,,,,false",
  ].join("\n");
  await page.setInputFiles("#import-file", { name: "indicators.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByText("4 rows; 1 with problems").waitFor();
  check(!(await page.locator("#import-action").isVisible()), "a CSV file offers defaults it does not use");
  await page.locator("#import-rows td.problem", { hasText: "unknown type Nonsense" }).waitFor();
  await page.locator("#import-run").click();
  await page.getByText("Imported: 2 created, 0 updated, 2 failed.").waitFor();
  await page.locator("#import-rows td.problem", { hasText: "IP address 999.1.1.1 is invalid" }).waitFor();
  await page.screenshot({ path: join(shots, "import.png"), fullPage: true });
  await page.getByRole("button", { name: "Close" }).click();
  await page.locator("#rows td.value", { hasText: "198.51.100.21" }).waitFor();

  // Import a STIX bundle: the server reads it, the preview lists what it holds and what it
  // cannot use; importing adds the indicators and removes the revoked one.
  await page.getByRole("tab", { name: "URLs/Domains" }).click();
  await page.locator("#rows td.value", { hasText: "alert.example" }).waitFor();
  const stixObject = (n, pattern, extra = {}) => ({
    type: "indicator", spec_version: "2.1", id: `indicator--00000000-0000-4000-8000-00000000000${n}`,
    created: "2026-01-01T00:00:00Z", modified: "2026-01-01T00:00:00Z", name: `STIX ${n}`,
    pattern, pattern_type: "stix", valid_from: "2026-01-01T00:00:00Z", ...extra,
  });
  const bundle = {
    type: "bundle", id: "bundle--00000000-0000-4000-8000-000000000000",
    objects: [
      stixObject(1, "[domain-name:value = 'stix-one.example']"),
      stixObject(2, "[url:value = 'https://stix-two.example/login']"),
      stixObject(3, "[process:name = 'evil.exe']"),
      stixObject(4, "[domain-name:value = 'alert.example']", { revoked: true }),
    ],
  };
  await page.getByRole("button", { name: "Import" }).click();
  await page.setInputFiles("#import-file", { name: "bundle.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(bundle)) });
  await page.getByText("STIX: 2 indicators, 1 to remove; 1 items cannot be imported").waitFor();
  // The defaults for items without an action apply to the preview at once.
  await page.locator("#import-action").selectOption("Audit");
  await page.locator("#import-rows tr", { hasText: "stix-two.example" }).locator("td", { hasText: /^Audit$/ }).waitFor();
  await page.locator("#import-rows td.problem", { hasText: "process" }).waitFor();
  await page.screenshot({ path: join(shots, "import-stix.png"), fullPage: true });
  await page.locator("#import-run").click();
  await page.getByText("Imported: 2 created, 0 updated, 0 failed. 1 removed.").waitFor();
  await page.getByRole("button", { name: "Close" }).click();
  await page.locator("#rows td.value", { hasText: "stix-one.example" }).waitFor();
  check((await page.locator("#rows td.value", { hasText: "alert.example" }).count()) === 0, "the revoked indicator stayed");
  check((await page.locator("#rows tr", { hasText: "stix-two.example" }).locator("td", { hasText: /^Audit$/ }).count()) === 1, "the chosen default action was not used");
  await page.getByRole("tab", { name: "IP addresses" }).click();
  await page.locator("#rows td.value", { hasText: "198.51.100.21" }).waitFor();

  // Filters and sorting, server-side.
  await page.locator("#filter-action").selectOption("Audit");
  await page.locator("#page-info", { hasText: /^1–1$/ }).waitFor();
  await page.locator("#filter-action").selectOption("");
  await page.locator("#page-info", { hasText: /^1–3$/ }).waitFor();
  await page.locator("button.sort[data-sort=indicatorValue]").click();
  await page.locator("button.sort[data-sort=indicatorValue]").click();
  await page.locator("#rows tr:first-child td.value", { hasText: "203.0.113.7" }).waitFor();
  check((await page.locator("th[aria-sort=descending]").count()) === 1, "the sorted column says so");

  // Export of the current filter.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export" }).click()]);
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  check(exported.length === 3 && exported.every((e) => e.indicatorType === "IpAddress"), `export: ${exported.length}`);

  // Bulk delete: two selected rows go together, after a confirmation.
  await page.getByRole("checkbox", { name: "Select 198.51.100.20" }).check();
  await page.getByRole("checkbox", { name: "Select 198.51.100.21" }).check();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Delete selected (2)" }).click();
  await page.locator("#page-info", { hasText: /^1–1$/ }).waitFor();
  check((await page.locator("#rows td.value", { hasText: "198.51.100" }).count()) === 0, "bulk delete left rows");

  // Device groups: add one with rules; webhooks: add one and see its secret once.
  await page.getByRole("tab", { name: "Device groups" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Kiosks");
  await page.getByLabel("Device names start with (comma-separated)").fill("kiosk-");
  await page.getByRole("button", { name: "Add group" }).click();
  await page.locator("#group-rows td", { hasText: "name starts with kiosk-" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("kiosks");
  await page.getByRole("button", { name: "Add group" }).click();
  await page.locator("#group-form-error").filter({ hasText: "exists" }).waitFor();
  // Edit a group: the form fills with it and saves a change.
  await page.getByRole("button", { name: "Edit group Kiosks" }).click();
  await page.locator("#g-description").fill("Shop-floor kiosks");
  await page.getByRole("button", { name: "Save group" }).click();
  await page.locator("#group-rows td", { hasText: "Shop-floor kiosks" }).waitFor();
  check((await page.getByRole("button", { name: "Add group" }).count()) === 1, "the form did not return to adding");
  await page.screenshot({ path: join(shots, "groups.png"), fullPage: true });

  // Filters by device group, expiry and creator.
  await page.getByRole("tab", { name: "IP addresses" }).click();
  await page.getByRole("button", { name: "Add item" }).click();
  await page.locator("#add-form").getByLabel("Value", { exact: true }).fill("192.0.2.50");
  await page.getByLabel("Title").fill("Kiosk block");
  await page.locator("#add-form").getByLabel("Description").fill("scoped and expiring");
  await page.getByLabel("Device groups (comma-separated)").fill("Kiosks");
  // A whole hour two days ahead (whole hours once lost their seconds on the way to the API).
  const soon = `${new Date(Date.now() + 2 * 86400000).toISOString().slice(0, 13)}:00`;
  await page.getByLabel("Expires (UTC)").fill(soon);
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#rows td.value", { hasText: "192.0.2.50" }).waitFor();
  await page.locator("#filter-group").selectOption("Kiosks");
  await page.locator("#page-info", { hasText: /^1–1$/ }).waitFor();
  await page.locator("#rows td.value", { hasText: "192.0.2.50" }).waitFor();
  await page.locator("#filter-group").selectOption("");
  await page.locator("#filter-expiry").selectOption("7");
  await page.locator("#page-info", { hasText: /^1–1$/ }).waitFor();
  await page.locator("#rows td.value", { hasText: "192.0.2.50" }).waitFor();
  await page.locator("#filter-expiry").selectOption("never");
  await page.locator("#rows td.value", { hasText: "203.0.113.7" }).waitFor();
  check((await page.locator("#rows td.value", { hasText: "192.0.2.50" }).count()) === 0, "never-expiring shows an expiring one");
  await page.locator("#filter-expiry").selectOption("");
  await page.getByLabel("Created by").fill("somebody else");
  await page.locator("#page-info", { hasText: /^none$/ }).waitFor();
  await page.getByLabel("Created by").fill("analyst");
  await page.locator("#page-info", { hasText: /^1–2$/ }).waitFor();
  await page.screenshot({ path: join(shots, "filters.png"), fullPage: true });
  await page.getByLabel("Created by").fill("");
  await page.getByRole("tab", { name: "Webhooks" }).click();
  await page.getByLabel("URL", { exact: true }).fill("http://127.0.0.1:9/hook");
  await page.getByRole("button", { name: "Add webhook" }).click();
  await page.locator("#webhook-secret", { hasText: "shown only now" }).waitFor();
  await page.locator("#webhook-rows td.value", { hasText: "http://127.0.0.1:9/hook" }).waitFor();
  await page.getByRole("button", { name: "Deliveries of webhook 1" }).click();
  await page.locator("#delivery-list", { hasText: /No deliveries yet|alert/ }).waitFor();
  await page.screenshot({ path: join(shots, "webhooks.png"), fullPage: true });

  // The tester: what would happen to 203.0.113.7.
  await page.getByRole("tab", { name: "Tester" }).click();
  await page.locator("#t-type").selectOption("IpAddress");
  await page.locator("#t-value").fill("203.0.113.7");
  await page.getByRole("button", { name: "Test" }).click();
  await page.locator("#verdict .action", { hasText: "Block" }).waitFor();
  await page.screenshot({ path: join(shots, "tester.png"), fullPage: true });

  // Narrow screens.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.getByRole("tab", { name: "File hashes" }).click();
  await page.locator("#rows td.value", { hasText: sha256 }).waitFor();
  await page.screenshot({ path: join(shots, "narrow.png"), fullPage: true });

  // A read-only token sees the indicators and no write controls.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").fill(reader);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByText("Ti.Read.All").waitFor();
  await page.locator("#rows td.value", { hasText: sha256 }).waitFor();
  check(!(await page.getByRole("button", { name: "Add item" }).isVisible()), "a reader sees Add item");
  check((await page.getByRole("button", { name: /^Delete/ }).count()) === 0, "a reader sees Delete");
  check((await page.getByRole("button", { name: /^Edit/ }).count()) === 0, "a reader sees Edit");
  check(!(await page.getByRole("tab", { name: "Alerts" }).isVisible()), "a token without an alert role sees Alerts");
  await page.screenshot({ path: join(shots, "read-only.png"), fullPage: true });

  // Signing in as an application, through the built-in token endpoint.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Tenant").fill("contoso");
  await page.getByLabel("Client ID").fill(app.clientId);
  await page.getByLabel("Client secret").fill("wrong secret");
  await page.getByRole("button", { name: "Get a token" }).click();
  await page.locator("#app-sign-in-error").filter({ hasText: /\S/ }).waitFor();
  await page.getByLabel("Client secret").fill(app.clientSecret);
  await page.getByRole("button", { name: "Get a token" }).click();
  await page.getByText("console app").waitFor();
  await page.locator("#rows td.value", { hasText: sha256 }).waitFor();

  // Signing in as a user of the OpenID Connect issuer: its login and consent pages, then back
  // to the console with a code in the fragment, redeemed for a token with PKCE.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
  // On failure, the issuer shows why on its error page.
  await page.locator("input[name=login]").fill("ana", { timeout: 10000 }).catch(async (error) => {
    throw new Error(`no login form at ${page.url()}: ${await page.content()}`, { cause: error });
  });
  await page.locator("input[name=password]").fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByText("Tenant contoso · ana").waitFor();
  check(!page.url().includes("code="), `the code stayed in the address: ${page.url()}`);
  await page.locator("#rows td.value", { hasText: sha256 }).waitFor();
  check(await page.getByRole("button", { name: "Add item" }).isVisible(), "the user's Ti.ReadWrite.All shows no Add item");
  await page.screenshot({ path: join(shots, "issuer-sign-in.png"), fullPage: true });
  check(!urls.some((u) => u.startsWith(base) && u.includes("code=")), "the authorisation code reached iocd in a URL");

  // The browser logged nothing but the refused value's 400, the taken name's 409 and the wrong
  // secret's 401.
  const unexpected = problems.filter((p) => !["400", "401", "409"].some((status) => p.includes(`status of ${status}`)));
  check(unexpected.length === 0, `browser console errors: ${unexpected.join(" | ")}`);
  console.log("OK");
} catch (error) {
  // What the page showed when a step failed, for the CI log and the screenshots folder.
  if (page) {
    console.log(`failed at ${page.url()}`);
    await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
  }
  throw error;
} finally {
  if (browser) await browser.close();
  server.kill("SIGKILL");
  issuer.close();
}
