// The Learn view: six small panels, each in its own module with `mount(section)`.
import { mountNumbers } from './numbers.js';
import { mountBlocks } from './blocks.js';

export function mountLearn() {
  mountNumbers();
  mountBlocks();
}
