// Monospace grid layout of a text: the row, column and width of every character, for drawing
// it cell by cell on a canvas and for finding the character under the pointer.

const TAB = 4; // columns of a tab stop

/**
 * @typedef {{row: Int32Array, col: Int32Array, span: Int32Array, line: Int32Array,
 *   rowStart: number[], rows: number}} TextLayout
 */

/**
 * Lay `text` out on a grid `columns` wide: each character's row, column and width in columns
 * (a tab reaches the next tab stop, a newline takes one cell and ends the row, a character that
 * does not fit wraps to the next row) and its line number; `rowStart[r]` is the first
 * character of row r (`rowStart[rows]` is the text's length).
 * @param {string} text
 * @param {number} columns
 * @returns {TextLayout}
 */
export function layoutText(text, columns) {
  const n = text.length;
  const row = new Int32Array(n);
  const col = new Int32Array(n);
  const span = new Int32Array(n);
  const line = new Int32Array(n);
  const rowStart = [0];
  let r = 0;
  let c = 0;
  let l = 0;
  for (let i = 0; i < n; i++) {
    const ch = text[i];
    const width = ch === "\t" ? TAB - (c % TAB) : 1;
    if (c > 0 && c + width > columns && ch !== "\n") {
      r += 1;
      c = 0;
      rowStart.push(i);
    }
    row[i] = r;
    col[i] = c;
    span[i] = width;
    line[i] = l;
    c += width;
    if (ch === "\n") {
      r += 1;
      c = 0;
      l += 1;
      rowStart.push(i + 1);
    }
  }
  const rows = n > 0 && text[n - 1] === "\n" ? r : r + 1;
  if (rowStart.length > rows) rowStart.length = rows;
  rowStart.push(n);
  return { row, col, span, line, rowStart, rows };
}

/**
 * Index of the character in cell (`r`, `c`) of a layout, or -1 for an empty cell.
 * @param {TextLayout} layout
 * @param {number} r
 * @param {number} c
 */
export function charAtCell(layout, r, c) {
  if (r < 0 || r >= layout.rows || c < 0) return -1;
  for (let i = layout.rowStart[r]; i < layout.rowStart[r + 1]; i++) {
    if (c >= layout.col[i] && c < layout.col[i] + layout.span[i]) return i;
  }
  return -1;
}
