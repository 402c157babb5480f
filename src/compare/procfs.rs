//! What the experiment reads from Linux's `/proc`: CPU time, peak memory, listen-queue
//! overflows and a description of the machine.
//!
//! Each reader is split in two: a parser over literal text (unit-tested below) and a thin
//! function that reads the file. Off Linux, or where a file is missing, the readers return
//! `None` and the report prints "n/a" rather than a made-up figure.

use std::fs;
use std::time::Duration;

use serde::Serialize;

/// The kernel reports CPU time in clock ticks of `USER_HZ`, which is fixed at 100 on every
/// Linux architecture's user ABI (proc(5), "utime").
pub const USER_HZ: u64 = 100;

/// Fields of `/proc/<pid>/stat`, counted from 1 as in proc(5), after the `(comm)` field.
const STAT_FIELD_UTIME: usize = 14;
const STAT_FIELD_STIME: usize = 15;

/// The field number that follows `(comm)`: `state` is field 3.
const STAT_FIELD_AFTER_COMM: usize = 3;

/// Writing this to `/proc/self/clear_refs` resets the peak RSS (`VmHWM`), proc(5).
const CLEAR_REFS_RESET_PEAK_RSS: &str = "5";

/// CPU time split as the kernel reports it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuTime {
    pub user_ticks: u64,
    pub system_ticks: u64,
}

impl CpuTime {
    pub fn total(&self) -> Duration {
        let ticks = self.user_ticks + self.system_ticks;
        Duration::from_millis(ticks * 1000 / USER_HZ)
    }

    pub fn user(&self) -> Duration {
        Duration::from_millis(self.user_ticks * 1000 / USER_HZ)
    }

    pub fn system(&self) -> Duration {
        Duration::from_millis(self.system_ticks * 1000 / USER_HZ)
    }

    /// `self - earlier`, never below zero.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user_ticks: self.user_ticks.saturating_sub(earlier.user_ticks),
            system_ticks: self.system_ticks.saturating_sub(earlier.system_ticks),
        }
    }

    /// `self - other`, never below zero: the server's share once the generator's is taken.
    pub fn minus(&self, other: &CpuTime) -> CpuTime {
        self.since(other)
    }

    pub fn plus(&self, other: &CpuTime) -> CpuTime {
        CpuTime {
            user_ticks: self.user_ticks + other.user_ticks,
            system_ticks: self.system_ticks + other.system_ticks,
        }
    }
}

/// utime and stime from the text of a `stat` file. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat_cpu(text: &str) -> Option<CpuTime> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let utime = fields.nth(STAT_FIELD_UTIME - STAT_FIELD_AFTER_COMM)?;
    let stime = fields.next()?;
    debug_assert_eq!(STAT_FIELD_STIME, STAT_FIELD_UTIME + 1);
    Some(CpuTime {
        user_ticks: utime.parse().ok()?,
        system_ticks: stime.parse().ok()?,
    })
}

/// The whole process's CPU time, threads that have exited included.
pub fn process_cpu() -> Option<CpuTime> {
    parse_stat_cpu(&fs::read_to_string("/proc/self/stat").ok()?)
}

/// The calling thread's own CPU time.
pub fn thread_cpu() -> Option<CpuTime> {
    parse_stat_cpu(&fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// A `Key:   1234 kB` line of `/proc/self/status`, in bytes.
pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split(':').next() == Some(key))?;
    let value = line.split(':').nth(1)?.trim();
    let kib: u64 = value.strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Reset the process's peak RSS so that the next [`peak_rss`] covers one run. Returns
/// whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", CLEAR_REFS_RESET_PEAK_RSS).is_ok()
}

/// Peak resident memory of the whole process since start or the last [`reset_peak_rss`].
pub fn peak_rss() -> Option<u64> {
    parse_status_kib(&fs::read_to_string("/proc/self/status").ok()?, "VmHWM")
}

/// The listen-queue counters of `/proc/net/netstat`'s `TcpExt` section.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListenCounters {
    /// SYNs or completed handshakes dropped because the accept queue was full.
    pub overflows: u64,
    /// Every drop at a listening socket, overflows included.
    pub drops: u64,
}

impl ListenCounters {
    pub fn since(&self, earlier: &ListenCounters) -> ListenCounters {
        ListenCounters {
            overflows: self.overflows.saturating_sub(earlier.overflows),
            drops: self.drops.saturating_sub(earlier.drops),
        }
    }
}

