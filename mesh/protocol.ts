// Message tags after the handshake: one byte, then the payload (inside the frame).
export const enum Tag {
  Heartbeat = 0,
  Reserved1 = 1,
  Reserved2 = 2,
  Reserved3 = 3,
  Gossip = 4,
  GossipUnicast = 5,
  GossipBroadcast = 6,
  OverlayControl = 7,
}

export function message(tag: Tag, payload?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + (payload?.length ?? 0));
  out[0] = tag;
  if (payload) out.set(payload, 1);
  return out;
}
