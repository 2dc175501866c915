// Number formatting shared by the views.

// Numbers in tables and statistics: integers with thousands separators, others to `digits`
// significant digits (exponent notation below 1e-3 and from 1e6); null and undefined show as
// `nullText` (a dash, or e.g. ∞ for an exact SQNR), NaN as `nanText`.
export function fmt(v, { nullText = '—', nanText = 'NaN', digits = 6 } = {}) {
  if (v === null || v === undefined) return nullText;
  if (Number.isNaN(v)) return nanText;
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(Math.max(digits - 1, 1));
  return Number(v.toPrecision(digits)).toString();
}
