import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { docFiles, fencedBlocks, PROJECT_DIR } from '../docs/doc-blocks';

/**
 * Pages linked from the docs that are written beside them and arrive with them. A link to one of
 * these may not resolve yet; once the page is here, its entry goes, and its links are checked.
 */
const PAGES_ARRIVING: string[] = [];

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
function headingAnchor(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

/** The markdown with its fenced blocks blanked out, where a `# line` is no heading. */
function withoutFences(markdown: string): string {
  const lines = markdown.split('\n');
  for (const block of fencedBlocks(markdown)) {
    const lineCount = block.text.split('\n').length + 2;
    for (let index = block.line - 1; index < block.line - 1 + lineCount && index < lines.length; index++) {
      lines[index] = '';
    }
  }
  return lines.join('\n');
}

/** The markdown without fenced blocks and inline code, where nothing is a link. */
function prose(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, '``');
}

/** Every anchor of the page's headings, the second of a name with `-1` as GitHub numbers them. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of withoutFences(markdown).split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = headingAnchor(heading);
    const seen = counts.get(base) ?? 0;
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
    counts.set(base, seen + 1);
  }
  return anchors;
}

/** The relative links of a doc: `[text](target)`, web addresses left out. */
function relativeLinks(markdown: string): string[] {
  const links = [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map(
    (match) => match[1] ?? '',
  );
  return links.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

interface LinkProblem {
  doc: string;
  target: string;
  problem: string;
}

function checkLinks(doc: string): LinkProblem[] {
  const markdown = readFileSync(path.join(PROJECT_DIR, doc), 'utf8');
  const problems: LinkProblem[] = [];
  for (const target of relativeLinks(markdown)) {
    const [file = '', anchor] = target.split('#');
    const linked = file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), file));
    const absolute = path.join(PROJECT_DIR, linked);
    if (!existsSync(absolute)) {
      if (!PAGES_ARRIVING.includes(linked))
        problems.push({ doc, target, problem: `${linked} does not exist` });
      continue;
    }
    if (anchor === undefined || statSync(absolute).isDirectory()) continue;
    if (!linked.endsWith('.md')) {
      problems.push({ doc, target, problem: `an anchor into ${linked}, which is not markdown` });
      continue;
    }
    const anchors = anchorsOf(readFileSync(absolute, 'utf8'));
    if (!anchors.has(anchor)) {
      problems.push({ doc, target, problem: `${linked} has no heading whose anchor is #${anchor}` });
    }
  }
  return problems;
}

describe('the links in the docs', () => {
  it('all resolve: every relative link to a file that exists, every #anchor to a heading there', () => {
    expect(docFiles().flatMap(checkLinks)).toEqual([]);
  });

  it('wait for no page that is already here', () => {
    const arrived = PAGES_ARRIVING.filter((page) => existsSync(path.join(PROJECT_DIR, page)));
    // Once a page is here its links are checked like any other: take it off PAGES_ARRIVING.
    expect(arrived).toEqual([]);
  });

  it('are found: the README links the docs index, and the index every page', () => {
    const index = readFileSync(path.join(PROJECT_DIR, 'docs/README.md'), 'utf8');
    expect(relativeLinks(readFileSync(path.join(PROJECT_DIR, 'README.md'), 'utf8'))).toContain(
      'docs/README.md',
    );
    const pages = docFiles()
      .filter((doc) => doc.startsWith('docs/') && doc !== 'docs/README.md')
      .map((doc) => path.posix.basename(doc));
    const linked = relativeLinks(index);
    expect(pages.filter((page) => !linked.includes(page))).toEqual([]);
  });
});

describe('heading anchors', () => {
  it('are made as GitHub makes them', () => {
    expect(headingAnchor('Many clusters, one Temporal namespace')).toBe(
      'many-clusters-one-temporal-namespace',
    );
    expect(headingAnchor('From Argo Rollouts to Siirto')).toBe('from-argo-rollouts-to-siirto');
    expect(headingAnchor('The `siirto` CLI')).toBe('the-siirto-cli');
    expect(headingAnchor("Sizing a Rollout, and changes made behind Siirto's back")).toBe(
      'sizing-a-rollout-and-changes-made-behind-siirtos-back',
    );
  });
});
