import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stack } from './stack';

/** Writes a test file's measured figures to test-artifacts/<name>-figures.json, for the report. */
export function writeFigures(name: string, figures: Record<string, unknown>): void {
  const directory = path.join(stack.projectDir, 'test-artifacts');
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, `${name}-figures.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
