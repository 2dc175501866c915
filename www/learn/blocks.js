// Panels 4-6: granularity, memory, compare schemes; the guided tour.
export function mountBlocks() {}
