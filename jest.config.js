// @kubernetes/client-node and some of its dependencies ship only ES modules, which Node 20 can
// require() but Jest's module runtime cannot: Jest compiles them to CommonJS like our own code.
const ES_MODULE_PACKAGES = [
  '@kubernetes/client-node',
  'openid-client',
  'oauth4webapi',
  'jose',
  'jsonpath-plus',
  'rfc4648',
];

const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.(ts|js|mjs)$': ['@swc/jest'] },
  transformIgnorePatterns: [`/node_modules/(?!(${ES_MODULE_PACKAGES.join('|')})/)`],
  // The compiled package (`npm run build`): tests import the sources, never a stale build of them.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    // Pure logic: no processes, no network.
    { ...shared, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    // Everything that crosses a process boundary runs against the real local stack.
    {
      ...shared,
      displayName: 'stack',
      roots: ['<rootDir>/test'],
      testPathIgnorePatterns: ['/test/unit/'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
    },
  ],
  // Every stack test file starts real processes and waits on a real cluster; two cores run two files well.
  maxWorkers: 2,
  testTimeout: 120_000,
  reporters: ['default', '<rootDir>/test/harness/summary-reporter.js'],
};
