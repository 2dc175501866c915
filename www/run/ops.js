// Worker operations of the Run view (the model engine).
import { engineOps } from './engine-ops.js';
import { mnistOps } from './mnist-ops.js';
import { customOps } from './custom-ops.js';
import { buildOps } from './build-check.js';

export const runOps = { ...engineOps, ...mnistOps, ...customOps, ...buildOps };
