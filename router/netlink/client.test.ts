// NetlinkClient against a scripted kernel: an in-memory socket whose answers the test decides.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { encodeAttrs, str } from './attrs.js';
import { NetlinkClient, NetlinkError } from './client.js';
import { encodeMessage, parseMessages, type NlMessage } from './codec.js';
import { NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST } from './constants.js';
import type { NetlinkSocket } from './socket.js';

/** A socket whose "kernel" is a function: it sees each sent message and returns the datagrams to answer with. */
class ScriptedSocket implements NetlinkSocket {
  datagrams: NlMessage[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  closed = false;
  private onDatagram: ((d: Buffer) => void) | undefined;
  private onError: ((e: NodeJS.ErrnoException) => void) | undefined;
  private outbox: Buffer[] = [];

  constructor(private readonly kernel: (m: NlMessage) => Buffer[] = (m) => [ack(m.seq)]) {}

  send(d: Buffer): void {
    const parsed = parseMessages(d);
    if (!parsed.ok) throw new Error(parsed.reason);
    this.datagrams.push(parsed.value);
    this.inFlight += parsed.value.length;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (const m of parsed.value) this.outbox.push(...this.kernel(m));
  }
  receive(onDatagram: (d: Buffer) => void, onError: (e: NodeJS.ErrnoException) => void): void {
    this.onDatagram = onDatagram;
    this.onError = onError;
  }
  close(): void {
    this.closed = true;
  }
  /** Delivers queued answers one datagram at a time (each may let the client send more) until quiet. */
  flush(): void {
    while (this.outbox.length > 0) {
      const d = this.outbox.shift()!;
      const parsed = parseMessages(d);
      if (parsed.ok) this.inFlight -= parsed.value.filter((m) => m.type === NLMSG_ERROR || m.type === NLMSG_DONE).length;
      this.onDatagram!(d);
    }
  }
  deliver(d: Buffer): void {
    this.onDatagram!(d);
  }
  fail(code: string): void {
    const e: NodeJS.ErrnoException = new Error(code);
    e.code = code;
    this.onError!(e);
  }
}

function ack(seq: number, errno = 0, msg?: string): Buffer {
  const body = Buffer.alloc(20);
  body.writeInt32LE(-errno);
  body.writeUInt32LE(16, 4);
  const tlv = msg ? encodeAttrs([str(1, msg)]) : Buffer.alloc(0);
  return encodeMessage({ type: NLMSG_ERROR, flags: NLM_F_CAPPED | (msg ? NLM_F_ACK_TLVS : 0), seq, payload: Buffer.concat([body, tlv]) });
}
const part = (seq: number, payload: string, flags = NLM_F_MULTI): Buffer => encodeMessage({ type: 16, flags, seq, payload: Buffer.from(payload) });
const done = (seq: number): Buffer => encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq, payload: Buffer.alloc(4) });
const req = (type = 28, payload = 'x') => ({ type, flags: 0, payload: Buffer.from(payload) });
const texts = (ms: NlMessage[]): string[] => ms.map((m) => m.payload.toString());

