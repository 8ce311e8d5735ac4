import type { SiirtoProcess } from '../harness/siirto-processes';

/** The port a Siirto process started with SIIRTO_METRICS_PORT=0 got, from its "serving metrics" log line. */
export function metricsPortOf(process: SiirtoProcess): number {
  for (const line of process.logText().split('\n')) {
    if (!line.includes('serving metrics and health')) continue;
    const { port } = JSON.parse(line) as { port: number };
    return port;
  }
  throw new Error(`no "serving metrics and health" line in ${process.logFile}`);
}

/** The port of the Temporal SDK's metrics, from the worker's "worker started" line. */
export function sdkMetricsPortOf(worker: SiirtoProcess): number {
  const started = worker
    .logText()
    .split('\n')
    .find((line) => line.includes('"worker started"'));
  if (!started) throw new Error(`no "worker started" line in ${worker.logFile}`);
  return (JSON.parse(started) as { sdkMetricsPort: number }).sdkMetricsPort;
}

export async function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/**
 * The value of one sample in Prometheus text format, matched by name and by the labels given (others
 * may be present); undefined when no such sample is exported.
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const sample = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`);
  for (const line of text.split('\n')) {
    const match = sample.exec(line);
    if (!match) continue;
    const present = match[1] ?? '';
    if (Object.entries(labels).every(([key, value]) => present.includes(`${key}="${value}"`))) {
      return Number(match[2]);
    }
  }
  return undefined;
}
