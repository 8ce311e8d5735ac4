import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { commandsOf, docShellBlocks, fencedBlocks, PROJECT_DIR, type ShellBlock } from '../docs/doc-blocks';

/** Where the convention is written down, for every message. */
const CONVENTION = 'CONTRIBUTING.md, "Commands in the docs"';

function where(block: ShellBlock): string {
  return `${block.doc}:${block.line}`;
}

/** What is wrong with how a block says it is run; empty when nothing is. */
function problemsOf(block: ShellBlock): string[] {
  const { runBy } = block;
  if (!runBy) {
    return [
      `${where(block)}: a \`\`\`${block.language} block without a <!-- run-by: FILE --> or <!-- run-by: FILE#ID --> line before it (${CONVENTION})`,
    ];
  }
  const runner = path.join(PROJECT_DIR, runBy.file);
  if (!existsSync(runner)) return [`${where(block)}: run-by names ${runBy.file}, which does not exist`];
  const source = readFileSync(runner, 'utf8');
  if (runBy.id) {
    // An entry is a key of the runner's table of blocks: `'new-image': {`, `tctl: {` or `pack: 'npm pack'`.
    const entry = new RegExp(`^\\s*(['"]?)${runBy.id}\\1:\\s*[{'"]`, 'm');
    return entry.test(source)
      ? []
      : [`${where(block)}: ${runBy.file} has no entry '${runBy.id}' to run the block (${CONVENTION})`];
  }
  return commandsOf(block)
    .filter((command) => !source.includes(command))
    .map(
      (command) =>
        `${where(block)}: ${runBy.file} does not run \`${command}\` as written; run it there verbatim or name a runner that reads the block (${CONVENTION})`,
    );
}

describe('the commands shown in the docs', () => {
  const blocks = docShellBlocks();

  it('are found in README.md, CONTRIBUTING.md and docs/', () => {
    const docs = new Set(blocks.map((block) => block.doc));
    expect(docs).toContain('README.md');
    expect(docs).toContain('docs/cli.md');
    expect(blocks.length).toBeGreaterThanOrEqual(15);
  });

  it('are each run by the test or script the line before them names', () => {
    expect(blocks.flatMap(problemsOf)).toEqual([]);
  });

  it('name each entry of a runner once, so that one entry never stands for two blocks', () => {
    const seen = new Map<string, string>();
    const twice: string[] = [];
    for (const block of blocks) {
      if (!block.runBy?.id) continue;
      const key = `${block.runBy.file}#${block.runBy.id}`;
      const first = seen.get(key);
      if (first) twice.push(`${where(block)} and ${first} both name ${key}`);
      else seen.set(key, where(block));
    }
    expect(twice).toEqual([]);
  });

  it("include the README's test command that .ci/run reads from it", () => {
    const readme = readFileSync(path.join(PROJECT_DIR, 'README.md'), 'utf8');
    expect(readme.split('\n')).toContain('npm install && npm test');
  });
});

describe('reading commands out of a block', () => {
  it('joins continued lines and leaves out comments', () => {
    const text = [
      '# set up',
      'kubectl create secret generic key -n ns \\',
      '  --from-literal=KEY="$(cat key.txt)"',
      '',
      'siirto status checkout --watch   # exits 0 once Healthy, 1 if Degraded',
    ].join('\n');
    expect(commandsOf({ language: 'sh', text })).toEqual([
      'kubectl create secret generic key -n ns --from-literal=KEY="$(cat key.txt)"',
      'siirto status checkout --watch',
    ]);
  });

  it('takes only the prompted lines of a console block', () => {
    const text = ['$ siirto list -n shop', 'NAME      PHASE', 'checkout  Healthy'].join('\n');
    expect(commandsOf({ language: 'console', text })).toEqual(['siirto list -n shop']);
  });

  it('keeps a # inside quotes', () => {
    expect(commandsOf({ language: 'sh', text: `echo 'a # b'` })).toEqual([`echo 'a # b'`]);
  });

  it('finds blocks indented in a list item, with the line before them', () => {
    const markdown = ['- a step:', '', '  <!-- run-by: x.sh -->', '', '  ```bash', '  ls -l', '  ```'].join(
      '\n',
    );
    expect(fencedBlocks(markdown)).toEqual([
      { line: 5, language: 'bash', text: 'ls -l', lineBefore: '  <!-- run-by: x.sh -->' },
    ]);
  });
});