describe('NetlinkClient', () => {
  it('sends REQUEST|ACK with a fresh sequence number and resolves on the ACK', async () => {
    const sock = new ScriptedSocket();
    const c = new NetlinkClient(sock, { firstSeq: 10 });
    const p = Promise.all([c.request(req()), c.request(req())]);
    sock.flush();
    expect(await p).toEqual([[], []]);
    const sent = sock.datagrams.flat();
    expect(sent.map((m) => [m.seq, m.flags])).toEqual([[10, NLM_F_REQUEST | NLM_F_ACK], [11, NLM_F_REQUEST | NLM_F_ACK]]);
  });

  it('rejects with errno, code and the extended-ack text', async () => {
    const sock = new ScriptedSocket((m) => [ack(m.seq, 17, 'FDB entry already exists')]);
    const c = new NetlinkClient(sock);
    const p = c.request(req());
    sock.flush();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ errno: 17, code: 'EEXIST', extack: 'FDB entry already exists' });
    expect((err as Error).message).toMatch(/RTM_NEWNEIGH: EEXIST .*FDB entry already exists/);
  });

  it('returns the reply a GET gets before its ACK', async () => {
    const sock = new ScriptedSocket((m) => [Buffer.concat([part(m.seq, 'link', 0), ack(m.seq)])]);
    const c = new NetlinkClient(sock);
    const p = c.request(req(18));
    sock.flush();
    expect(texts(await p)).toEqual(['link']);
  });

  it('collects a multipart dump across datagrams and drops answers for no request', async () => {
    const sock = new ScriptedSocket((m) => [
      Buffer.concat([part(m.seq, 'a'), part(m.seq + 1000, 'stray')]),
      Buffer.from([1, 2, 3]),
      Buffer.concat([part(m.seq, 'b'), part(m.seq, 'c')]),
      done(m.seq),
    ]);
    const c = new NetlinkClient(sock);
    const p = c.dump({ type: 18, flags: NLM_F_DUMP, payload: Buffer.alloc(16) });
    sock.flush();
    expect(texts(await p)).toEqual(['a', 'b', 'c']);
    expect(sock.datagrams[0]![0]!.flags).toBe(NLM_F_REQUEST | NLM_F_DUMP);
    expect(c.dropped).toBe(2);
  });

  it('fails an interrupted dump with EINTR, and a dump that ends in an error with its errno', async () => {
    const intr = new ScriptedSocket((m) => [part(m.seq, 'a', NLM_F_MULTI | NLM_F_DUMP_INTR), done(m.seq)]);
    const p1 = new NetlinkClient(intr).dump(req(18));
    intr.flush();
    await expect(p1).rejects.toMatchObject({ code: 'EINTR' });
    const bad = new ScriptedSocket((m) => [ack(m.seq, 95, 'no dump for this family')]);
    const p2 = new NetlinkClient(bad).dump(req(18));
    bad.flush();
    await expect(p2).rejects.toMatchObject({ code: 'EOPNOTSUPP', extack: 'no dump for this family' });
  });

  it('runs one dump at a time: the second is sent after the first is done', async () => {
    const sock = new ScriptedSocket((m) => [part(m.seq, String(m.seq)), done(m.seq)]);
    const c = new NetlinkClient(sock, { firstSeq: 1 });
    const a = c.dump(req(18));
    const b = c.dump(req(30));
    expect(sock.datagrams.length).toBe(1);
    sock.flush();
    expect(texts(await a)).toEqual(['1']);
    expect(texts(await b)).toEqual(['2']);
    expect(sock.datagrams.map((d) => d.length)).toEqual([1, 1]);
  });

  it('batches many messages per datagram with a bounded window, one result per message', async () => {
    const sock = new ScriptedSocket((m) => [ack(m.seq, m.payload.toString() === 'bad' ? 2 : 0)]);
    const c = new NetlinkClient(sock, { window: 100, maxPerDatagram: 32 });
    const msgs = Array.from({ length: 1000 }, (_, i) => req(28, i === 500 ? 'bad' : `m${i}`));
    const p = c.batch(msgs);
    sock.flush();
    const results = await p;
    expect(results).toHaveLength(1000);
    expect(results.filter((r) => r !== undefined).map((r) => (r as NetlinkError).code)).toEqual(['ENOENT']);
    expect(results[500]).toBeInstanceOf(NetlinkError);
    expect(sock.maxInFlight).toBeLessThanOrEqual(100);
    expect(Math.max(...sock.datagrams.map((d) => d.length))).toBe(32);
    expect(sock.datagrams.flat().map((m) => m.payload.toString())).toEqual(msgs.map((m) => m.payload.toString()));
  });

  it('splits datagrams at the byte limit', async () => {
    const sock = new ScriptedSocket();
    const c = new NetlinkClient(sock, { maxDatagramBytes: 100 });
    const p = c.batch(Array.from({ length: 10 }, () => req(28, 'y'.repeat(30))));
    sock.flush();
    await p;
    expect(sock.datagrams.map((d) => d.length)).toEqual([2, 2, 2, 2, 2]);
  });

  it('times out unanswered messages and drops their late answers', async () => {
    const clock = new ManualClock();
    const sock = new ScriptedSocket(() => []);
    const c = new NetlinkClient(sock, { clock, timeoutMs: 5000 });
    const p = c.request(req());
    const settled = p.catch((e: unknown) => e);
    clock.advance(4999);
    sock.deliver(part(999, 'noise'));
    clock.advance(1);
    expect(await settled).toMatchObject({ code: 'timeout' });
    sock.deliver(ack(sock.datagrams[0]![0]!.seq));
    expect(c.dropped).toBe(2);
  });

  it('restarts a dump\'s timeout with every part', async () => {
    const clock = new ManualClock();
    const sock = new ScriptedSocket(() => []);
    const c = new NetlinkClient(sock, { clock, timeoutMs: 5000 });
    const p = c.dump(req(18));
    const seq = sock.datagrams[0]![0]!.seq;
    clock.advance(4000);
    sock.deliver(part(seq, 'a'));
    clock.advance(4000);
    sock.deliver(done(seq));
    expect(texts(await p)).toEqual(['a']);
  });

  it('fails what is in flight on a receive error (ENOBUFS) and keeps working', async () => {
    const sock = new ScriptedSocket();
    const c = new NetlinkClient(sock);
    const p = c.request(req());
    sock.fail('ENOBUFS');
    await expect(p).rejects.toMatchObject({ code: 'ENOBUFS' });
    const q = c.request(req());
    sock.flush();
    await expect(q).resolves.toEqual([]);
  });

  it('reports a send error to the messages of that datagram', async () => {
    const sock = new ScriptedSocket();
    sock.send = () => {
      throw Object.assign(new Error('sendmsg failed'), { code: 'EPERM' });
    };
    const c = new NetlinkClient(sock);
    expect(await c.batch([req(), req()])).toMatchObject([{ code: 'EPERM' }, { code: 'EPERM' }]);
  });

  it('close() rejects pending and later requests with code closed', async () => {
    const sock = new ScriptedSocket(() => []);
    const c = new NetlinkClient(sock, { window: 1 });
    const a = c.request(req());
    const b = c.request(req());
    c.close();
    c.close();
    await expect(a).rejects.toMatchObject({ code: 'closed' });
    await expect(b).rejects.toMatchObject({ code: 'closed' });
    await expect(c.request(req())).rejects.toMatchObject({ code: 'closed' });
    expect(sock.closed).toBe(true);
  });
});
