// One request-generation guard, for requests whose answers can arrive out of order: only the
// answer to the newest request of a kind counts.
//
//   const request = latest();
//   const value = await request(app.client.request('learn_mapping', args));
//
// `request(promise)` settles as the promise does when no newer request went through the same
// guard meanwhile. Otherwise the answer (value or error) is dropped and it rejects with a
// Superseded error (`superseded: true`), which showError (dom.js) ignores: a slow answer for an
// old tensor or setting never overwrites the current one. `request.supersede()` drops every
// answer still outstanding without sending a new request (the selection they were for changed).
export class Superseded extends Error {
  constructor() {
    super('superseded');
    this.superseded = true;
  }
}

export function latest() {
  let generation = 0;
  const request = async (promise) => {
    const mine = ++generation;
    let value;
    try {
      value = await promise;
    } catch (err) {
      throw mine === generation ? err : new Superseded();
    }
    if (mine !== generation) throw new Superseded();
    return value;
  };
  request.supersede = () => { generation++; };
  return request;
}
