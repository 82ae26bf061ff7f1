// Every fuzz target, one per decoder family that reads bytes from the network or from disk.
import type { FuzzTarget } from '../target.js';
import { apiBody } from './api-body.js';
import { endpoints, ipamStore, peerName } from './data-files.js';
import { espMessages } from './esp-messages.js';
import { espPacket } from './esp-packet.js';
import { features } from './features.js';
import { gob } from './gob.js';
import { gossip } from './gossip.js';
import { handshake } from './handshake.js';
import { ipamConsensus, ipamMessages, ipamRing, ipamUsed } from './ipam.js';
import { netlink } from './netlink.js';
import { peerRecords } from './peer-records.js';
import { probe } from './probe.js';
import { topology } from './topology.js';

export const TARGETS: readonly FuzzTarget[] = [
  handshake, features, gob, topology, gossip,
  peerRecords, probe, espMessages, netlink, espPacket,
  ipamMessages, ipamRing, ipamUsed, ipamConsensus,
  ipamStore, endpoints, peerName, apiBody,
];
