// The router API's in-memory twin for the plugin's tests: replies are scripted per path (a fixed
// reply, or a function of the request), and every call is recorded.
import type { CniAttachment } from '../api/protocol.js';
import type { Reply, RouterApi } from './router-client.js';

export type Script = Reply | ((body: unknown, callNo: number) => Reply);

export class MemoryRouterApi implements RouterApi {
  readonly calls: { method: string; path: string; body: unknown; timeoutMs: number }[] = [];
  private readonly scripts = new Map<string, Script>();

  /** Replies to path with the script; a path without one is unreachable (no router). */
  on(path: string, script: Script): this {
    this.scripts.set(path, script);
    return this;
  }

  call(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<Reply> {
    this.calls.push({ method, path, body, timeoutMs });
    const s = this.scripts.get(path);
    if (s === undefined) return Promise.resolve({ kind: 'unreachable', reason: 'ECONNREFUSED' });
    const n = this.calls.filter((c) => c.path === path).length;
    return Promise.resolve(typeof s === 'function' ? s(body, n) : s);
  }
}

/** An attachment as the router reports one, for tests. */
export const SAMPLE: CniAttachment = {
  id: 'c1',
  ifname: 'eth0',
  netns: '/run/netns/c1',
  mac: '02:42:0a:20:00:05',
  hostIfname: 'vethwe12345678',
  hostMac: 'ee:00:00:00:00:01',
  mtu: 1410,
  cidrs: ['10.32.0.5/12'],
  gateway: '10.32.0.1',
  routes: [{ dst: '0.0.0.0/0', gw: '10.32.0.1' }],
};
