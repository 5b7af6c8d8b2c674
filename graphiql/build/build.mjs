// Builds the GraphiQL assets that fhirgate embeds into ../dist.
//
// Run through `go generate ./graphiql`, which installs the pinned packages
// with `npm ci` first. Outputs:
//
//   graphiql.js         the page: React, GraphiQL, the explorer plugin, Monaco
//   graphiql.css        every stylesheet those import; fonts inlined as data: URLs
//   editor.worker.js    Monaco's base editor worker
//   json.worker.js      Monaco's JSON language worker (variables, headers, response)
//   graphql.worker.js   monaco-graphql's language worker (completion, validation)
//   THIRD_PARTY_LICENSES.txt  licence texts of every package in the bundles
//
// The output is deterministic: no timestamps, no source maps, no absolute
// paths, and the licence file is sorted, so rebuilding from the same
// package-lock.json yields identical bytes.

import * as esbuild from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');

const outputs = [
  'graphiql.js',
  'graphiql.css',
  'editor.worker.js',
  'json.worker.js',
  'graphql.worker.js',
  'THIRD_PARTY_LICENSES.txt',
];

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  charset: 'utf8',
  legalComments: 'none', // collected into THIRD_PARTY_LICENSES.txt instead
  sourcemap: false,
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  outdir: dist,
};

mkdirSync(dist, { recursive: true });
for (const name of outputs) {
  rmSync(join(dist, name), { force: true });
}

// graphiql/style.css already carries Monaco's complete stylesheet (the
// min/vs/editor/editor.main.css of the same Monaco release) for CDN users.
// Monaco's ESM modules also import their own .css files, so bundling both
// would ship every Monaco rule and the codicon font twice. Drop the ESM
// imports, after checking that the copy in graphiql is of the same release.
const monacoVersion = JSON.parse(readFileSync(join(here, 'node_modules/monaco-editor/package.json'), 'utf8')).version;
const graphiqlStyle = readFileSync(join(here, 'node_modules/graphiql/dist/style.css'), 'utf8');
if (!graphiqlStyle.includes(`Version: ${monacoVersion}(`)) {
  throw new Error(`graphiql/style.css does not embed the CSS of monaco-editor ${monacoVersion}; revisit dropMonacoCSS`);
}
const dropMonacoCSS = {
  name: 'drop-monaco-css',
  setup(build) {
    build.onResolve({ filter: /\.css$/ }, (args) =>
      args.importer.includes('/node_modules/monaco-editor/esm/') ? { path: args.path, namespace: 'monaco-css' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'monaco-css' }, () => ({ contents: '', loader: 'css' }));
  },
};

const page = await esbuild.build({
  ...common,
  entryPoints: { graphiql: 'main.jsx' },
  jsx: 'automatic',
  plugins: [dropMonacoCSS],
  loader: { '.ttf': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl', '.svg': 'dataurl' },
});

const workers = await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
});

const produced = new Set(
  [page, workers].flatMap((r) => Object.keys(r.metafile.outputs)).map((p) => relative(dist, join(here, p))),
);
for (const name of outputs.filter((n) => n.endsWith('.js') || n.endsWith('.css'))) {
  if (!produced.has(name)) {
    throw new Error(`esbuild did not produce ${name}; got ${[...produced].join(', ')}`);
  }
}
for (const name of produced) {
  if (!outputs.includes(name)) {
    throw new Error(`esbuild produced unexpected file ${name}; add it to outputs and to the Go handler`);
  }
}

// Licences: every npm package that contributed at least one input file.
const packages = new Map();
for (const result of [page, workers]) {
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) {
      packages.set(m[1], true);
    }
  }
}

function licenceText(dir) {
  const files = readdirSync(join(here, dir))
    .filter((f) => /^(licen[cs]e|copying|notice)([.\-_].*)?$/i.test(f))
    .sort();
  return files.map((f) => readFileSync(join(here, dir, f), 'utf8').trim()).join('\n\n');
}

