// The drawing pad: a canvas drawn on with a mouse, a pen or a finger (pointer events), or with
// the keyboard (arrow keys draw from a cursor, Shift+arrow moves it without ink, Delete
// clears). White ink on black, like the MNIST digits. `onChange()` fires after each stroke.
export class DrawingPad {
  constructor(canvas, { onChange, lineWidth = 22 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.onChange = onChange ?? (() => {});
    this.lineWidth = lineWidth;
    this.cursor = { x: canvas.width / 2, y: canvas.height / 2 };
    this.last = null;
    this.clear(false);

    canvas.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      if (this.showingDigit) this.clear(false);
      this.last = this.toCanvas(e);
      this.segment(this.last, this.last);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.last) return;
      // Coalesced events keep fast strokes smooth (a pen reports many points per frame).
      for (const ev of e.getCoalescedEvents?.() ?? [e]) {
        const p = this.toCanvas(ev);
        this.segment(this.last, p);
        this.last = p;
      }
    });
    const end = () => {
      if (!this.last) return;
      this.last = null;
      this.onChange();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('keydown', (e) => this.key(e));
  }

  toCanvas(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * this.canvas.width, y: ((e.clientY - r.top) / r.height) * this.canvas.height };
  }

  segment(a, b) {
    const { ctx } = this;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.lineWidth;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x + 0.01, b.y);
    ctx.stroke();
    this.empty = false;
    this.showingDigit = false;
  }

  // Shows a 28×28 test digit, scaled up; the next stroke starts a fresh drawing.
  showDigit(pixels) {
    const small = document.createElement('canvas');
    small.width = small.height = 28;
    drawDigit(small, pixels);
    this.ctx.imageSmoothingEnabled = false;
    this.ctx.drawImage(small, 0, 0, this.canvas.width, this.canvas.height);
    this.empty = false;
    this.showingDigit = true;
  }

  key(e) {
    const step = 14;
    const d = { ArrowUp: [0, -step], ArrowDown: [0, step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] }[e.key];
    if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      this.clear();
      return;
    }
    if (!d) return;
    e.preventDefault();
    if (this.showingDigit) this.clear(false);
    const { width, height } = this.canvas;
    const next = { x: Math.min(width - 10, Math.max(10, this.cursor.x + d[0])), y: Math.min(height - 10, Math.max(10, this.cursor.y + d[1])) };
    if (!e.shiftKey) {
      this.segment(this.cursor, next);
      this.cursor = next;
      this.onChange();
    } else {
      this.cursor = next;
    }
    this.canvas.parentElement.style.setProperty('--cursor-x', `${(100 * next.x) / width}%`);
    this.canvas.parentElement.style.setProperty('--cursor-y', `${(100 * next.y) / height}%`);
  }

  clear(notify = true) {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.empty = true;
    this.showingDigit = false;
    this.cursor = { x: this.canvas.width / 2, y: this.canvas.height / 2 };
    if (notify) this.onChange();
  }

  // Ink per pixel in [0, 1] (the red channel of white-on-black), row-major.
  ink() {
    const { width, height } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, width, height).data;
    const ink = new Float32Array(width * height);
    for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i] / 255;
    return ink;
  }
}

// Draws a 28×28 image (values in [0, 1]) onto a 28×28 canvas, white on black.
export function drawDigit(canvas, pixels) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}
