// The tutor module (www/pkg-learn, src/tutor) on the page's main thread, where the Learn view's
// charts are drawn; instantiated the first time a Learn chart needs it, so the Inspect view's
// first load does not fetch it.
import initTutor from '../pkg-learn/quantscope.js';

let ready = null;
export const tutorReady = () => (ready ??= initTutor());
