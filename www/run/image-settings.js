// The settings that turn dropped images into a model's input, shown beside them: how pixel
// values are normalised (a preset, or the mean and standard deviation per channel) and the
// channel order. input-files.js's imageTensor applies them in the worker.
import { $, el } from './ui.js';
import { IMAGE_PRESETS } from './input-plan.js';

export const IMAGE_SETTINGS_MARKUP = `
  <fieldset id="run-custom-image" class="run-sizes" hidden>
    <legend>Images → input <span id="run-custom-image-input"></span></legend>
    <p class="hint">Each image is stretched to the input's height and width (set them above when the model leaves them
      open) and becomes one batch row: x = (pixel · scale − mean) / std per channel, in the order chosen
      (one channel: the luminance 0.299 R + 0.587 G + 0.114 B). Use what the model was trained with.</p>
    <div class="run-row">
      <label for="run-custom-image-preset">values</label> <select id="run-custom-image-preset"></select>
      <label for="run-custom-image-mean">mean</label> <input id="run-custom-image-mean" size="18">
      <label for="run-custom-image-std">std</label> <input id="run-custom-image-std" size="18">
      <label for="run-custom-image-order">channels</label>
      <select id="run-custom-image-order"><option>RGB</option><option>BGR</option></select>
    </div>
  </fieldset>`;

const numbers = (list) => list.map((v) => String(Number(v.toPrecision(6)))).join(', ');

// Wires the fields: a preset fills mean and std; any change calls `changed`.
export function mountImageSettings(changed) {
  const preset = $('#run-custom-image-preset');
  preset.replaceChildren(...Object.entries(IMAGE_PRESETS).map(([key, p]) => el('option', { value: key }, p.label)),
    el('option', { value: 'custom' }, 'custom (mean and std of pixel / 255)'));
  const fill = () => {
    const p = IMAGE_PRESETS[preset.value];
    if (!p) return;
    $('#run-custom-image-mean').value = numbers(p.mean);
    $('#run-custom-image-std').value = numbers(p.std);
  };
  preset.onchange = () => { fill(); changed(); };
  for (const id of ['#run-custom-image-mean', '#run-custom-image-std']) {
    $(id).onchange = () => { preset.value = 'custom'; changed(); };
  }
  $('#run-custom-image-order').onchange = () => changed();
  fill();
}

export function showImageSettings(inputName) {
  $('#run-custom-image').hidden = !inputName;
  $('#run-custom-image-input').textContent = inputName ? `'${inputName}'` : '';
}

// {scale, mean, std, order} from the fields; throws a message naming the field that is wrong.
export function imageSettings() {
  const p = IMAGE_PRESETS[$('#run-custom-image-preset').value];
  const three = (id, what, ok) => {
    const text = $(id).value;
    const v = text.split(/[\s,]+/).filter(Boolean).map(Number);
    if (v.length === 1) v.push(v[0], v[0]);
    if (v.length !== 3 || !v.every(ok)) throw new Error(`the images' ${what} must be one or three numbers${what === 'std' ? ', none of them 0' : ''}, not '${text}'`);
    return v;
  };
  return {
    scale: p ? p.scale : 1 / 255,
    mean: three('#run-custom-image-mean', 'mean', Number.isFinite),
    std: three('#run-custom-image-std', 'std', (x) => Number.isFinite(x) && x !== 0),
    order: $('#run-custom-image-order').value,
  };
}
