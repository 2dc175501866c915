// A page module fetched and initialised the first time it is needed (each download's writer is a
// module of its own, so the page fetches only what is used), once; a failed fetch is tried again
// the next time.
export function onDemand(url, name) {
  let loading = null;
  return async () => {
    loading ??= import(url).then(async (m) => {
      await m.default();
      return m;
    });
    try {
      return await loading;
    } catch (err) {
      loading = null;
      throw new Error(`could not load the ${name} module: ${err?.message ?? err}`);
    }
  };
}