function repoKey(pkg) {
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url || '';
  return url.toLowerCase().replace(/^git\+/, '').replace(/\.git$/, '').replace(/^https?:\/\/github\.com\//, '');
}

// Packages that ship no licence file but come from a repository whose licence
// another bundled package does ship. Monorepo siblings are found by their
// repository URL; this map covers the rest.
const licenceFrom = { 'react-compiler-runtime': 'react' };

const MIT = `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`;

const all = [...packages.keys()].map((dir) => {
  const pkg = JSON.parse(readFileSync(join(here, dir, 'package.json'), 'utf8'));
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  return { dir, name: pkg.name, version: pkg.version, license: pkg.license, author, repo: repoKey(pkg), text: licenceText(dir), note: '' };
});
for (const e of all.filter((e) => !e.text)) {
  const donor = all.find((d) => d.text && (d.name === licenceFrom[e.name] || (e.repo && d.repo === e.repo)));
  if (donor) {
    e.text = donor.text;
    e.note = `(no licence file in the package; this is the licence of ${donor.name}, from the same repository)\n\n`;
  } else if (e.license === 'MIT') {
    e.text = `MIT License\n\nCopyright (c) ${e.author || e.name + ' authors'}\n\n${MIT}`;
    e.note = '(no licence file in the package; its package.json declares MIT: standard MIT text)\n\n';
  } else {
    throw new Error(`${e.name}@${e.version} has no licence file and declares ${e.license}; add its licence by hand`);
  }
}
// One entry per name@version (nested copies of the same release are one).
const entries = [...new Map(all.map((e) => [e.name + '@' + e.version, e])).values()];
entries.sort((a, b) => (a.name + '@' + a.version).localeCompare(b.name + '@' + b.version));

let notice =
  'Third-party software bundled in graphiql.js, graphiql.css and the *.worker.js files.\n' +
  'Generated by graphiql/build/build.mjs from the packages esbuild read; do not edit.\n\n';
for (const e of entries) {
  notice += `${e.name}@${e.version} (${e.license})\n`;
}
for (const e of entries) {
  notice += `\n${'='.repeat(78)}\n${e.name}@${e.version}\nLicense: ${e.license}\n${'='.repeat(78)}\n\n${e.note}${e.text}\n`;
}
writeFileSync(join(dist, 'THIRD_PARTY_LICENSES.txt'), notice);

// Guard the no-CDN promise: nothing in the output may load code, styles,
// fonts or workers from another origin, and no path of this machine may leak.
const cdnHosts = /https?:\/\/(esm\.sh|unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|fonts\.googleapis\.com|fonts\.gstatic\.com|ga\.jspm\.io|cdn\.skypack\.dev)/;
const problems = [];
const hosts = new Map();
for (const name of outputs.filter((n) => n !== 'THIRD_PARTY_LICENSES.txt')) {
  const text = readFileSync(join(dist, name), 'utf8');
  const cdn = text.match(cdnHosts);
  if (cdn) {
    problems.push(`${name}: references CDN ${cdn[0]}`);
  }
  if (name.endsWith('.css')) {
    const remote = text.match(/(url\(\s*['"]?|@import\s+['"]?)(https?:)?\/\/[^)'"\s]*/);
    if (remote) {
      problems.push(`${name}: loads a remote resource ${remote[0]}`);
    }
  }
  if (/importScripts\(\s*["'`]https?:/.test(text)) {
    problems.push(`${name}: imports a remote worker script`);
  }
  for (const p of [here, dirname(here), process.env.HOME].filter(Boolean)) {
    if (text.includes(p)) {
      problems.push(`${name}: contains the absolute path ${p}`);
    }
  }
  for (const m of text.matchAll(/https?:\/\/([a-z0-9.-]+)/gi)) {
    hosts.set(m[1], (hosts.get(m[1]) || 0) + 1);
  }
}
if (problems.length > 0) {
  throw new Error('bundle check failed:\n  ' + problems.join('\n  '));
}

for (const name of outputs) {
  const size = readFileSync(join(dist, name)).length;
  console.log(`${name.padEnd(26)} ${String(size).padStart(9)} bytes`);
}
console.log(`${entries.length} packages bundled; licences in THIRD_PARTY_LICENSES.txt`);
console.log(
  'URL hosts left in the bundle (links in messages and docs, none loaded at run time): ' +
    [...hosts.keys()].sort().join(', '),
);
