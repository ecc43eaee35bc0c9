// HiDPI canvas drawing: crisp on any devicePixelRatio.

/**
 * Size `canvas` to `cssWidth` x `cssHeight` CSS pixels at the screen's pixel density.
 * @param {HTMLCanvasElement} canvas
 * @param {number} cssWidth
 * @param {number} cssHeight
 * @returns {CanvasRenderingContext2D} its context, scaled to CSS pixels
 */
export function sizeCanvas(canvas, cssWidth, cssHeight) {
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.setTransform(canvas.width / cssWidth, 0, 0, canvas.height / cssHeight, 0, 0);
  return ctx;
}

/**
 * An offscreen canvas holding RGBA pixels (Uint8ClampedArray of width*height*4).
 * @param {Uint8ClampedArray<ArrayBuffer>} rgba
 * @param {number} width
 * @param {number} height
 * @returns {HTMLCanvasElement}
 */
export function pixelCanvas(rgba, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d")).putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas;
}

/**
 * RGBA pixels of an (h, w, 3) uint8 tensor.
 * @param {{shape: number[], data: ArrayLike<number>}} tensor
 * @returns {Uint8ClampedArray<ArrayBuffer>}
 */
export function rgbToRgba(tensor) {
  const [height, width] = tensor.shape;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    rgba[4 * i] = tensor.data[j];
    rgba[4 * i + 1] = tensor.data[j + 1];
    rgba[4 * i + 2] = tensor.data[j + 2];
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

/**
 * Draw `source` scaled into the rectangle, pixelated when it is magnified a lot.
 * @param {CanvasRenderingContext2D} ctx
 * @param {HTMLCanvasElement} source
 * @param {number} x
 * @param {number} y
 * @param {number} width
 * @param {number} height
 */
export function drawScaled(ctx, source, x, y, width, height) {
  ctx.imageSmoothingEnabled = width / source.width < 4;
  ctx.drawImage(source, x, y, width, height);
}
