// Drives fhirgate's GraphiQL page in headless Chromium, as an analyst would, and prints a JSON
// report of what happened for api/graphiql_browser_test.go to check.
//
//   node ide.mjs <server URL> <chromium path> <download dir> < tokens.json
//
// tokens.json: {"analyst": "...", "admin": "..."}. Every step's findings go into the report;
// the script fails only when the page cannot be driven at all.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const [base, chromium, downloads] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(0, 'utf8'));
const origin = new URL(base).origin;
const report = { steps: [] };
const step = (name) => report.steps.push(name);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads, eventsEnabled: true });

  // Every request the page and its workers make, and every GraphQL request's answer.
  const requests = [];
  const graphql = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', async (r) => {
    const req = r.request();
    if (new URL(r.url()).pathname.endsWith('/$graphql')) {
      let body = {};
      try {
        body = JSON.parse(req.postData() || '{}');
      } catch {}
      graphql.push({
        status: r.status(),
        authorization: req.headers()['authorization'] || '',
        operationName: body.operationName || '',
        introspection: (body.query || '').includes('__schema'),
        postData: req.postData() || '',
      });
    }
  });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const text = (sel) => page.$eval(sel, (el) => el.textContent);
  const waitText = (sel, re, timeout = 30000) =>
    page.waitForFunction((s, src) => {
      const el = document.querySelector(s);
      return el && new RegExp(src).test(el.textContent);
    }, { timeout }, sel, re.source);

  // Sets a Monaco editor's text as a user would: select everything, then type. Monaco closes
  // brackets and quotes as they open and types over them as they close, so single-line text
  // comes out as typed.
  async function setEditor(selector, value) {
    await page.click(`${selector} .monaco-editor`);
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await page.keyboard.sendCharacter(value);
  }
  const editorText = (selector) => page.$eval(`${selector} .monaco-editor .view-lines`, (el) => el.innerText.replace(/\u00a0/g, ' '));

  // Runs the active tab's operation and waits for its answer.
  async function run() {
    await page.click('.graphiql-execute-button');
    const deadline = Date.now() + 30000;
    while (graphql.filter((g) => !g.introspection).length <= report.runs && Date.now() < deadline) {
      await sleep(100);
    }
    report.runs++;
    await sleep(300); // the pane re-renders after the answer
  }
  report.runs = 0;

  // 1. The page loads; with no token it asks the server for nothing.
  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  await page.waitForSelector('[data-testid=fg-token]');
  await page.waitForSelector('.graphiql-query-editor .monaco-editor');
  await sleep(1000);
  report.beforeToken = { graphqlRequests: graphql.length, status: await text('[data-testid=fg-schema-status]') };
  step('loaded');

  // 2. A token: the schema loads with it, once.
  await page.type('[data-testid=fg-token]', tokens.analyst);
  await page.click('[data-testid=fg-token-use]');
  await waitText('[data-testid=fg-schema-status]', /Schema loaded/);
  report.analystSchema = {
    status: await text('[data-testid=fg-schema-status]'),
    introspections: graphql.filter((g) => g.introspection).map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.analyst })),
  };
  step('token');

  // 3. The welcome query runs, and the table shows its rows.
  await page.waitForSelector('.graphiql-query-editor .monaco-editor .view-lines');
  report.welcomeQuery = await editorText('.graphiql-query-editor');
  await run();
  await page.click('[data-testid=fg-view-table]');
  await page.waitForSelector('[data-testid=fg-table]');
  report.table = await page.$eval('[data-testid=fg-table]', (t) => ({
    columns: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
    rows: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.classList.contains('fg-null') ? null : td.textContent))),
  }));
  report.stats = await text('[data-testid=fg-stats]');
  report.errorsShown = await page.$('[data-testid=fg-errors]') !== null;
  await page.screenshot({ path: join(downloads, 'table.png') });
  step('table');

  // 4. CSV of what the table shows.
  await page.click('[data-testid=fg-csv]');
  for (let i = 0; i < 100 && !readdirSync(downloads).some((f) => f.endsWith('.csv')); i++) {
    await sleep(100);
  }
  const csv = readdirSync(downloads).find((f) => f.endsWith('.csv'));
  report.csv = csv ? { name: csv, text: readFileSync(join(downloads, csv), 'utf8') } : null;
  step('csv');

  // 5. Errors apart from the data: a query of a field that does not exist.
  await setEditor('.graphiql-query-editor', '{ PatientList(_count: 1) { id nope } }');
  await run();
  report.errorRun = {
    errors: await page.$$eval('[data-testid=fg-errors] li', (lis) => lis.map((li) => li.textContent)),
    errorCount: await text('[data-testid=fg-error-count]').catch(() => ''),
  };
  await page.screenshot({ path: join(downloads, 'errors.png') });
  step('errors');

  // 6. A token typed into the Headers editor (the admin's, over the session's analyst token)
  // is sent, and not kept either.
  const toolEditor = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';
  await page.click('[data-name="headers"]');
  await setEditor(toolEditor, `{"Authorization": "Bearer ${tokens.admin}"}`);
  await setEditor('.graphiql-query-editor', '{ PatientList(_count: 2) { id gender } }');
  await run();
  report.headersRun = graphql.filter((g) => !g.introspection).at(-1).authorization === 'Bearer ' + tokens.admin;
  await setEditor(toolEditor, '');
  step('headers');

  // 7. Nothing at rest holds a token; the tab's session does.
  report.storage = await page.evaluate(() => ({
    local: Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
    session: Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage.getItem(k)])),
  }));
  step('storage');

  // 8. Another token: the schema loads again, with it.
  const introspectionsBefore = graphql.filter((g) => g.introspection).length;
  await page.$eval('[data-testid=fg-token]', (el) => (el.value = ''));
  await page.click('[data-testid=fg-token]', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.type('[data-testid=fg-token]', tokens.admin);
  await page.click('[data-testid=fg-token-use]');
  for (let i = 0; i < 300 && graphql.filter((g) => g.introspection).length === introspectionsBefore; i++) {
    await sleep(100);
  }
  await waitText('[data-testid=fg-schema-status]', /Schema loaded/);
  report.adminSchema = graphql.filter((g) => g.introspection).slice(introspectionsBefore).map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.admin }));
  step('token change');

  // 9. A resource in the Variables editor: no type error, and its decimal stored as typed.
  await page.click('[data-testid=fg-view-json]');
  await setEditor('.graphiql-query-editor', 'mutation ($res: ObservationInput!) { ObservationUpdate(id: "ide1", res: $res) { id valueQuantity { value } } }');
  await page.click('[data-name="variables"]');
  await setEditor(toolEditor, '{"res": {"resourceType": "Observation", "id": "ide1", "status": "final", "code": {"text": "weight"}, "valueQuantity": {"value": 1.50, "unit": "kg"}}}');
  await sleep(2500); // the JSON worker validates the variables
  report.variableMarkers = await page.$$eval(`${toolEditor} .squiggly-error, ${toolEditor} .squiggly-warning`, (els) => els.length);
  report.variablesText = await editorText(toolEditor);
  await run();
  report.mutationRequest = graphql.filter((g) => !g.introspection).at(-1).postData;
  report.mutationResponse = await editorText('.graphiql-response .result-window');
  step('decimal');

  // 10. A reload keeps the session's token: the schema loads with it, and still no 401.
  const before = graphql.length;
  await page.reload({ waitUntil: 'networkidle0' });
  await waitText('[data-testid=fg-schema-status]', /Schema loaded/);
  report.afterReload = graphql.slice(before).map((g) => ({ status: g.status, token: g.authorization === 'Bearer ' + tokens.admin, introspection: g.introspection }));
  step('reload');

  // 11. Every example opens and runs with the analyst's token.
  await page.click('[data-testid=fg-token]', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.type('[data-testid=fg-token]', tokens.analyst);
  await page.click('[data-testid=fg-token-use]');
  await sleep(500);
  await waitText('[data-testid=fg-schema-status]', /Schema loaded/);
  await page.click('[data-testid=fg-view-table]');
  await page.click('button[aria-label="Show Examples"]').catch(async () => {
    const buttons = await page.$$('.graphiql-sidebar button');
    for (const b of buttons) {
      const label = await b.evaluate((el) => el.getAttribute('aria-label') || '');
      if (/Examples/.test(label)) {
        await b.click();
      }
    }
  });
  await page.waitForSelector('[data-testid^=fg-example-]');
  const ids = await page.$$eval('[data-testid^=fg-example-]', (els) => els.map((e) => e.dataset.testid.slice('fg-example-'.length)));
  report.examples = {};
  for (const id of ids) {
    await page.click(`[data-testid=fg-example-${id}]`);
    await sleep(300);
    await run();
    report.examples[id] = {
      errors: await page.$$eval('[data-testid=fg-errors] li', (lis) => lis.map((li) => li.textContent)),
      rows: Number(await text('[data-testid=fg-row-count]').catch(() => '-1')),
      columns: await page.$$eval('[data-testid=fg-table] thead th', (ths) => ths.map((th) => th.textContent)).catch(() => []),
    };
  }
  step('examples');
  await page.screenshot({ path: join(downloads, 'ide.png') });

  report.requests = requests;
  report.external = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
  report.graphql = graphql.map(({ postData, ...g }) => g);
  report.pageErrors = consoleErrors;
} catch (err) {
  report.failure = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
