// Real rtnetlink through the addon, in throwaway namespaces named like the harness's
// (`wt<pid>-nls-h<i>`), so sweepStale removes them if this run is killed.
import { execFileSync } from 'node:child_process';
import { readlinkSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canUseNetns } from '../../test/harness/netns.js';
import { defaultPrefix } from '../../test/harness/privileges.js';
import { openNetlinkSocket, type NetlinkSocket } from './socket.js';

const NETLINK_ROUTE = 0;
const RTNLGRP_LINK = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const IFLA_IFNAME = 3;
const WAIT_MS = 10_000;
/** Test links are bridges: weft needs the bridge driver anyway, while `dummy` is not built into every kernel. */
const LINK_TYPE = 'bridge';

const netnsOk = canUseNetns();
const prefix = defaultPrefix('nls');
const nsA = `${prefix}h0`;
const nsB = `${prefix}h1`;
const pathA = `/run/netns/${nsA}`;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function linkNames(ns?: string): string[] {
  const out = ns ? ip('-n', ns, '-j', 'link', 'show') : ip('-j', 'link', 'show');
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}

function getlinkDump(seq: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(32, 0);
  b.writeUInt16LE(RTM_GETLINK, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

interface Msg {
  type: number;
  seq: number;
  index?: number;
  name?: string;
  error?: number;
}

/** Splits a datagram into messages; link messages get their index and IFLA_IFNAME. */
function parse(d: Buffer): Msg[] {
  const out: Msg[] = [];
  let off = 0;
  while (off + 16 <= d.length) {
    const len = d.readUInt32LE(off);
    if (len < 16 || off + len > d.length) throw new Error(`bad nlmsg length ${len} at ${off}`);
    const msg: Msg = { type: d.readUInt16LE(off + 4), seq: d.readUInt32LE(off + 8) };
    if (msg.type === NLMSG_ERROR) msg.error = d.readInt32LE(off + 16);
    if (msg.type === RTM_NEWLINK) {
      msg.index = d.readInt32LE(off + 20);
      let a = off + 32;
      while (a + 4 <= off + len) {
        const alen = d.readUInt16LE(a);
        if (alen < 4) break;
        if ((d.readUInt16LE(a + 2) & 0x3fff) === IFLA_IFNAME) msg.name = d.toString('utf8', a + 4, a + alen).replace(/\0+$/, '');
        a += (alen + 3) & ~3;
      }
    }
    out.push(msg);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Collects messages until `done` says so; rejects on a receive error other than those `tolerate`s. */
function collect(
  sock: NetlinkSocket,
  done: (msgs: Msg[]) => boolean,
  tolerate: (err: NodeJS.ErrnoException) => boolean = () => false,
): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const msgs: Msg[] = [];
    const timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms; got ${msgs.length} messages`)), WAIT_MS);
    sock.receive(
      (d) => {
        msgs.push(...parse(d));
        if (done(msgs)) {
          clearTimeout(timer);
          resolve(msgs);
        }
      },
      (err) => {
        if (tolerate(err)) return;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

async function dumpLinks(sock: NetlinkSocket, seq: number): Promise<Map<number, string>> {
  const pending = collect(sock, (m) => m.some((x) => x.seq === seq && (x.type === NLMSG_DONE || x.type === NLMSG_ERROR)));
  sock.send(getlinkDump(seq));
  const msgs = (await pending).filter((m) => m.seq === seq);
  const err = msgs.find((m) => m.type === NLMSG_ERROR);
  if (err) throw new Error(`dump failed: errno ${-(err.error ?? 0)}`);
  return new Map(msgs.filter((m) => m.type === RTM_NEWLINK).map((m) => [m.index ?? -1, m.name ?? '']));
}

describe.skipIf(!netnsOk.ok)(`netlink socket (real kernel)${netnsOk.ok ? '' : `: skipped, ${netnsOk.reason}`}`, () => {
  const open: NetlinkSocket[] = [];
  const track = (s: NetlinkSocket): NetlinkSocket => (open.push(s), s);

  beforeAll(() => {
    for (const ns of [nsA, nsB]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', nsA, 'link', 'add', 'dum0', 'type', LINK_TYPE);
    ip('-n', nsB, 'link', 'add', 'onlyb0', 'type', LINK_TYPE);
  });

  afterAll(() => {
    for (const s of open) s.close();
    for (const ns of [nsA, nsB]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  });

  it('dumps the links of the namespace it was opened in, and the thread stays where it was', async () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const sock = track(openNetlinkSocket({ protocol: NETLINK_ROUTE, netns: pathA }));
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);

    const links = await dumpLinks(sock, 1);
    expect(links.get(1)).toBe('lo');
    expect([...links.values()].sort()).toEqual(linkNames(nsA).sort());
    expect([...links.values()]).toContain('dum0');
    expect([...links.values()]).not.toContain('onlyb0');
    for (const own of linkNames().filter((n) => n !== 'lo')) expect([...links.values()]).not.toContain(own);
  });

  it('a bad netns path fails clearly and leaves the thread in its own namespace', async () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    expect(() => openNetlinkSocket({ protocol: NETLINK_ROUTE, netns: '/run/netns/no-such-ns' })).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('/run/netns/no-such-ns') }),
    );
    // A file that opens but is not a namespace: setns itself refuses.
    const dir = mkdtempSync(join(tmpdir(), 'weft-nls-'));
    try {
      writeFileSync(join(dir, 'plain'), 'x');
      expect(() => openNetlinkSocket({ protocol: NETLINK_ROUTE, netns: join(dir, 'plain') })).toThrow(
        expect.objectContaining({ code: 'EINVAL', errno: 22 }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);

    const sock = track(openNetlinkSocket({ protocol: NETLINK_ROUTE }));
    const links = [...(await dumpLinks(sock, 2)).values()];
    expect(links.sort()).toEqual(linkNames().sort());
    expect(links).not.toContain('dum0');
  });

  it('delivers RTM_NEWLINK events of a joined group', async () => {
    const sock = track(openNetlinkSocket({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK], netns: pathA }));
    const got = collect(sock, (m) => m.some((x) => x.type === RTM_NEWLINK && x.name === 'ev0'));
    ip('-n', nsA, 'link', 'add', 'ev0', 'type', LINK_TYPE);
    const ev = (await got).find((x) => x.name === 'ev0');
    expect(ev?.seq).toBe(0);
    expect(linkNames(nsA)).toContain('ev0');
  });

  it('survives an event burst that overflows a tiny receive buffer, and stays usable', async () => {
    const sock = track(openNetlinkSocket({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK], netns: pathA, rcvbuf: 4096 }));
    const DUMP_SEQ = 77;
    const errors: string[] = [];
    const burst = new Set<string>();
    const dumpMsgs: Msg[] = [];
    let wake: () => void = () => {};
    const when = (cond: () => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
        wake = () => {
          if (!cond()) return;
          clearTimeout(timer);
          resolve();
        };
        wake();
      });
    sock.receive(
      (d) => {
        for (const m of parse(d)) {
          if (m.seq === DUMP_SEQ) dumpMsgs.push(m);
          else if (m.type === RTM_NEWLINK && m.name?.startsWith('burst')) burst.add(m.name);
        }
        wake();
      },
      (err) => {
        errors.push(String(err.code));
        wake();
      },
    );
    const dir = mkdtempSync(join(tmpdir(), 'weft-nls-'));
    try {
      const batch = join(dir, 'batch');
      writeFileSync(batch, Array.from({ length: 200 }, (_, i) => `link add burst${i} type ${LINK_TYPE}\n`).join(''));
      // Synchronous: the event loop is blocked while the kernel queues (and drops) 200 events.
      ip('-n', nsA, '-batch', batch);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await when(() => errors.length > 0 || burst.size === 200, 'ENOBUFS or all 200 events');
    expect(errors.every((c) => c === 'ENOBUFS')).toBe(true);
    // Let the current wakeup finish draining what is queued before asking for a dump.
    await new Promise<void>((r) => setImmediate(r));

    sock.send(getlinkDump(DUMP_SEQ));
    await when(() => dumpMsgs.some((m) => m.type === NLMSG_DONE || m.type === NLMSG_ERROR), 'the dump to finish');
    expect(dumpMsgs.find((m) => m.type === NLMSG_ERROR)).toBeUndefined();
    const listed = dumpMsgs.filter((m) => m.type === RTM_NEWLINK && m.name?.startsWith('burst'));
    expect(listed).toHaveLength(200);
  });

  it('close() stops delivery at once and is safe to repeat', async () => {
    const a = openNetlinkSocket({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK], netns: pathA });
    const b = track(openNetlinkSocket({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK], netns: pathA }));
    let aCalls = 0;
    a.receive(() => aCalls++, () => aCalls++);
    a.close();
    a.close();
    expect(() => a.send(getlinkDump(5))).toThrow(expect.objectContaining({ code: 'closed' }));
    const got = collect(b, (m) => m.some((x) => x.type === RTM_NEWLINK && x.name === 'late0'));
    ip('-n', nsA, 'link', 'add', 'late0', 'type', LINK_TYPE);
    await got;
    expect(aCalls).toBe(0);
  });
});
