// Worker operations of the Learn view: `(ws, id, args) => value`, merged into the worker's table.
import { numbersOps } from './ops-numbers.js';
import { blocksOps } from './ops-blocks.js';

export const learnOps = { ...numbersOps, ...blocksOps };
