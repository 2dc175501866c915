// Panels 1-3: how numbers are stored, scale and zero point, clipping and calibration.
export function mountNumbers() {}
