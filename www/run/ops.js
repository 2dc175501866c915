// Worker operations of the Run view (the model engine).
export const runOps = {};
