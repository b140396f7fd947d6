//! Whether the process that wrote a `running` row is still there: by its pid and its start
//! time, so a reused pid is not taken for the run's.

/// Whether `pid` is still the process that wrote the row. A pid of another host cannot be
/// checked and counts as alive.
pub(super) fn is_alive(pid: i64, start: Option<i64>, same_host: bool) -> bool {
    if !same_host {
        return true;
    }
    let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    let exists = match rustix::process::test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    };
    // A zombie still answers kill(0) but will never finish the row.
    exists
        && match proc_stat(pid as u32) {
            Some((state, started)) => state != b'Z' && (start.is_none() || start == Some(started)),
            None => start.is_none(),
        }
}

/// The start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`);
/// with the pid it names one process for the machine's uptime.
pub(super) fn process_start(pid: u32) -> Option<i64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// The state letter (field 3) and start time (field 22) of `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u8, i64)> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let mut fields = after.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let start = std::str::from_utf8(fields.nth(18)?).ok()?.parse().ok()?;
    Some((state, start))
}
