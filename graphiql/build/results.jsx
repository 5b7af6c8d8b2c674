// The results pane under GraphiQL's response: the answer as JSON (GraphiQL's own editor) or
// as a table, with its row count, size and time, the errors apart from the data, and a CSV
// download of the table shown.

import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { cellText } from './exact.js';
import { tablesOf, toCSV } from './table.js';

// The last answer GraphiQL ran, as the fetcher recorded it, numbered: the pane shows the
// number (data-result), so a script driving the page knows which answer it is looking at.
let last = null;
let answers = 0;
const listeners = new Set();

export function recordResult(r) {
  answers++;
  last = { ...r, at: Date.now(), seq: answers };
  listeners.forEach((l) => l());
}

function useLastResult() {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => last,
  );
}

// The view (json or table) is a preference, not a secret: it is kept across sessions.
const VIEW_KEY = 'fhirgate:results-view';
const SHOWN_ROWS = 2000; // rows rendered; the CSV holds them all

function size(bytes) {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KB`;
  }
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function ResultsPane() {
  const res = useLastResult();
  const [view, setView] = useState(() => localStorage.getItem(VIEW_KEY) || 'json');
  const [picked, setPicked] = useState(0);
  useEffect(() => {
    localStorage.setItem(VIEW_KEY, view);
    document.body.classList.toggle('fg-table-view', view === 'table');
  }, [view]);
  const tables = useMemo(() => (res && res.result ? tablesOf(res.result.data) : []), [res]);
  useEffect(() => setPicked(0), [res]);
  const table = tables[Math.min(picked, tables.length - 1)];
  const errors = (res && res.result && Array.isArray(res.result.errors) && res.result.errors) || [];

  const download = () => {
    const blob = new Blob([toCSV(table)], { type: 'text/csv;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${table.name || 'result'}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  };

  return (
    <div className="fg-results" data-testid="fg-results" data-result={res ? res.seq : 0}>
      <div className="fg-results-bar" role="toolbar" aria-label="Results">
        <div className="fg-switch" role="tablist">
          <button type="button" role="tab" aria-selected={view === 'json'} data-testid="fg-view-json" onClick={() => setView('json')}>
            JSON
          </button>
          <button type="button" role="tab" aria-selected={view === 'table'} data-testid="fg-view-table" onClick={() => setView('table')}>
            Table
          </button>
        </div>
        {tables.length > 1 && (
          <select aria-label="Field shown" value={picked} onChange={(e) => setPicked(Number(e.target.value))} data-testid="fg-field">
            {tables.map((t, i) => (
              <option key={t.name} value={i}>
                {t.name}
              </option>
            ))}
          </select>
        )}
        {res && (
          <span className="fg-stats" data-testid="fg-stats">
            <span data-testid="fg-row-count">{table ? table.rows.length : 0}</span> rows · {size(res.bytes)} · {Math.round(res.ms)} ms
            {res.status && res.status !== 200 ? ` · HTTP ${res.status}` : ''}
          </span>
        )}
        {errors.length > 0 && (
          <span className="fg-error-count" data-testid="fg-error-count">
            {errors.length} {errors.length === 1 ? 'error' : 'errors'}
          </span>
        )}
        <button type="button" className="fg-csv" data-testid="fg-csv" disabled={!table || table.columns.length === 0} onClick={download}>
          Download CSV
        </button>
      </div>
      {view === 'table' && (
        <div className="fg-table-pane">
          {errors.length > 0 && <Errors errors={errors} />}
          {table ? <Table table={table} /> : <p className="fg-empty">{res ? 'The answer has no data.' : 'Run a query to see its rows here.'}</p>}
        </div>
      )}
    </div>
  );
}

function Errors({ errors }) {
  return (
    <ul className="fg-errors" data-testid="fg-errors" aria-label="Errors">
      {errors.map((e, i) => (
        <li key={i}>
          {e.extensions && e.extensions.code && <code className="fg-error-code">{e.extensions.code}</code>}
          {e.path && <code className="fg-error-path">{e.path.join('.')}</code>}
          <span>{e.message}</span>
        </li>
      ))}
    </ul>
  );
}

function Table({ table }) {
  const shown = table.rows.slice(0, SHOWN_ROWS);
  return (
    <div className="fg-table-scroll">
      <table className="fg-table" data-testid="fg-table">
        <thead>
          <tr>
            {table.columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((r, i) => (
            <tr key={i}>
              {r.map((v, j) => (
                <td key={j} className={v === null || v === undefined ? 'fg-null' : undefined}>
                  {cellText(v)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {table.rows.length > shown.length && (
        <p className="fg-more">
          The first {shown.length} of {table.rows.length} rows are shown; Download CSV has them all.
        </p>
      )}
    </div>
  );
}
