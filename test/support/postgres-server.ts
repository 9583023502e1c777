/**
 * A private PostgreSQL cluster for fault tests: initdb into a temp dir, pg_ctl on a free port, so
 * a test can stop and start it without touching the shared server on 5432. The server refuses to
 * run as root, so as root everything runs as the `postgres` user (`runuser`), like .ci/run does.
 * `unavailableReason()` says why it cannot run here (no binaries, no postgres user): tests skip
 * with that reason instead of failing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const PG_ROOT = '/usr/lib/postgresql';

/** bin/ of the newest installed PostgreSQL, or null. */
function pgBinDir(): string | null {
  if (!existsSync(PG_ROOT)) return null;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(a) - Number(b));
  return versions.length ? join(PG_ROOT, versions[versions.length - 1], 'bin') : null;
}

function postgresUid(): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return null;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Why a private cluster cannot be started on this machine, or null when it can. */
export function unavailableReason(): string | null {
  if (process.platform !== 'linux') return `private PostgreSQL cluster needs Linux (this is ${process.platform})`;
  if (!pgBinDir()) return `no PostgreSQL server binaries under ${PG_ROOT}/<version>/bin (apt-get install postgresql)`;
  const root = process.getuid?.() === 0;
  if (root && !postgresUid()) return 'running as root but there is no "postgres" user to run the server as';
  return null;
}

export interface PostgresServer {
  port: number;
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** `pg_ctl stop -m fast|immediate`: fast ends sessions cleanly, immediate is a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  /** `pg_ctl start -w` on the same data directory and port. */
  start(): void;
  /** Stops it (if running) and removes its directory. */
  destroy(): void;
}

/** initdb + start. Throws when unavailableReason() is not null. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const reason = unavailableReason();
  if (reason) throw new Error(reason);
  const bin = pgBinDir()!;
  const root = process.getuid?.() === 0;
  const owner = root ? postgresUid()! : null;
  const dir = mkdtempSync(join(tmpdir(), 'distilxr-pg-'));
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  // runuser keeps our environment; PGDATA etc. are passed explicitly
  const run = (tool: string, args: string[]): void => {
    const cmd = root ? 'runuser' : join(bin, tool);
    const argv = root ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    try {
      execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, timeout: 60_000 });
    } catch (e) {
      const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
      throw new Error(`${tool} ${args.join(' ')} failed: ${err.stderr?.toString() || err.stdout?.toString() || err.message}`);
    }
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  // fsync off: a throwaway cluster; -k: the socket in our own dir, never /var/run/postgresql
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`;
  let running = false;
  const server: PostgresServer = {
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start() {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', '-t', '30', 'start']);
      running = true;
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
      running = false;
    },
    destroy() {
      try {
        if (running) server.stop('immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    server.start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return server;
}
