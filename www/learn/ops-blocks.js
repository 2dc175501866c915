// Worker operations of the panels 'Granularity', 'Memory' and 'Compare schemes'.
export const blocksOps = {};
