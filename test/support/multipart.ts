/** multipart/form-data bodies for upload requests (app.inject or fetch). */

export type Files = Record<string, { data: Uint8Array | string; filename?: string }>;

/** Fields first, then files; a file without a filename is sent as `<field>.txt`. */
export function form(files: Files, fields: Record<string, string> = {}): FormData {
  const fd = new FormData();
  for (const [name, value] of Object.entries(fields)) fd.append(name, value);
  for (const [name, f] of Object.entries(files)) fd.append(name, new Blob([typeof f.data === 'string' ? f.data : Buffer.from(f.data)]), f.filename ?? `${name}.txt`);
  return fd;
}
