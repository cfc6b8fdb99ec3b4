import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkWriteTarget, writeFileSafe, WriteRefusedError } from '../../src/io/safe_write.js';
import { snapshot, type Specials, specials } from '../helpers/disk.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bnff-safe-'));
let sp: Specials;
before(async () => (sp = await specials(path.join(root, 's'))));
after(async () => {
  await sp.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const refused = (f: () => void, message: RegExp): void => assert.throws(f, (e: Error) => e instanceof WriteRefusedError && message.test(e.message));

test('safe write: never replaces what is not a regular file, whatever the guard', () => {
  const before = snapshot(root);
  const all = { replace: true, force: true };
  refused(() => writeFileSafe(sp.fifo, 'x', all), /^refusing to replace \S+\/pipe: it is a FIFO \(named pipe\), not a regular file$/);
  refused(() => writeFileSafe(sp.socket, 'x', all), /it is a socket, not a regular file$/);
  refused(() => writeFileSafe(sp.device, 'x', all), /it is a (character device|socket), not a regular file$/);
  refused(() => writeFileSafe(sp.link, 'x', all), /it is a symbolic link to \S+target\.bin, not a regular file$/);
  refused(() => writeFileSafe(sp.dirLink, 'x', all), /it is a symbolic link to \S+elsewhere, not a regular file$/);
  refused(() => writeFileSafe(sp.dir, 'x', all), /it is a directory, not a regular file$/);
  assert.deepEqual(snapshot(root), before);
});

test('safe write: never writes an input, also through another name', () => {
  const before = snapshot(root);
  refused(() => writeFileSafe(sp.file, 'x', { inputs: [sp.file], force: true }), /^refusing to write \S+precious\.txt: it is an input of this command/);
  const hard = path.join(root, 'hard');
  fs.linkSync(sp.file, hard);
  refused(() => writeFileSafe(hard, 'x', { inputs: [sp.file], force: true }), /^refusing to write \S+\/hard: it is the input \S+precious\.txt/);
  fs.rmSync(hard);
  assert.deepEqual(snapshot(root), before);
});

test('safe write: an existing regular file is replaced only when the command says so or with force; a new file is written', () => {
  const f = path.join(root, 'out.bin');
  writeFileSafe(f, 'one');
  refused(() => writeFileSafe(f, 'two'), /^refusing to overwrite \S+out\.bin: the file exists \(--force replaces it\)$/);
  assert.equal(fs.readFileSync(f, 'utf8'), 'one');
  assert.equal(checkWriteTarget(f, { replace: true }), true);
  writeFileSafe(f, 'two', { replace: true });
  writeFileSafe(f, 'three', { force: true });
  assert.equal(fs.readFileSync(f, 'utf8'), 'three');
  assert.deepEqual(
    fs.readdirSync(root).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
  fs.rmSync(f);
});
