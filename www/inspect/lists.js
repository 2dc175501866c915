// The workbench's lists for the page's pickers (schemes with their families and descriptions,
// the built-in samples, the default comparison's scheme ids, the GGUF export's types and
// llama.cpp's file types), asked of the Inspect worker once at start (inspect/ops.js
// page_lists): the main thread loads only the plot module (www/pkg-plot), never the workbench.
const lists = { schemes: [], samples: [], baseSchemeIds: [], ggufTypes: [], ggufFileTypes: [] };

export async function loadLists(client) {
  Object.assign(lists, await client.request('page_lists', []));
}

export const schemeList = () => lists.schemes;
export const sampleList = () => lists.samples;
export const baseSchemeIds = () => lists.baseSchemeIds;
export const ggufTypes = () => lists.ggufTypes;
export const ggufFileTypes = () => lists.ggufFileTypes;
