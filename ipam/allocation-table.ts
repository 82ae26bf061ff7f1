// This peer's allocations: container → address, and the reverse. An address normally has one
// container; two only when adopt() finds the kernel holding one address for two containers
// (a conflict, reported), so the reverse map keeps every holder and an address stays taken
// until the last of them is released.

export class AllocationTable {
  private readonly byContainer = new Map<string, number>();
  private readonly byIp = new Map<number, Set<string>>();

  get(container: string): number | undefined {
    return this.byContainer.get(container);
  }

  get size(): number {
    return this.byContainer.size;
  }

  /** The containers holding ip here (usually zero or one). */
  holdersOf(ip: number): string[] {
    return [...(this.byIp.get(ip) ?? [])];
  }

  /** Gives container ip (replacing the address it had). */
  record(container: string, ip: number): void {
    this.unrecord(container);
    this.byContainer.set(container, ip);
    let s = this.byIp.get(ip);
    if (!s) this.byIp.set(ip, (s = new Set()));
    s.add(container);
  }

  /** Forgets container's address; returns it. */
  unrecord(container: string): number | undefined {
    const ip = this.byContainer.get(container);
    if (ip === undefined) return undefined;
    this.byContainer.delete(container);
    const s = this.byIp.get(ip)!;
    s.delete(container);
    if (s.size === 0) this.byIp.delete(ip);
    return ip;
  }

  entries(): [string, number][] {
    return [...this.byContainer];
  }

  /** Every address held, sorted, each once. */
  ips(): number[] {
    return [...this.byIp.keys()].sort((a, b) => a - b);
  }

  clear(): void {
    this.byContainer.clear();
    this.byIp.clear();
  }
}
