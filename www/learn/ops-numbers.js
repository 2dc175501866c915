// Worker operations of the panels 'How numbers are stored', 'Scale and zero point' and 'Clipping'.
export const numbersOps = {};