/// `/proc/net/netstat` holds pairs of lines, a header of names and a line of values, each
/// starting with the section name; find `TcpExt` and pick the two counters by name.
pub fn parse_netstat_listen(text: &str) -> Option<ListenCounters> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next()?;
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let pairs: Vec<(&str, &str)> = names
            .split_ascii_whitespace()
            .zip(values.split_ascii_whitespace())
            .collect();
        let find = |key: &str| {
            let (_, value) = pairs.iter().find(|(name, _)| *name == key)?;
            value.parse().ok()
        };
        return Some(ListenCounters {
            overflows: find("ListenOverflows")?,
            drops: find("ListenDrops")?,
        });
    }
    None
}

pub fn listen_counters() -> Option<ListenCounters> {
    parse_netstat_listen(&fs::read_to_string("/proc/net/netstat").ok()?)
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct MachineInfo {
    /// Cores this process may run on.
    pub cores: usize,
    pub cpu_model: Option<String>,
    pub memory_bytes: Option<u64>,
    pub kernel: Option<String>,
    pub os: &'static str,
    pub arch: &'static str,
    /// `rustc --version` when a rustc is on the PATH.
    pub rustc: Option<String>,
    /// Open files allowed per process, from `/proc/self/limits`.
    pub max_open_files: Option<u64>,
    /// `net.ipv4.ip_local_port_range`: how many ephemeral ports one source address has.
    pub ephemeral_ports: Option<String>,
    /// `net.ipv4.tcp_tw_reuse`: 2 means TIME_WAIT reuse for loopback only.
    pub tcp_tw_reuse: Option<String>,
    pub somaxconn: Option<String>,
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn parse_cpu_model(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
pub fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let rest = line.trim_start_matches("Max open files");
    rest.split_ascii_whitespace().next()?.parse().ok()
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    Some(text.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
}

fn rustc_version() -> Option<String> {
    let out = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

pub fn machine_info() -> MachineInfo {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    MachineInfo {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: parse_cpu_model(&cpuinfo),
        memory_bytes: parse_status_kib(&meminfo, "MemTotal"),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        rustc: rustc_version(),
        max_open_files: parse_max_open_files(&limits),
        ephemeral_ports: read_trimmed("/proc/sys/net/ipv4/ip_local_port_range"),
        tcp_tw_reuse: read_trimmed("/proc/sys/net/ipv4/tcp_tw_reuse"),
        somaxconn: read_trimmed("/proc/sys/net/core/somaxconn"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_a_command_name_with_spaces_and_parens() {
        let text = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194304 102 0 0 0 \
                    731 29 0 0 20 0 3 0 78967 2998272 407";
        let cpu = parse_stat_cpu(text).expect("parses");
        assert_eq!(
            cpu,
            CpuTime {
                user_ticks: 731,
                system_ticks: 29
            }
        );
        assert_eq!(cpu.total(), Duration::from_millis(7600));
    }

    #[test]
    fn stat_cpu_rejects_truncated_text() {
        assert_eq!(parse_stat_cpu("12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat_cpu("no parenthesis here"), None);
    }

    #[test]
    fn cpu_time_differences_never_go_below_zero() {
        let a = CpuTime {
            user_ticks: 5,
            system_ticks: 1,
        };
        let b = CpuTime {
            user_ticks: 3,
            system_ticks: 4,
        };
        assert_eq!(
            a.minus(&b),
            CpuTime {
                user_ticks: 2,
                system_ticks: 0
            }
        );
    }

    #[test]
    fn status_reads_peak_rss_in_bytes() {
        let text = "Name:\tpushpull\nVmPeak:\t  20000 kB\nVmHWM:\t    1940 kB\nVmRSS:\t 1800 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(1940 * 1024));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
    }

    #[test]
    fn netstat_picks_listen_counters_from_the_tcpext_pair() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TW\n\
                    TcpExt: 0 17 19 3\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 0 99\n";
        let counters = parse_netstat_listen(text).expect("parses");
        assert_eq!(
            counters,
            ListenCounters {
                overflows: 17,
                drops: 19
            }
        );
    }

    #[test]
    fn netstat_without_tcpext_is_none() {
        assert_eq!(parse_netstat_listen("IpExt: A B\nIpExt: 1 2\n"), None);
    }

    #[test]
    fn cpuinfo_and_limits_parse() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n";
        assert_eq!(parse_cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            20000                20000                files\n";
        assert_eq!(parse_max_open_files(limits), Some(20000));
    }

    #[test]
    fn this_machine_reports_its_own_cpu_time() {
        // Only meaningful on Linux, where /proc exists; elsewhere the readers say None.
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
            assert!(thread_cpu().is_some());
            assert!(listen_counters().is_some());
        }
    }
}
