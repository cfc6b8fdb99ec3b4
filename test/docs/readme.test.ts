/**
 * The README's code blocks, run, so that its example cannot rot silently:
 * - every TypeScript/JavaScript block is type-checked against the built package's declarations
 *   (dist/src/index.d.ts, what `import ... from 'bnff'` resolves to) and then run with node;
 * - every shell block's `bnff` / `npx bnff` command names an existing command, and each of its
 *   options appears in that command's `--help`; its `npm` commands name npm's own commands or
 *   scripts of package.json.
 * The same shell checks run over docs/cli.md. No document says "session".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { ROOT, fromRoot } from '../helpers/paths.js';

interface Block {
  lang: string;
  code: string;
  line: number;
}

function codeBlocks(file: string): Block[] {
  const lines = fs.readFileSync(fromRoot(file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!m || m[1] === undefined) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ lang: m[1], code: body.join('\n'), line: start + 1 });
  }
  return out;
}

const SCRIPT = new Set(['ts', 'typescript', 'js', 'javascript']);
const readmeScripts = codeBlocks('README.md').filter((b) => SCRIPT.has(b.lang));
// The examples are written to a temporary directory (not under dist/test/, where node --test
// would run them as test files), importing the built entry point by its absolute path.
const ENTRY = path.join(ROOT, 'dist/src/index.js');

test('the README has an API example that trains on the fast engine with the fused graph', () => {
  assert.ok(readmeScripts.length >= 1, 'no ts/js block in README.md');
  const api = readmeScripts.map((b) => b.code).join('\n');
  for (const word of ['Network.create(', "from 'bnff'"]) assert.ok(api.includes(word), `the API example does not use ${word}`);
  assert.ok(!/reference|NO_FUSION/.test(api), 'the API example asks for the reference kernels or the unfused graph');
});

readmeScripts.forEach((block, k) => {
  test(`README block at line ${block.line} (${block.lang}) type-checks and runs against dist/`, { timeout: 240_000 }, (t) => {
    const imports = [...block.code.matchAll(/from '([^']*)'/g)].map((m) => m[1]!).filter((m) => m !== 'bnff' && !m.startsWith('node:'));
    assert.deepEqual(imports, [], 'the example imports something other than bnff and node: modules');
    const code = block.code.replace(/from 'bnff'/g, `from '${ENTRY}'`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-readme-'));
    t.after(() => fs.rmSync(work, { recursive: true, force: true }));
    const tsFile = path.join(work, `readme-block-${k}.mts`);
    fs.writeFileSync(tsFile, code);
    // Type-check as a user's strict ES-module project would.
    const program = ts.createProgram([tsFile], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules/@types')],
    });
    const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === tsFile || d.file === undefined);
    const text = diags.map(
      (d) => `${d.file ? `line ${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
    );
    assert.deepEqual(text, [], `README block at line ${block.line} does not type-check`);
    // Run it.
    const js = ts.transpileModule(code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const jsFile = path.join(work, `readme-block-${k}.mjs`);
    fs.writeFileSync(jsFile, js);
    const r = spawnSync(process.execPath, [jsFile], { cwd: work, encoding: 'utf8', timeout: 230_000 });
    assert.equal(r.status, 0, `README block at line ${block.line} exited with ${r.status}:\n${r.stderr}`);
    assert.ok(r.stdout.trim().length > 0, 'the example printed nothing');
    // BNFF_ENGINE=reference would choose the reference kernels for it, as documented
    if (/Network\.create\(/.test(block.code) && process.env.BNFF_ENGINE !== 'reference')
      assert.match(
        r.stdout,
        /^(native|WebAssembly) .*kernels.*; BN fission \+ fusion on$/m,
        `the example's network is not on a fast engine with the fused graph:\n${r.stdout}`,
      );
    const acc = /test accuracy after one epoch: ([\d.]+)%/.exec(r.stdout);
    if (acc) assert.ok(Number(acc[1]) > 30, `one epoch reached only ${acc[1]}% (chance is 10%):\n${r.stdout}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Shell blocks: the commands they name exist, with the options they use.

const helpCache = new Map<string, string>();
function help(cmd: string[]): string {
  const key = cmd.join(' ');
  let h = helpCache.get(key);
  if (h === undefined) {
    const r = spawnSync(process.execPath, [fromRoot('bin/bnff.js'), ...cmd, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `bnff ${key} --help failed: ${r.stderr}`);
    h = r.stdout;
    helpCache.set(key, h);
  }
  return h;
}

/** The commands named in `Commands:` of a --help text. */
function subcommands(helpText: string): string[] {
  const part = (helpText.split(/^Commands:$/m)[1] ?? '').split(/\n\s*\n/)[0]!;
  return [...part.matchAll(/^ {2}(\w[\w-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

const pkg = JSON.parse(fs.readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> };
const NPM_BUILTINS = new Set(['install', 'ci', 'test', 'pack', 'run', 'exec', 'i', 'install-scripts', 'rebuild']);

function checkCommandLine(where: string, line: string): void {
  const words = line.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
  if (words[0] === 'npm') {
    const sub = words[1]!;
    assert.ok(NPM_BUILTINS.has(sub), `${where}: npm ${sub} is not a command we document`);
    if (sub === 'run') assert.ok(words[2]! in pkg.scripts, `${where}: npm run ${words[2]}: no such script in package.json`);
    if (sub === 'test') assert.ok('test' in pkg.scripts, `${where}: package.json has no test script`);
    return;
  }
  let i = words.findIndex((w) => w === 'bnff');
  if (i < 0) return;
  const cmd: string[] = [];
  i++;
  let available = subcommands(help([]));
  while (i < words.length && !words[i]!.startsWith('-') && available.includes(words[i]!)) {
    cmd.push(words[i]!);
    available = subcommands(help(cmd));
    i++;
  }
  assert.ok(cmd.length > 0, `${where}: "${line.trim()}" names no bnff command (known: ${subcommands(help([])).join(', ')})`);
  const text = help(cmd);
  for (const w of words.slice(i)) {
    if (!w.startsWith('--')) continue;
    const opt = w.split('=')[0]!;
    const known = text.includes(opt) || (opt.startsWith('--no-') && text.includes(`--${opt.slice(5)}`));
    assert.ok(known, `${where}: bnff ${cmd.join(' ')} has no option ${opt}`);
  }
}

for (const file of ['README.md', 'docs/cli.md', 'docs/contributing.md', 'docs/results/2026-11-26.md', 'docs/results/2026-12-07-lean-cnns.md']) {
  test(`the shell blocks of ${file} name existing commands and options`, () => {
    let checked = 0;
    for (const b of codeBlocks(file).filter((x) => x.lang === 'sh' || x.lang === 'bash')) {
      b.code.split('\n').forEach((line, j) => {
        if (!/^\s*(npx |npm |bnff |BNFF_\w+=\S+ (npx )?bnff )/.test(line)) return;
        checkCommandLine(`${file}:${b.line + 1 + j}`, line);
        checked++;
      });
    }
    assert.ok(checked > 0, `no command checked in ${file}`);
  });
}

test('every command of bnff has its section in docs/cli.md', () => {
  const doc = fs.readFileSync(fromRoot('docs/cli.md'), 'utf8');
  const cmds = subcommands(help([]));
  for (const c of cmds) {
    const subs = subcommands(help([c]));
    for (const full of subs.length ? subs.map((s) => `${c} ${s}`) : [c])
      assert.ok(doc.includes(`## bnff ${full}`), `docs/cli.md has no "## bnff ${full}" section`);
  }
});

test('README.md is a front page: at most 12 KB, and it links to what exists', () => {
  const text = fs.readFileSync(fromRoot('README.md'), 'utf8');
  assert.ok(Buffer.byteLength(text) <= 12 * 1024, `README.md is ${Buffer.byteLength(text)} bytes`);
  for (const m of text.matchAll(/\]\(([^)#]+)\)/g)) {
    const target = m[1]!;
    if (/^https?:/.test(target)) continue;
    assert.ok(fs.existsSync(fromRoot(target)), `README.md links to ${target}, which does not exist`);
  }
});

test('the links of README.md and docs/ lead to files that exist', () => {
  for (const f of [fromRoot('README.md'), ...walk(fromRoot('docs'))]) {
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(fs.existsSync(path.resolve(path.dirname(f), target)), `${path.relative(ROOT, f)} links to ${target}, which does not exist`);
    }
  }
});

test('no document says "session"', () => {
  const files = ['README.md', ...walk(fromRoot('docs')), ...walk(fromRoot('bench/results')).filter((f) => f.endsWith('.md'))];
  for (const f of files) {
    const text = fs.readFileSync(path.isAbsolute(f) ? f : fromRoot(f), 'utf8');
    const line = text.split('\n').findIndex((l) => /session/i.test(l));
    assert.equal(line, -1, `${path.relative(ROOT, path.isAbsolute(f) ? f : fromRoot(f))}:${line + 1} says "session"`);
  }
});

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []));
}
