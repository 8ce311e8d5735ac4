import js from '@eslint/js';
import jest from 'eslint-plugin-jest';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';
import { workflowSandboxFiles } from './scripts/workflow-sandbox-files.mjs';

const root = import.meta.dirname;

// The bare names of Node's built-ins; the `node:` prefix is matched as a pattern, which also covers
// the built-ins that exist only with it.
const bareNodeBuiltins = builtinModules.filter((name) => !name.startsWith('node:'));
const NOT_IN_THE_SANDBOX =
  'workflow code runs in the Temporal sandbox without Node built-ins; do this in an activity';

export default tseslint.config(
  {
    ignores: ['node_modules/', '.stack/', 'dist/', 'coverage/', 'test-artifacts/'],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: root } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A promise nobody awaits loses its rejection: an activity reports success, a test passes, a
      // process exits with work half done. Await it, or mark it `void` and say why it may run alone.
      '@typescript-eslint/no-floating-promises': 'error',
      // TypeScript already knows every global; the rule only misreads Node's.
      'no-undef': 'off',
    },
  },
  {
    // JavaScript files are outside tsconfig.json, so they have no types to lint with.
    files: ['**/*.{js,mjs,cjs}'],
    ...tseslint.configs.disableTypeChecked,
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox, which has no Node built-ins: an import of
    // one fails only when a worker bundles the workflows. Everything the workflows import counts.
    files: ['workflows/**/*.ts', ...workflowSandboxFiles(root, ['workflows/index.ts'])],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: bareNodeBuiltins.map((name) => ({
            name,
            message: NOT_IN_THE_SANDBOX,
            allowTypeImports: true,
          })),
          patterns: [
            {
              regex: '^node:',
              message: NOT_IN_THE_SANDBOX,
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    plugins: { jest },
    rules: {
      // A focused or skipped test makes the suite smaller without failing it.
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      // A test reads a value it has just asserted on; a failed assertion already names the problem.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
