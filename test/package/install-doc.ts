import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stack } from '../harness/stack';

/**
 * A line of each ```sh block of docs/install.md that names it. The package tests run these blocks
 * verbatim; a block added to the document without an entry here fails them.
 */
export const INSTALL_DOC_BLOCKS = {
  pack: 'npm pack',
  install: 'npm install ./siirto-*.tgz',
  kubectlPlugin: 'kubectl siirto list -A',
  run: 'siirto-worker &',
  containerRecipe: 'bash scripts/run-container-recipe.sh',
} as const;

/** Every ```sh block of docs/install.md, as a user would paste it into a shell. */
export function installDocShellBlocks(): string[] {
  const text = readFileSync(path.join(stack.projectDir, 'docs', 'install.md'), 'utf8');
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

/** The one ```sh block of docs/install.md holding the line `INSTALL_DOC_BLOCKS[name]`. */
export function installDocBlock(name: keyof typeof INSTALL_DOC_BLOCKS): string {
  const line = INSTALL_DOC_BLOCKS[name];
  const found = installDocShellBlocks().filter((block) => block.split('\n').includes(line));
  if (found.length !== 1) {
    throw new Error(`docs/install.md has ${found.length} sh blocks with the line ${JSON.stringify(line)}`);
  }
  return found[0]!;
}
