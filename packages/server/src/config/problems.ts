// A config problem or warning, located by its YAML path (and line, when the file has the key),
// rendered as one line: `dispatcher.sets[1].destinations[0].uri: not a SIP URI (line 12)`.

import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type PathSegment = string | number;

export interface Problem {
  /** Segments of the YAML path, or a single label such as an environment variable's name. */
  readonly path: readonly PathSegment[] | string;
  readonly message: string;
}

export function formatPath(path: readonly PathSegment[] | string): string {
  if (typeof path === 'string') return path;
  if (path.length === 0) return '(top level)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Finds the position of the deepest node the path reaches (a map entry's key line, a list item's line). */
export class LineFinder {
  constructor(private readonly doc: Document, private readonly lines: LineCounter) {}

  lineOf(path: readonly PathSegment[] | string): number | undefined {
    const offset = this.offsetOf(path);
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  /** Character offset of the node the path reaches (for ordering problems as they appear). */
  offsetOf(path: readonly PathSegment[] | string): number | undefined {
    if (typeof path === 'string') return undefined;
    let node: unknown = this.doc.contents;
    let offset = this.offsetAt(node);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
        if (!pair) break;
        offset = this.offsetAt(pair.key) ?? this.offsetAt(pair.value) ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item: unknown = node.items[seg];
        if (item === undefined) break;
        offset = this.offsetAt(item) ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return offset;
  }

  private offsetAt(node: unknown): number | undefined {
    return (node as Node | null | undefined)?.range?.[0];
  }
}

export function renderProblems(problems: readonly Problem[], finder: LineFinder | null): string[] {
  const located = problems.map((p, index) => {
    const offset = finder?.offsetOf(p.path);
    return { p, index, offset, line: offset === undefined ? undefined : finder?.lineOf(p.path) };
  });
  // File order reads best; problems without a position (environment, whole document) go last.
  located.sort((a, b) => (a.offset ?? Infinity) - (b.offset ?? Infinity) || a.index - b.index);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const { p, line } of located) {
    const text = `${formatPath(p.path)}: ${p.message}${line === undefined ? '' : ` (line ${line})`}`;
    if (!seen.has(text)) out.push(text);
    seen.add(text);
  }
  return out;
}
