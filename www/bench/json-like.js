// The benches' compressible text, one definition for echo.js and
// echo-count.js, so that both measure the same bytes.

/**
 * JSON-like text of exactly `size` characters (ASCII): records of an API
 * answer, with numbers and names that vary, so that it compresses as such
 * text does (some 4-6×), not as one repeated byte.
 */
export function jsonLike(size) {
  let text = '[';
  for (let i = 0; text.length < size; i++) {
    text +=
      `{"id":${i},"user":"user-${(i * 7919) % 100003}","active":${i % 3 !== 0},` +
      `"score":${((i * 2654435761) % 1000003) / 1000},"tags":["t${i % 17}","t${i % 5}"],` +
      `"updated":"2026-12-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00Z"},`;
  }
  return text.slice(0, size);
}
