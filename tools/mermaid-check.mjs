// Parses Mermaid diagrams with mermaid's own parser, no browser: reads a JSON
// array of diagram texts on stdin, writes one JSON array of results, each
// {"error": "..."} or {"nodes": [{"id", "label"}]} (flowchart vertices and
// subgraphs, state diagram states). Run by `cargo xtask docs diagrams` from
// the node_modules it installed from tools/package.json and its lock.
import DOMPurify from 'dompurify';

// Without a DOM, DOMPurify comes without its hooks; parsing renders and sanitizes nothing.
if (typeof DOMPurify.addHook !== 'function') {
  DOMPurify.addHook = () => {};
  DOMPurify.removeHook = () => {};
  DOMPurify.sanitize = (s) => s;
}
const { default: mermaid } = await import('mermaid');

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const texts = JSON.parse(Buffer.concat(chunks).toString('utf8'));

// `[*]` becomes a pseudo-state `<parent>_start` or `<parent>_end`: no name of ours.
const pseudo = (id, text) => text.includes('[*]') && /_(start|end)$/.test(id);

function nodes(db, text) {
  const out = [];
  if (typeof db.getVertices === 'function') {
    for (const [id, v] of db.getVertices()) out.push({ id, label: String(v.text ?? id) });
    for (const s of db.getSubGraphs()) out.push({ id: s.id, label: String(s.title ?? s.id) });
  }
  if (typeof db.getStates === 'function') {
    const states = db.getStates();
    for (const [id, s] of states instanceof Map ? states : Object.entries(states)) {
      if (s.type === 'start' || s.type === 'end' || pseudo(id, text)) continue;
      out.push({ id, label: (s.descriptions && s.descriptions[0]) || id });
    }
  }
  return out;
}

const results = [];
for (const text of texts) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    results.push({ nodes: nodes(diagram.db, text) });
  } catch (e) {
    results.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(results));
