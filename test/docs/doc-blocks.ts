import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

/**
 * The shell blocks of Siirto's docs, and what runs each of them: the convention of
 * CONTRIBUTING.md's "Commands in the docs", read by a unit test (every block names its runner) and
 * by the stack test that runs the blocks. Pure: files in, blocks out.
 */

export const PROJECT_DIR = path.resolve(__dirname, '..', '..');

/** Fence languages whose blocks are commands a reader types. */
const SHELL_LANGUAGES = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);

/** `<!-- run-by: FILE -->` or `<!-- run-by: FILE#ID -->` on the line before a block. */
const RUN_BY = /^\s*<!--\s*run-by:\s*([^\s#]+)(?:#([\w-]+))?\s*-->\s*$/;

/** The docs whose commands are run, in document order: README.md, CONTRIBUTING.md, docs/*.md by name. */
export function docFiles(projectDir = PROJECT_DIR): string[] {
  const docs = readdirSync(path.join(projectDir, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', 'CONTRIBUTING.md', ...docs];
}

export interface RunBy {
  /** The test or script that runs the block, relative to the project. */
  file: string;
  /** The block's entry in a runner that reads blocks out of the docs. */
  id?: string;
}

/** A fenced code block of a markdown file. */
export interface FencedBlock {
  /** 1-based line of the opening fence. */
  line: number;
  language: string;
  /** The block's text, without the fences and the indentation they carry (in a list item, say). */
  text: string;
  /** The nearest line before the opening fence that is not blank, if any. */
  lineBefore?: string;
}

export interface ShellBlock extends FencedBlock {
  /** The doc, relative to the project: `docs/cli.md`. */
  doc: string;
  runBy?: RunBy;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

/** Every fenced block of the markdown, with the line before it. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const opening = FENCE.exec(lines[index] ?? '');
    if (!opening) continue;
    const [, indent = '', fence = '', language = ''] = opening;
    const body: string[] = [];
    let end = index + 1;
    for (; end < lines.length; end++) {
      const line = lines[end] ?? '';
      const trimmed = line.trim();
      if (trimmed.startsWith(fence[0]!.repeat(fence.length)) && /^[`~]+$/.test(trimmed)) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    let before = index - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--;
    blocks.push({
      line: index + 1,
      language: language.toLowerCase(),
      text: body.join('\n'),
      lineBefore: before >= 0 ? lines[before] : undefined,
    });
    index = end;
  }
  return blocks;
}

/** The doc's shell blocks, each with what its `run-by` line names. */
export function shellBlocks(doc: string, projectDir = PROJECT_DIR): ShellBlock[] {
  const markdown = readFileSync(path.join(projectDir, doc), 'utf8');
  return fencedBlocks(markdown)
    .filter((block) => SHELL_LANGUAGES.has(block.language))
    .map((block) => {
      const marker = RUN_BY.exec(block.lineBefore ?? '');
      return {
        ...block,
        doc,
        runBy: marker ? { file: marker[1] ?? '', ...(marker[2] ? { id: marker[2] } : {}) } : undefined,
      };
    });
}

/** Every shell block of every doc, in document order. */
export function docShellBlocks(projectDir = PROJECT_DIR): ShellBlock[] {
  return docFiles(projectDir).flatMap((doc) => shellBlocks(doc, projectDir));
}

/**
 * The commands of a block as a reader types them: continued lines (`\` at the end) joined, comment
 * lines and a trailing `  # comment` left out; in a `console` block only the lines after a `$ ` prompt.
 */
export function commandsOf(block: Pick<FencedBlock, 'language' | 'text'>): string[] {
  const commands: string[] = [];
  let pending: string | undefined;
  for (const raw of block.text.split('\n')) {
    let line = raw;
    if (pending === undefined) {
      if (block.language === 'console') {
        if (!line.startsWith('$ ')) continue;
        line = line.slice(2);
      }
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    }
    const joined = pending === undefined ? line.trim() : `${pending} ${line.trim()}`;
    if (joined.endsWith('\\')) {
      pending = joined.slice(0, -1).trimEnd();
      continue;
    }
    pending = undefined;
    commands.push(joined.replace(/\s+#\s[^'"]*$/, ''));
  }
  if (pending !== undefined) commands.push(pending);
  return commands;
}

/** A Siirto object the docs show, whole, or a Rollout's strategy set into the README's Rollout. */
export interface ShownObject {
  /** `docs/analysis.md:12` */
  where: string;
  /** `Rollout`, `AnalysisTemplate`, or `Rollout strategy` for a strategy shown alone. */
  what: string;
  object: Record<string, unknown> & { spec?: Record<string, unknown> };
}

/** The fleet release files the docs show, for Siirto's schema to read (no cluster takes them). */
export function docFleetReleases(projectDir = PROJECT_DIR): ShownObject[] {
  return docFiles(projectDir).flatMap((doc) =>
    fencedBlocks(readFileSync(path.join(projectDir, doc), 'utf8'))
      .filter((block) => block.language === 'yaml' || block.language === 'yml')
      .flatMap((block) =>
        (loadAllYaml(block.text) as unknown[])
          .filter((document): document is ShownObject['object'] => typeof document === 'object' && !!document)
          .filter((object) => object.kind === 'FleetRelease')
          .map((object) => ({ where: `${doc}:${block.line}`, what: 'FleetRelease', object })),
      ),
  );
}

/**
 * Every Siirto object in the docs' YAML blocks: whole objects (`apiVersion: siirto.dev/…`) as they
 * are, and each `strategy:` shown alone as the README's Rollout with that strategy, named after where
 * it is shown. Other YAML (kustomizations, Prometheus' configuration) is not Siirto's to check.
 */
export function docSiirtoObjects(projectDir = PROJECT_DIR): ShownObject[] {
  const shown = docFiles(projectDir).flatMap((doc) =>
    fencedBlocks(readFileSync(path.join(projectDir, doc), 'utf8'))
      .filter((block) => block.language === 'yaml' || block.language === 'yml')
      .flatMap((block) =>
        (loadAllYaml(block.text) as unknown[])
          .filter((document): document is ShownObject['object'] => typeof document === 'object' && !!document)
          .map((object) => ({ where: `${doc}:${block.line}`, object })),
      ),
  );
  // A FleetRelease is a file `siirto fleet apply` reads, not an object of the cluster: see docFleetReleases.
  const isSiirto = ({ object }: { object: ShownObject['object'] }) =>
    typeof object.apiVersion === 'string' &&
    object.apiVersion.startsWith('siirto.dev/') &&
    object.kind !== 'FleetRelease';
  const rollout = shown.find((document) => isSiirto(document) && document.object.kind === 'Rollout')?.object;
  return shown.flatMap(({ where, object }, index): ShownObject[] => {
    if (isSiirto({ object })) return [{ where, what: String(object.kind), object }];
    if (Object.keys(object).join() !== 'strategy' || !rollout) return [];
    const metadata = { ...(rollout.metadata as object), name: `docs-strategy-${index}` };
    return [
      {
        where,
        what: 'Rollout strategy',
        object: { ...rollout, metadata, spec: { ...rollout.spec, strategy: object.strategy } },
      },
    ];
  });
}
