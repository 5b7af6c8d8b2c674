// Drives fhirgate's GraphiQL page in headless Chromium, as an analyst would, and prints a JSON
// report of what happened for api/graphiql_browser_test.go to check.
//
//   node ide.mjs <server URL> <chromium path> <download dir> < tokens.json
//
// tokens.json: {"analyst": "...", "admin": "..."}. Every step's findings go into the report;
// the script fails (report.failure) when the page cannot be driven, or when a run sends other
// than what its editors show (another query, an example's variables lost).

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const [base, chromium, downloads] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(0, 'utf8'));
const origin = new URL(base).origin;
const report = { steps: [] };
const step = (name) => report.steps.push(name);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The saved examples, to know what each one's request must hold.
const examples = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'graphiql', 'examples.json'), 'utf8'));

// Every step waits for what it needs to see (an editor showing what was typed, the request the
// page sent, the answer on screen), never for a fixed time: on a loaded machine the page's
// asynchronous work (Monaco's rendering and workers, GraphiQL's debounced editor state, React's
// renders) takes as long as it takes.
const TIMEOUT = 60000;

// until polls cond in this process until it holds, and fails naming what was awaited.
async function until(what, cond, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(50);
  }
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: [
    '--no-sandbox', // tests run as root in CI containers
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    // Any host but the test server's fails to resolve: a request elsewhere cannot succeed,
    // and is recorded below all the same.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});

// The schema status line's texts, in order (see schemaLoaded).
const statuses = [];
let page;

try {
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });

  // Every localStorage write, from the first script of every page load on: the report checks
  // them all for tokens, not only what is left at the end.
  const localWrites = [];
  await page.exposeFunction('__fgLocalWrite', (w) => localWrites.push(w));
  await page.evaluateOnNewDocument(() => {
    const set = Storage.prototype.setItem;
    Storage.prototype.setItem = function (k, v) {
      if (this === window.localStorage) {
        window.__fgLocalWrite(`${k}=${v}`);
      }
      return set.call(this, k, v);
    };
  });

  // Every request the page and its workers make, and every GraphQL request as it is sent, with
  // its answer's status once that is in.
  const requests = [];
  const graphql = [];
  page.on('request', (req) => {
    requests.push(req.url());
    if (new URL(req.url()).pathname.endsWith('/$graphql') && req.method() === 'POST') {
      let body = {};
      try {
        body = JSON.parse(req.postData() || '{}');
      } catch {}
      graphql.push({
        req,
        status: 0,
        done: false,
        authorization: req.headers()['authorization'] || '',
        operationName: body.operationName || '',
        query: body.query || '',
        introspection: (body.query || '').includes('__schema'),
        postData: req.postData() || '',
      });
    }
  });
  const settle = (req) => {
    const g = graphql.find((x) => x.req === req);
    if (g) {
      g.status = req.response() ? req.response().status() : -1;
      g.done = true;
    }
  };
  page.on('requestfinished', settle);
  page.on('requestfailed', settle);
  const answered = () => graphql.filter((g) => g.done);
  const runs = () => graphql.filter((g) => !g.introspection);
  const introspections = () => answered().filter((g) => g.introspection);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const text = (sel) => page.$eval(sel, (el) => el.textContent);
  const waitPage = async (what, fn, ...args) => {
    try {
      return await page.waitForFunction(fn, { timeout: TIMEOUT, polling: 50 }, ...args);
    } catch (err) {
      throw new Error(`waiting for ${what}: ${err.message}`);
    }
  };

  // The schema status line, every text it has shown (kept across reloads in this list): a
  // token's schema has loaded when "Schema loaded" follows the "Loading" its change brought.
  await page.exposeFunction('__fgStatus', (t) => statuses.push(t));
  await page.evaluateOnNewDocument(() => {
    // GraphiQL remounts with a new schema, the status line with it: watch the whole document.
    let seen = null;
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid=fg-schema-status]');
      if (el && el.textContent !== seen) {
        seen = el.textContent;
        window.__fgStatus(seen);
      }
    }).observe(document, { childList: true, characterData: true, subtree: true });
  });
  async function schemaLoaded(from) {
    await until('the schema to load', () => {
      const next = statuses.slice(from);
      const loading = next.findIndex((t) => /Loading/.test(t));
      return loading >= 0 && next.slice(loading).some((t) => /Schema loaded/.test(t));
    });
    // GraphiQL remounts for a schema with other scalars: its editors are back once they show.
    await page.waitForSelector(editor('query'), { visible: true, timeout: TIMEOUT });
    await page.waitForSelector(editor('variables'), { timeout: TIMEOUT });
  }

  // The editors, by the model each one edits (the Variables and Headers editors share a pane).
  const MODELS = { query: 'operation.graphql', variables: 'variables.json', headers: 'request-headers.json', response: 'response.json' };
  const editor = (name) => `.monaco-editor[data-uri$="${MODELS[name]}"]`;
  const editorText = (name) => page.$eval(`${editor(name)} .view-lines`, (el) => el.innerText.replace(/\u00a0/g, ' '));
  const squiggles = (name) => page.$$eval(`${editor(name)} .squiggly-error, ${editor(name)} .squiggly-warning`, (els) => els.length);

  // Shows the Variables or Headers editor, as its tab does.
  async function showTool(name) {
    await page.click(`.graphiql-editor-tools [data-name="${name}"]`);
    await page.waitForSelector(editor(name), { visible: true, timeout: TIMEOUT });
  }

  // Clicks into an editor until it has the focus: a click can land elsewhere while the page
  // lays itself out again (a pane opening, GraphiQL remounting, a widget over the editor).
  async function focus(name) {
    const sel = editor(name);
    for (let attempt = 1; ; attempt++) {
      await page.click(sel);
      const focused = await page
        .waitForFunction((s) => document.querySelector(s).contains(document.activeElement), { timeout: 5000, polling: 50 }, sel)
        .then(() => true, () => false);
      if (focused) {
        return;
      }
      const active = await page.evaluate(() => document.activeElement && document.activeElement.outerHTML.slice(0, 160));
      (report.refocused ||= []).push(`${name}: ${active}`);
      if (attempt === 5) {
        throw new Error(`the ${name} editor did not take the focus: ${active}`);
      }
    }
  }

  // Sets an editor's text as a user would: select everything, delete, type. Monaco closes
  // brackets and quotes as they open and types over them as they close, so single-line text
  // comes out as typed. It returns once the editor shows the text (its model has it, then).
  async function setEditor(name, value) {
    const sel = editor(name);
    await focus(name);
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    if (value) {
      await page.keyboard.sendCharacter(value);
    }
    await waitPage(
      `the ${name} editor to show ${JSON.stringify(value)}`,
      (s, want) => document.querySelector(`${s} .view-lines`).innerText.replace(/\u00a0/g, ' ').trim() === want,
      sel,
      value,
    );
  }

  // GraphiQL takes the operation's name from the query editor 100 ms after it changes; the
  // active tab's title shows it once it has.
  async function operationSettled(query) {
    const m = query.replace(/#.*$/gm, '').match(/^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/m);
    const title = m ? m[1] : '<untitled>';
    await waitPage(`the tab to be titled ${title}`, (t) => {
      const b = document.querySelector('.graphiql-tab-active .graphiql-tab-button');
      return b && b.textContent === t;
    }, title);
  }

  // Runs the active tab's operation and waits until its answer shows: the request sent (the
  // query in the editor, checked), answered, GraphiQL done with it, and the results pane on it.
  async function run(query) {
    await operationSettled(query);
    const sent = runs().length;
    const shown = Number(await page.$eval('[data-testid=fg-results]', (el) => el.dataset.result));
    await page.click('.graphiql-execute-button[aria-label^="Execute"]');
    const g = await until('the request to be answered', () => runs().length > sent && runs()[sent].done && runs()[sent]);
    if (runs().length > sent + 1) {
      throw new Error(`one run sent ${runs().length - sent} requests`);
    }
    if (g.query !== query) {
      throw new Error(`the page sent ${JSON.stringify(g.query)}, not the query in the editor ${JSON.stringify(query)}`);
    }
    await waitPage('the answer to show', (n) => {
      const pane = document.querySelector('[data-testid=fg-results]');
      return pane && Number(pane.dataset.result) > n && document.querySelector('.graphiql-execute-button[aria-label^="Execute"]');
    }, shown);
    return g;
  }

  async function view(name) {
    await page.click(`[data-testid=fg-view-${name}]`);
    await page.waitForSelector(`[data-testid=fg-view-${name}][aria-selected=true]`, { timeout: TIMEOUT });
  }

  // Empties the Token field as a user would.
  async function clearToken() {
    await page.click('[data-testid=fg-token]');
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await waitPage('the token field to empty', () => document.querySelector('[data-testid=fg-token]').value === '');
  }

  const readTable = () =>
    page.$eval('[data-testid=fg-table]', (t) => ({
      columns: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
      rows: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.classList.contains('fg-null') ? null : td.textContent))),
    }));

  // 1. The page loads; with no token it asks the server for nothing.
  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  await page.waitForSelector('[data-testid=fg-token]');
  await page.waitForSelector(editor('query'), { visible: true });
  await waitPage('the page to ask for a token', () => /Enter a token/.test(document.querySelector('[data-testid=fg-schema-status]').textContent));
  report.beforeToken = { graphqlRequests: graphql.length, status: await text('[data-testid=fg-schema-status]') };
  step('loaded');

  // 2. A token: the schema loads with it, once.
  let from = statuses.length;
  await page.type('[data-testid=fg-token]', tokens.analyst);
  await page.click('[data-testid=fg-token-use]');
  await schemaLoaded(from);
  report.analystSchema = {
    status: await text('[data-testid=fg-schema-status]'),
    introspections: introspections().map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.analyst })),
  };
  step('token');

  // 3. The welcome query runs, and the table shows its rows.
  const welcome = examples.find((e) => e.id === 'welcome').query;
  await waitPage('the welcome query', () => /PatientList/.test(document.querySelector('.monaco-editor[data-uri$="operation.graphql"] .view-lines').innerText));
  report.welcomeQuery = await editorText('query');
  await run(welcome);
  await view('table');
  await page.waitForSelector('[data-testid=fg-table]', { timeout: TIMEOUT });
  report.table = await readTable();
  report.stats = await text('[data-testid=fg-stats]');
  report.errorsShown = (await page.$('[data-testid=fg-errors]')) !== null;
  await page.screenshot({ path: join(downloads, 'table.png') });
  step('table');

  // 4. CSV of what the table shows: Chromium names the file once it is complete.
  await page.click('[data-testid=fg-csv]');
  const csv = await until('the CSV download', () => readdirSync(downloads).find((f) => f.endsWith('.csv'))).catch(() => null);
  report.csv = csv ? { name: csv, text: readFileSync(join(downloads, csv), 'utf8') } : null;
  step('csv');

  // 5. Errors apart from the data: a query of a field that does not exist.
  const nope = '{ PatientList(_count: 1) { id nope } }';
  await setEditor('query', nope);
  await run(nope);
  await page.waitForSelector('[data-testid=fg-errors] li', { timeout: TIMEOUT }).catch(() => {});
  report.errorRun = {
    errors: await page.$$eval('[data-testid=fg-errors] li', (lis) => lis.map((li) => li.textContent)),
    errorCount: await text('[data-testid=fg-error-count]').catch(() => ''),
  };
  await page.screenshot({ path: join(downloads, 'errors.png') });
  step('errors');

  // 6. A token typed into the Headers editor (the admin's, over the session's analyst token)
  // is sent, and not kept either.
  await showTool('headers');
  await setEditor('headers', `{"Authorization": "Bearer ${tokens.admin}"}`);
  const two = '{ PatientList(_count: 2) { id gender } }';
  await setEditor('query', two);
  report.headersRun = (await run(two)).authorization === 'Bearer ' + tokens.admin;
  await setEditor('headers', '');
  step('headers');

  // 7. Nothing at rest holds a token; the tab's session does. GraphiQL saves its tabs 500 ms
  // after a change: wait for the saved tab to hold the last query run.
  await waitPage('GraphiQL to save its tabs', (q) => {
    try {
      const s = JSON.parse(localStorage.getItem('graphiql:tabState'));
      return s.tabs[s.activeTabIndex].query === q;
    } catch {
      return false;
    }
  }, two);
  report.storage = await page.evaluate(() => ({
    local: Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
    session: Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)])),
  }));
  step('storage');

  // 8. Another token: the schema loads again, with it.
  const introspectionsBefore = introspections().length;
  from = statuses.length;
  await clearToken();
  await page.type('[data-testid=fg-token]', tokens.admin);
  await page.click('[data-testid=fg-token-use]');
  await schemaLoaded(from);
  report.adminSchema = introspections().slice(introspectionsBefore).map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.admin }));
  step('token change');

  // 9. A resource in the Variables editor: no type error, and its decimal stored as typed.
  // First a variable of the wrong type, whose marker shows the JSON worker validating against
  // the scalars' schemas and how long it takes here; then the resource, watched for twice that.
  await view('json');
  const mutation = 'mutation ($res: ObservationInput!) { ObservationUpdate(id: "ide1", res: $res) { id valueQuantity { value } } }';
  await setEditor('query', mutation);
  await showTool('variables');
  const started = Date.now();
  await setEditor('variables', '{"res": 1}');
  await until('a marker on a number given for a resource', async () => (await squiggles('variables')) > 0);
  const validation = Date.now() - started;
  await setEditor('variables', '{"res": {"resourceType": "Observation", "id": "ide1", "status": "final", "code": {"text": "weight"}, "valueQuantity": {"value": 1.50, "unit": "kg"}}}');
  await until('the marker to go', async () => (await squiggles('variables')) === 0).catch(() => {});
  await sleep(Math.max(1000, 2 * validation));
  report.variableMarkers = await squiggles('variables');
  report.variablesText = await editorText('variables');
  report.mutationRequest = (await run(mutation)).postData;
  await waitPage('the response editor to show the update', () =>
    /ObservationUpdate/.test(document.querySelector('.monaco-editor[data-uri$="response.json"] .view-lines').innerText),
  );
  report.mutationResponse = await editorText('response');
  step('decimal');

  // 10. A reload keeps the session's token: the schema loads with it, and still no 401.
  const before = graphql.length;
  from = statuses.length;
  await page.reload({ waitUntil: 'networkidle0' });
  await schemaLoaded(from);
  report.afterReload = answered()
    .filter((g) => graphql.indexOf(g) >= before)
    .map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.admin, introspection: g.introspection }));
  step('reload');

  // 11. Every example opens and runs with the analyst's token.
  from = statuses.length;
  await clearToken();
  await page.type('[data-testid=fg-token]', tokens.analyst);
  await page.click('[data-testid=fg-token-use]');
  await schemaLoaded(from);
  await view('table');
  if (!(await page.$('[data-testid^=fg-example-]'))) {
    await page.click('.graphiql-sidebar button[aria-label="Show Examples"]');
  }
  await page.waitForSelector('[data-testid^=fg-example-]', { visible: true, timeout: TIMEOUT });
  const ids = await page.$$eval('[data-testid^=fg-example-]', (els) => els.map((e) => e.dataset.testid.slice('fg-example-'.length)));
  report.examples = {};
  for (const id of ids) {
    const ex = examples.find((e) => e.id === id);
    if (!ex) {
      throw new Error(`the page shows example ${id}, not in examples.json`);
    }
    const tabs = await page.$$eval('.graphiql-tab', (els) => els.length);
    await page.click(`[data-testid=fg-example-${id}]`);
    await waitPage(`example ${id} in a new tab`, (n) => document.querySelectorAll('.graphiql-tab').length > n, tabs);
    const g = await run(ex.query);
    const vars = g.postData ? JSON.parse(g.postData).variables : undefined;
    if (JSON.stringify(vars ?? null) !== JSON.stringify(ex.variables ? JSON.parse(ex.variables) : null)) {
      throw new Error(`example ${id} was sent with variables ${JSON.stringify(vars)}`);
    }
    report.examples[id] = {
      errors: await page.$$eval('[data-testid=fg-errors] li', (lis) => lis.map((li) => li.textContent)),
      rows: Number(await text('[data-testid=fg-row-count]').catch(() => '-1')),
      columns: await page.$$eval('[data-testid=fg-table] thead th', (ths) => ths.map((th) => th.textContent)).catch(() => []),
    };
  }
  step('examples');
  await page.screenshot({ path: join(downloads, 'ide.png') });

  report.localWrites = localWrites;
  report.requests = requests;
  report.external = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  report.graphql = answered().map(({ status, introspection, authorization }) => ({ status, introspection, authorization }));
  report.pageErrors = consoleErrors;
} catch (err) {
  report.failure = String(err && err.stack ? err.stack : err);
  report.statuses = statuses;
  // What the page showed when it could not be driven, for FHIRGATE_BROWSER_REPORT.
  await page?.screenshot({ path: join(downloads, 'failure.png') }).catch(() => {});
  report.editors = await page
    ?.$$eval('.monaco-editor', (els) => els.map((e) => `${e.dataset.uri} ${e.getBoundingClientRect().height} focus=${e.contains(document.activeElement)}`))
    .catch(() => []);
  report.activeElement = await page?.evaluate(() => document.activeElement && document.activeElement.outerHTML.slice(0, 200)).catch(() => '');
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
