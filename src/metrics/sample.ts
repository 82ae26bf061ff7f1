// Reads one sample from Prometheus text exposition (for tests and debugging).

/** The value of one series, e.g. sample(text, 'weft_connections{state="established",encryption="encrypted"}'); undefined if absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    if (line.slice(0, at) === series) return Number(line.slice(at + 1));
  }
  return undefined;
}
