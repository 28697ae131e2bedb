/** CPU and load figures from /proc for the benchmarks (NaN where there is no /proc). */

export function loadAverage1m(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) of a process so far, from /proc; NaN elsewhere. */
export function cpuS(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of all PostgreSQL processes on this machine (backends come and go: + children). */
export function postgresCpuS(): number {
  let total = 0;
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
        if (!stat.includes("(postgres)")) continue;
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
      } catch { /* exited meanwhile */ }
    }
  } catch {
    return NaN;
  }
  return total;
}
