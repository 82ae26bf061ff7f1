// The ESP key exchange messages (router/esp-messages.ts), gossip unicast on "weft-esp".
import { decodeEspMessage, encodeEspMessage } from '../../../router/esp-messages.js';
import { roundTrip } from '../check.js';
import type { FuzzTarget } from '../target.js';

const base = { uid: 0x1122334455667788n, epoch: 3 };

export const espMessages: FuzzTarget = {
  name: 'esp-messages',
  sources: ['router/esp-messages.ts'],
  seeds: () => [
    encodeEspMessage({ ...base, type: 'offer', spi: 0x1000, salt: Buffer.alloc(16, 1), ciphers: ['aes-256-gcm', 'chacha20-poly1305'] }),
    encodeEspMessage({ ...base, type: 'answer', spi: 0x2000, salt: Buffer.alloc(16, 2), cipher: 'chacha20-poly1305' }),
    encodeEspMessage({ ...base, type: 'confirm' }),
    encodeEspMessage({ ...base, type: 'rekey' }),
  ],
  run: (data) => {
    // An offer naming only ciphers we do not know decodes with none (they come from newer peers;
    // router/esp-keys.ts drops it as no-common-cipher). The encoder cannot write an empty list.
    const m = decodeEspMessage(data);
    if (m.ok && m.value.type === 'offer' && m.value.ciphers.length === 0) return 'offer with no known cipher';
    return roundTrip(data, 'decodeEspMessage', decodeEspMessage, encodeEspMessage);
  },
};
