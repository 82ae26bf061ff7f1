// Netlink replies (router/netlink/): a datagram split into messages (codec.ts), each payload given
// to every payload decoder — link, neighbour, address, route, rule, XFRM SA/expire/policy, error
// and done — as a confused or hostile peer on the socket could send any of them for any type.
// Re-encoding checks the framing: the split messages written back out split the same way.
import { isDeepStrictEqual } from 'node:util';
import { parseAttrs } from '../../../router/netlink/attrs.js';
import { encodeMessage, parseDone, parseError, parseMessages, type NlRequest } from '../../../router/netlink/codec.js';
import { NLM_F_ACK_TLVS, NLMSG_DONE, NLMSG_ERROR } from '../../../router/netlink/constants.js';
import { decodeAddr, decodeLink, decodeNeigh, decodeRoute, ifaddrmsg } from '../../../router/netlink/messages.js';
import { newGatewayRoute, newLink, newNeigh } from '../../../router/netlink/requests.js';
import { decodeRule, newRule } from '../../../router/netlink/rules.js';
import { decodeExpire, decodePolicy, decodeSa, newPolicy, newSa, UDP_ENCAP_ESPINUDP } from '../../../router/netlink/xfrm.js';
import { expectResult, fail, roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const sel = { src: '198.18.0.1/32', dst: '198.18.0.2/32', proto: 17, dport: 6784 };
const asReply = (r: NlRequest, seq = 1): Buffer => encodeMessage({ ...r, seq, port: 0 });

function seeds(): Buffer[] {
  const errTlv = Buffer.concat([Buffer.from([0xef, 0xff, 0xff, 0xff]), encodeMessage({ type: 16, flags: 5, seq: 9, payload: Buffer.alloc(0) }), Buffer.from([12, 0, 1, 0, 0x62, 0x61, 0x64, 0x21, 0x00, 0, 0, 0])]);
  return [
    asReply(newLink({ name: 'vxlan-6784', kind: 'vxlan', mtu: 1410, mac: '02:00:00:00:00:01', up: true, vxlan: { vni: 0x5eb1, port: 6784, learning: false, proxy: true } } as never, 3)),
    Buffer.concat([asReply(newNeigh(4, { dev: 'weft', ip: '10.32.0.2', mac: '02:00:0a:20:00:02' })), asReply(newGatewayRoute(4, '10.40.0.0/16', '10.32.0.1'), 2)]),
    asReply({ type: 20, flags: 2, payload: ifaddrmsg({ family: 2, prefixlen: 12, scope: 0, index: 4 }) }),
    asReply(newRule({ priority: 100, to: '198.18.0.2/32', ipProto: 17, dport: [6784, 6784], table: 6784, action: 'lookup' })),
    asReply(newSa({ src: '198.18.0.1', dst: '198.18.0.2', spi: 0x01000001, mode: 'transport', reqid: 7, selector: sel, aead: { name: 'rfc4106(gcm(aes))', key: Buffer.alloc(36, 3), icvBits: 128 }, encap: { type: UDP_ENCAP_ESPINUDP, sport: 6783, dport: 6783 }, replayWindow: 32, lifetime: { hardPackets: 0xf0000000, softAddSeconds: 3600 } })),
    asReply(newPolicy({ selector: sel, dir: 'out', priority: 100, templates: [{ src: '198.18.0.1', dst: '198.18.0.2', mode: 'transport', reqid: 7 }] })),
    encodeMessage({ type: NLMSG_ERROR, flags: NLM_F_ACK_TLVS, seq: 9, payload: errTlv }),
    encodeMessage({ type: NLMSG_DONE, flags: 2, seq: 9, payload: Buffer.from([0, 0, 0, 0]) }),
  ];
}

const PAYLOAD_DECODERS = { decodeLink, decodeNeigh, decodeAddr, decodeRoute, decodeRule, decodeSa, decodeExpire, decodePolicy, parseAttrs };

export const netlink: FuzzTarget = {
  name: 'netlink',
  sources: ['router/netlink/codec.ts', 'router/netlink/attrs.ts', 'router/netlink/messages.ts', 'router/netlink/rules.ts', 'router/netlink/xfrm.ts', 'router/netlink/address-text.ts'],
  seeds,
  run: (data) => {
    const outcome = roundTrip(
      data,
      'parseMessages',
      parseMessages,
      (ms) => Buffer.concat(ms.map((m) => encodeMessage(m))),
    );
    const split = parseMessages(data);
    if (!split.ok) return outcome;
    const outcomes = [outcome];
    for (const m of split.value) {
      for (const [what, decode] of Object.entries(PAYLOAD_DECODERS)) {
        const r = (decode as (b: Buffer) => { ok: true; value: unknown } | { ok: false; reason: string })(m.payload);
        outcomes.push(expectResult(r, what) ? `${what} ok` : r.reason);
      }
      const e = parseError(m.payload, m.flags);
      outcomes.push(expectResult(e, 'parseError') ? 'parseError ok' : e.reason);
      const d = parseDone(m.payload, m.flags);
      if (!Number.isInteger(d.errno) || d.errno < 0) fail(`parseDone gave errno ${d.errno}`);
    }
    if (!isDeepStrictEqual(parseMessages(data), split)) fail('parseMessages is not deterministic');
    return outcomes.join('|');
  },
};
