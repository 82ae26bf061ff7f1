import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WeftError } from '../../lib/errors.js';
import { formatPeerName } from '../../mesh/peer-name.js';
import { loadIdentity, newUid, PEER_NAME_FILE } from './identity.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'weft-identity-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Deterministic "randomness": returns the given bytes, then repeats the last call's. */
function bytes(...chunks: number[][]): (n: number) => Buffer {
  let i = 0;
  return (n) => {
    const b = Buffer.from(chunks[Math.min(i++, chunks.length - 1)]!);
    expect(b.length).toBe(n);
    return b;
  };
}

describe('loadIdentity', () => {
  it('creates the data dir (0700) and a name once, then reloads the same name', async () => {
    const dir = join(root, 'a', 'b');
    const first = await loadIdentity(dir, undefined, bytes([0x01, 0x11, 0x22, 0x33, 0x44, 0x55]));
    // Locally administered, unicast: low bits of the first byte forced to 10.
    expect(formatPeerName(first.name)).toBe('02:11:22:33:44:55');
    expect(first.created).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readFile(join(dir, PEER_NAME_FILE), 'utf8')).toBe('02:11:22:33:44:55\n');
    expect(await readdir(dir)).toEqual([PEER_NAME_FILE]); // no temp file left behind

    const again = await loadIdentity(dir, undefined, bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(again).toEqual({ name: first.name, created: false });
  });

  it('agrees on one name when two starts race', async () => {
    const [a, b] = await Promise.all([
      loadIdentity(root, undefined, bytes([2, 0, 0, 0, 0, 1])),
      loadIdentity(root, undefined, bytes([2, 0, 0, 0, 0, 2])),
    ]);
    expect(a.name).toBe(b.name);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
    expect(await readFile(join(root, PEER_NAME_FILE), 'utf8')).toBe(`${formatPeerName(a.name)}\n`);
  });

  it('names the corrupt file and says what to do', async () => {
    await writeFile(join(root, PEER_NAME_FILE), 'not-a-name\n');
    const err = await loadIdentity(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect((err as Error).message).toBe(
      `${join(root, PEER_NAME_FILE)} does not hold a peer name (it contains "not-a-name\\n") — delete it to get a new name, or pass --name`,
    );
  });

  it('treats an empty file as corrupt rather than replacing it silently', async () => {
    await writeFile(join(root, PEER_NAME_FILE), '');
    await expect(loadIdentity(root)).rejects.toThrow(/does not hold a peer name/);
  });

  it('lets --name win without persisting it or touching the data dir', async () => {
    const dir = join(root, 'd');
    const o = await loadIdentity(dir, { name: '02:AA:00:00:00:01' });
    expect(o).toEqual({ name: 0x02aa00000001n, created: false });
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });

    const kept = await loadIdentity(dir);
    const overridden = await loadIdentity(dir, { name: '02:aa:00:00:00:01' });
    expect(overridden.name).not.toBe(kept.name);
    expect((await loadIdentity(dir)).name).toBe(kept.name);
  });

  it('refuses a malformed override', async () => {
    await expect(loadIdentity(root, { name: 'zz' })).rejects.toThrow('--name "zz" is not a peer name');
  });
});

describe('newUid', () => {
  it('skips zero and reads 64 bits', () => {
    const uid = newUid(bytes([0, 0, 0, 0, 0, 0, 0, 0], [0xff, 0, 0, 0, 0, 0, 0, 1]));
    expect(uid).toBe(0xff00000000000001n);
  });

  it('differs between starts with real randomness', () => {
    expect(newUid()).not.toBe(newUid());
  });
});
