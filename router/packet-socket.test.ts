// Raw Ethernet frames through the addon over a veth pair inside a throwaway namespace
// (`wt<pid>-pks-h0`, swept by the harness if this run is killed).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns } from '../test/harness/netns.js';
import { defaultPrefix } from '../test/harness/privileges.js';
import { openPacketSocket, type PacketSocket } from './packet-socket.js';

const ETHERTYPE = 0x88b5;
const OTHER_ETHERTYPE = 0x88b6;
const WAIT_MS = 10_000;

const netnsOk = canUseNetns();
const ns = `${defaultPrefix('pks')}h0`;
const netns = `/run/netns/${ns}`;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ifindex(name: string): number {
  return (JSON.parse(ip('-n', ns, '-j', 'link', 'show', name)) as { ifindex: number }[])[0]?.ifindex ?? -1;
}

/** A minimum-size broadcast frame whose payload starts with `tag`. */
function frame(ethertype: number, tag: number): Buffer {
  const f = Buffer.alloc(60);
  f.fill(0xff, 0, 6);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(f, 6);
  f.writeUInt16BE(ethertype, 12);
  f.writeUInt32BE(tag, 14);
  return f;
}

/** Records received frames; wait(tag) resolves once a frame carrying tag has arrived. */
function collector(): { frames: Buffer[]; onFrame: (f: Buffer) => void; wait: (tag: number) => Promise<void> } {
  const frames: Buffer[] = [];
  const waiters: { tag: number; resolve: () => void }[] = [];
  const has = (tag: number): boolean => frames.some((f) => f.readUInt32BE(14) === tag);
  return {
    frames,
    onFrame(f) {
      frames.push(f);
      for (const w of waiters.filter((x) => has(x.tag))) w.resolve();
    },
    wait(tag) {
      if (has(tag)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame with tag ${tag} within ${WAIT_MS} ms`)), WAIT_MS);
        waiters.push({
          tag,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

describe.skipIf(!netnsOk.ok)(`packet socket (real kernel)${netnsOk.ok ? '' : `: skipped, ${netnsOk.reason}`}`, () => {
  const open: PacketSocket[] = [];
  const track = (s: PacketSocket): PacketSocket => (open.push(s), s);

  beforeAll(() => {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'add', 'pa', 'type', 'veth', 'peer', 'name', 'pb');
    ip('-n', ns, 'link', 'set', 'pa', 'up');
    ip('-n', ns, 'link', 'set', 'pb', 'up');
  });

  afterAll(() => {
    for (const s of open) s.close();
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  });

  it('receives whole frames of its ethertype sent into the other end, and no others', async () => {
    const tx = track(openPacketSocket({ ifindex: ifindex('pa'), ethertype: ETHERTYPE, netns }));
    const rx = track(openPacketSocket({ ifindex: ifindex('pb'), ethertype: ETHERTYPE, netns }));
    const got = collector();
    rx.receive(got.onFrame);

    tx.send(frame(OTHER_ETHERTYPE, 1));
    tx.send(frame(ETHERTYPE, 2));
    tx.send(frame(OTHER_ETHERTYPE, 3));
    tx.send(frame(ETHERTYPE, 4));
    await got.wait(4);

    expect(got.frames.map((f) => f.readUInt32BE(14))).toEqual([2, 4]);
    expect(got.frames[0]).toEqual(frame(ETHERTYPE, 2));
  });

  it('delivers nothing after close(), which is safe to repeat', async () => {
    const tx = track(openPacketSocket({ ifindex: ifindex('pa'), ethertype: ETHERTYPE, netns }));
    const closing = openPacketSocket({ ifindex: ifindex('pb'), ethertype: ETHERTYPE, netns });
    const witness = track(openPacketSocket({ ifindex: ifindex('pb'), ethertype: ETHERTYPE, netns }));
    const closedGot = collector();
    const witnessGot = collector();
    closing.receive(closedGot.onFrame);
    witness.receive(witnessGot.onFrame);

    tx.send(frame(ETHERTYPE, 10));
    await closedGot.wait(10);
    closing.close();
    closing.close();
    expect(() => closing.send(frame(ETHERTYPE, 0))).toThrow(expect.objectContaining({ code: 'closed' }));

    tx.send(frame(ETHERTYPE, 11));
    await witnessGot.wait(11);
    expect(closedGot.frames.map((f) => f.readUInt32BE(14))).toEqual([10]);
  });

  it('reports a missing interface as an errno error', () => {
    expect(() => openPacketSocket({ ifindex: 999_999, ethertype: ETHERTYPE, netns })).toThrow(expect.objectContaining({ code: 'ENODEV' }));
  });
});
