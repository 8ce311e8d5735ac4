// The files Temporal bundles into the workflow sandbox: a workflow entry module and every project file
// it imports at run time, followed import by import. The lint configuration forbids Node built-ins in
// exactly these files, so a helper a workflow starts to import is held to the sandbox's rules at once,
// wherever it lives, rather than when a worker fails to bundle it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Only type-level imports, which TypeScript erases before the bundler sees them. */
function erasedAtRunTime(statement) {
  if (ts.isExportDeclaration(statement)) return statement.isTypeOnly;
  const clause = statement.importClause;
  if (!clause) return false; // `import './module'` runs the module for its effects
  if (clause.isTypeOnly) return true;
  const bindings = clause.namedBindings;
  return (
    clause.name === undefined &&
    bindings !== undefined &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((element) => element.isTypeOnly)
  );
}

function runTimeSpecifiers(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  return source.statements
    .filter((statement) => ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement))
    .filter((statement) => statement.moduleSpecifier && !erasedAtRunTime(statement))
    .map((statement) => statement.moduleSpecifier.text);
}

/**
 * The project's own files (relative to `root`, with forward slashes) reachable at run time from the
 * `entries`; packages from node_modules are left out: the bundler checks those itself.
 */
export function workflowSandboxFiles(root, entries) {
  const options = { moduleResolution: ts.ModuleResolutionKind.Node10, resolveJsonModule: true };
  const found = new Set();
  const pending = entries.map((entry) => path.resolve(root, entry));
  while (pending.length > 0) {
    const file = pending.pop();
    if (found.has(file)) continue;
    found.add(file);
    for (const specifier of runTimeSpecifiers(file)) {
      const resolved = ts.resolveModuleName(specifier, file, options, ts.sys).resolvedModule;
      if (resolved && !resolved.isExternalLibraryImport && resolved.extension === ts.Extension.Ts) {
        pending.push(resolved.resolvedFileName);
      }
    }
  }
  return [...found].map((file) => path.relative(root, file).split(path.sep).join('/')).sort();
}
