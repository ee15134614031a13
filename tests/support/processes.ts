// Whether a process still runs, for the tests and the bench that check what a kill or a stop left.

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
