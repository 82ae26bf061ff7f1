// Two Go reference peers on loopback, no namespaces:
//
//   a (ee:00:00:00:00:01)  <--- mesh TCP ---  b (ee:00:00:00:00:02, -peer a)
//   127.0.0.1:<free>                          127.0.0.1:<free>
//
// The last case runs both peers inside one throwaway namespace (`wt<pid>-gop-h1`, lo only), with
// no initial targets, and joins them with connect() through the netns request path.
//
// Checks the harness and the Go peer itself before weft is tested against it.
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildGoPeer, freePort, goPeerUnavailable, GoPeer, hasEstablishedRoute, type GoStatus } from './gopeer.js';
import { canUseNetns, defaultPrefix } from './privileges.js';

const A = 'ee:00:00:00:00:01';
const B = 'ee:00:00:00:00:02';
const WAIT = { timeoutMs: 15_000 };

const unavailable = goPeerUnavailable();
const suite = unavailable === undefined ? describe : describe.skip;

suite(`Go reference peer${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, () => {
  const started: GoPeer[] = [];

  async function startPair(passwords: { a?: string; b?: string }): Promise<[GoPeer, GoPeer]> {
    const aMesh = `127.0.0.1:${await freePort()}`;
    const a = await GoPeer.start({
      name: A,
      nickname: 'a',
      meshAddr: aMesh,
      httpAddr: `127.0.0.1:${await freePort()}`,
      password: passwords.a,
    });
    started.push(a);
    const b = await GoPeer.start({
      name: B,
      nickname: 'b',
      meshAddr: `127.0.0.1:${await freePort()}`,
      httpAddr: `127.0.0.1:${await freePort()}`,
      password: passwords.b,
      peers: [aMesh],
    });
    started.push(b);
    return [a, b];
  }

  async function expectConnectedAndGossiping(a: GoPeer, b: GoPeer): Promise<void> {
    await a.waitFor((s) => hasEstablishedRoute(s, B), WAIT);
    await b.waitFor((s) => hasEstablishedRoute(s, A), WAIT);
    await a.add('from-a');
    await b.add('from-b');
    await b.waitForSet((set) => set.includes('from-a'), WAIT);
    await a.waitForSet((set) => set.includes('from-b'), WAIT);
    expect(await a.set()).toEqual(['from-a', 'from-b']);
  }

  function establishedCount(s: GoStatus): number {
    return (s.Connections ?? []).filter((c) => c.State === 'established').length;
  }

  beforeAll(async () => {
    await buildGoPeer();
  }, 300_000);

  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  it('connects two unencrypted peers, routes both ways, and gossips the set', async () => {
    const [a, b] = await startPair({});
    await expectConnectedAndGossiping(a, b);
    const s = await b.status();
    expect(s.Encryption).toBe(false);
    expect(s.Connections?.find((c) => c.State === 'established')?.Info).not.toMatch(/encrypted/);
  });

  it('connects and gossips with the same password on both sides, encrypted', async () => {
    const [a, b] = await startPair({ a: 'correct horse', b: 'correct horse' });
    await expectConnectedAndGossiping(a, b);
    const s = await b.status();
    expect(s.Encryption).toBe(true);
    expect(s.Connections?.find((c) => c.State === 'established')?.Info).toMatch(/^encrypted /);
  });

  it.each([
    ['different passwords', { a: 'alpha', b: 'beta' }],
    ['a password on one side only', { a: 'alpha' }],
  ])('never establishes a connection with %s', async (_label, passwords) => {
    const [a, b] = await startPair(passwords);
    // Wait until b's attempt to reach a has been made and has failed; then neither side may
    // hold an established connection or a route to the other.
    const failed = await b.waitFor((s) => s.Connections?.find((c) => c.State === 'failed' || c.State === 'retrying'), WAIT);
    expect(failed.Info).not.toBe('');
    const [sa, sb] = [await a.status(), await b.status()];
    expect(establishedCount(sa)).toBe(0);
    expect(establishedCount(sb)).toBe(0);
    expect(hasEstablishedRoute(sa, B)).toBe(false);
    expect(hasEstablishedRoute(sb, A)).toBe(false);
  });

  it('joins two idle peers with connect()', async () => {
    const bMesh = `127.0.0.1:${await freePort()}`;
    const a = await GoPeer.start({ name: A, meshAddr: `127.0.0.1:${await freePort()}`, httpAddr: `127.0.0.1:${await freePort()}` });
    started.push(a);
    const b = await GoPeer.start({ name: B, meshAddr: bMesh, httpAddr: `127.0.0.1:${await freePort()}` });
    started.push(b);
    expect(hasEstablishedRoute(await a.status(), B)).toBe(false);
    await a.connect(bMesh);
    await a.waitFor((s) => hasEstablishedRoute(s, B), WAIT);
    await b.waitFor((s) => hasEstablishedRoute(s, A), WAIT);
  });

  it('stop() is safe to call twice and the pid is gone afterwards', async () => {
    const [a] = await startPair({});
    await a.stop();
    await a.stop();
    expect(a.running).toBe(false);
    expect(() => process.kill(a.pid, 0)).toThrow();
  });

  const netns = canUseNetns();
  describe.skipIf(!netns.ok)(`inside a network namespace${netns.ok ? '' : ` (skipped: ${netns.reason})`}`, () => {
    const ns = `${defaultPrefix('gop')}h1`;

    beforeAll(() => {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    });

    afterAll(async () => {
      await Promise.all(started.splice(0).map((p) => p.stop()));
      execFileSync('ip', ['netns', 'del', ns]);
    });

    it('serves status, connect, add and set through ip netns exec', async () => {
      // Ports are probed in the host namespace; the fresh namespace has nothing bound at all.
      const bMesh = `127.0.0.1:${await freePort()}`;
      const a = await GoPeer.start({ name: A, meshAddr: `127.0.0.1:${await freePort()}`, httpAddr: `127.0.0.1:${await freePort()}`, netns: ns });
      started.push(a);
      const b = await GoPeer.start({ name: B, meshAddr: bMesh, httpAddr: `127.0.0.1:${await freePort()}`, netns: ns });
      started.push(b);
      await expect(fetch(`http://${a.opts.httpAddr}/status`)).rejects.toThrow();
      await a.connect(bMesh);
      await expectConnectedAndGossiping(a, b);
    });
  });
});
