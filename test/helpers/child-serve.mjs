// The child side of child-rpc.ts: answers each { id, cmd, args } with { id, ok } or
// { id, error: code }, then reports that it started.
export function serve(commands) {
  process.on('message', async ({ id, cmd, args }) => {
    try {
      process.send({ id, ok: await commands[cmd](args ?? {}) });
    } catch (err) {
      process.send({ id, error: err?.code ?? String(err) });
    }
  });
  process.send({ event: 'started' });
}
