// @ts-check
// `npm run lint` runs this after ESLint (depcruise src): a new import cycle, or the Temporal contract reaching into the
// code that implements it, fails CI. tests/deploy/import-rules.test.ts proves both rules fire.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No file may import, directly or through others, a file that imports it back. Move the shared part down (types and messages into src/contracts).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'contracts-stand-alone',
      severity: 'error',
      comment:
        'src/contracts is what workflows, activities, the API and the CLI agree on: it may use the journey language (src/journey) and Temporal, nothing that implements the contract.',
      from: { path: '^src/contracts/' },
      to: { path: '^src/', pathNot: ['^src/contracts/', '^src/journey/'] },
    },
    {
      name: 'workflows-through-contracts',
      severity: 'error',
      comment: 'Workflow code reaches activities, signals and ids through src/contracts, and the interpreter through src/journey; nothing else of ours.',
      from: { path: '^src/workflows/' },
      to: { path: '^src/', pathNot: ['^src/workflows/', '^src/contracts/', '^src/journey/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a cycle through types is still a cycle a reader has to untangle.
    tsPreCompilationDeps: true,
  },
};
