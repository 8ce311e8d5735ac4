import { readFileSync } from 'node:fs';
import { dumpYaml, loadAllYaml } from '@kubernetes/client-node';
import { convertArgoManifests } from './argo-conversion';
import { CliError } from './cli-context';

export interface ConvertOutput {
  /** Siirto's manifests as multi-document YAML, for standard output. */
  manifests: string;
  /** One line per field not carried over, for standard error. */
  notes: string[];
}

/**
 * `siirto convert -f FILE`: Argo Rollouts manifests (`-` reads standard input) as Siirto's. Only input
 * that cannot be read is an error; what cannot be carried over is listed, and the rest converted.
 */
export function convertCommand(file: string | undefined, readStdin: () => string): ConvertOutput {
  if (!file)
    throw new CliError('siirto convert needs -f FILE (or -f - for standard input); see siirto --help', 2);
  let text: string;
  try {
    text = file === '-' ? readStdin() : readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let documents: unknown[];
  try {
    documents = loadAllYaml(text);
  } catch (error) {
    throw new CliError(
      `${file === '-' ? 'standard input' : file} is not YAML: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const { documents: converted, notes } = convertArgoManifests(documents);
  const manifests = converted
    .map((document) => dumpYaml(document, { noRefs: true, lineWidth: -1 }))
    .join('---\n');
  return { manifests, notes };
}
