/** What the machine is, for logs, `bnff info` and every benchmark's JSON. */
import fs from 'node:fs';
import os from 'node:os';

/** The CPU's model name, with its family and model numbers on Linux (a VM often names only the brand). */
export function cpuModel(): string {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(info);
    // a virtual machine often names only the brand: family and model tell the generation
    const fam = /^cpu family\s*:\s*(\d+)$/m.exec(info),
      mod = /^model\s*:\s*(\d+)$/m.exec(info);
    if (m) return `${m[1]!.trim()}${fam && mod ? ` (family ${fam[1]}, model ${mod[1]})` : ''}`;
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}
