// Per connection, pending gossip waits here and is merged until the socket can take it, so a
// burst of updates becomes one message per channel (and per broadcast source), not a queue.
import type { GossipData } from './gossip.js';
import type { PeerName } from './peer-name.js';

export interface SenderSink {
  readonly busy: boolean;
  readonly closed: boolean;
  whenWritable(fn: () => void): void;
  /** Runs fn with the socket corked. */
  batch(fn: () => void): void;
}

export type Emit = (kind: 'gossip' | 'broadcast', channel: string, src: PeerName, msg: Buffer) => void;

export class GossipSender {
  /** channel → pending gossip data. */
  private gossip = new Map<string, GossipData>();
  /** channel → source → pending broadcast data. */
  private broadcasts = new Map<string, Map<PeerName, GossipData>>();
  private scheduled = false;

  constructor(
    private readonly sink: SenderSink,
    private readonly ourName: PeerName,
    private readonly emit: Emit,
  ) {}

  sendGossip(channel: string, data: GossipData): void {
    const prev = this.gossip.get(channel);
    this.gossip.set(channel, prev ? prev.merge(data) : data);
    this.schedule();
  }

  sendBroadcast(channel: string, src: PeerName, data: GossipData): void {
    let bySrc = this.broadcasts.get(channel);
    if (!bySrc) this.broadcasts.set(channel, (bySrc = new Map()));
    const prev = bySrc.get(src);
    bySrc.set(src, prev ? prev.merge(data) : data);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // A microtask first: everything sent in this turn merges into one message.
    queueMicrotask(() => this.sink.whenWritable(() => this.flush()));
  }

  private flush(): void {
    this.scheduled = false;
    if (this.sink.closed) return;
    const gossip = this.gossip;
    const broadcasts = this.broadcasts;
    this.gossip = new Map();
    this.broadcasts = new Map();
    this.sink.batch(() => {
      // Gossip goes before broadcasts, as in mesh.
      for (const [channel, data] of gossip) for (const m of data.encode()) this.emit('gossip', channel, this.ourName, m);
      for (const [channel, bySrc] of broadcasts) for (const [src, data] of bySrc) for (const m of data.encode()) this.emit('broadcast', channel, src, m);
    });
  }
}
