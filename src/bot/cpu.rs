//! This process's CPU time (user + system), from `/proc/self/stat` (Linux). The crate forbids
//! `unsafe`, which rules out calling `getrusage` through `libc`; procfs gives the same numbers.

use std::time::Duration;

/// Clock ticks per second in `/proc/*/stat`: Linux's `USER_HZ`, fixed at 100 on every
/// architecture rally targets (the kernel converts from its internal `HZ`).
const USER_HZ: u64 = 100;

/// User and system CPU time consumed so far by this process (all threads), or `None` where
/// `/proc` is unavailable.
pub fn process_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (user, system) = parse_proc_stat(&text)?;
    Some(ticks(user) + ticks(system))
}

fn ticks(n: u64) -> Duration {
    Duration::from_millis(n.saturating_mul(1000 / USER_HZ))
}

/// `(utime, stime)` in clock ticks from a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may itself contain spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: state (3), ppid … cmajflt (4–13), utime (14), stime (15).
    let utime = fields.nth(11)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let line = "4242 (rally (x) y) S 1 4242 4242 0 -1 4194304 1200 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_proc_stat(line), Some((250, 75)));
        assert_eq!(parse_proc_stat("garbage"), None);
        assert_eq!(parse_proc_stat("1 (x) S 1 2"), None);
        assert_eq!(ticks(250) + ticks(75), Duration::from_millis(3250));
    }

    #[test]
    fn reads_own_cpu_time() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(process_cpu_time().is_some());
        }
    }
}
