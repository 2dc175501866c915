// Number formatting shared by the views.

// Numbers in tables and statistics: integers with thousands separators, others to `digits`
// significant digits (exponent notation below 1e-3 and from 1e6); null and undefined show as
// `nullText` (a dash, or e.g. ∞ for an exact SQNR), NaN as `nanText`, ±Infinity as ∞ and −∞.
export function fmt(v, { nullText = '—', nanText = 'NaN', digits = 6 } = {}) {
  if (v === null || v === undefined) return nullText;
  if (Number.isNaN(v)) return nanText;
  if (v === Infinity || v === -Infinity) return v > 0 ? '∞' : '−∞';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(Math.max(digits - 1, 1));
  return Number(v.toPrecision(digits)).toString();
}

// An error measure (MSE, max |error|) for reading: the worker sends a non-finite number as null,
// and the only non-finite error a round trip has is +∞ (it overflowed), so null reads ∞, never a
// dash.
export function errorText(error) {
  return fmt(error, { nullText: '∞' });
}

// An SQNR in dB for reading. The worker sends a non-finite SQNR as null: +∞ for an exact round
// trip (MSE 0), −∞ when the error itself is infinite (a round trip that overflows: MSE null too).
export function sqnrText(db, mse, { exactText = '∞' } = {}) {
  if (db === null || db === undefined) return mse === 0 ? exactText : '−∞';
  return fmt(db);
}
