//! Memory before allocating: what a command will need against what the machine has.
//!
//! [`available`] reads the room the kernel reports (`MemAvailable`, and a cgroup's limit
//! minus its usage when one is set; `GEN_MEMORY_LIMIT` overrides both). An [`Estimate`]
//! lists what a command holds at once. While a [`ParamBudget`] is open on a thread, every
//! parameter [`crate::vars::Vb::var`] creates on it is charged first: one that would
//! cross the budget is not allocated (a zero-size placeholder stands in for it), so
//! building a model far too big for the machine costs nothing and still counts it.

use std::cell::RefCell;
use std::fmt;

/// Environment variable that sets the memory gen may use, e.g. `16G` or `500M` (to stay
/// below what a shared machine reports, or to go above it onto swap).
pub const LIMIT_ENV: &str = "GEN_MEMORY_LIMIT";

/// The memory a command may use, and where that figure came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Available {
    pub bytes: u64,
    pub source: String,
}

/// What this machine has: `GEN_MEMORY_LIMIT` if set, else the smaller of `MemAvailable`
/// and the room under a cgroup memory limit. `None` where the platform does not say.
/// An unparsable `GEN_MEMORY_LIMIT` is an error naming it.
pub fn available() -> Result<Option<Available>, String> {
    if let Ok(v) = std::env::var(LIMIT_ENV) {
        let bytes = parse_size(&v).ok_or_else(|| {
            format!("{LIMIT_ENV}={v}: not a size; write bytes with an optional K, M, G or T suffix, e.g. {LIMIT_ENV}=16G")
        })?;
        return Ok(Some(Available {
            bytes,
            source: format!("{LIMIT_ENV}={v}"),
        }));
    }
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mem = read("/proc/meminfo")
        .and_then(|t| meminfo_available(&t))
        .map(|bytes| Available {
            bytes,
            source: "available memory (MemAvailable)".into(),
        });
    // cgroup v2: this process's own group (from /proc/self/cgroup), then the mount's
    // root (what a container sees); v1: the memory controller's mount.
    let own = read("/proc/self/cgroup")
        .and_then(|t| cgroup_v2_path(&t))
        .map(|p| format!("/sys/fs/cgroup{p}"));
    let dirs = own
        .into_iter()
        .chain(["/sys/fs/cgroup".to_string()])
        .map(|d| (format!("{d}/memory.max"), format!("{d}/memory.current")))
        .chain([(
            "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string(),
            "/sys/fs/cgroup/memory/memory.usage_in_bytes".to_string(),
        )]);
    let cgroup = dirs
        .filter_map(|(max, cur)| cgroup_room(&read(&max)?, &read(&cur)?))
        .min()
        .map(|bytes| Available {
            bytes,
            source: "room under the cgroup memory limit".into(),
        });
    Ok(match (mem, cgroup) {
        (Some(m), Some(c)) => Some(if c.bytes < m.bytes { c } else { m }),
        (m, c) => m.or(c),
    })
}

/// The cgroup v2 path of a `/proc/self/cgroup` text (its `0::/path` line).
pub fn cgroup_v2_path(text: &str) -> Option<String> {
    let p = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    (p.starts_with('/') && p.len() > 1).then(|| p.to_string())
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub fn meminfo_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The room under a cgroup limit (v2 `memory.max`/`memory.current` or v1
/// `memory.limit_in_bytes`/`memory.usage_in_bytes`); `None` when there is no limit.
pub fn cgroup_room(max: &str, current: &str) -> Option<u64> {
    let max: u64 = max.trim().parse().ok()?; // "max" (v2, no limit) does not parse
    if max >= 1 << 60 {
        return None; // v1's "no limit" is a page-rounded i64::MAX
    }
    let current: u64 = current.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// `123`, `64K`, `500M`, `16G`, `1.5T` (powers of 1024; a trailing `B` or `iB` is allowed).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 10),
        'M' => (&t[..t.len() - 1], 20),
        'G' => (&t[..t.len() - 1], 30),
        'T' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * (1u64 << shift) as f64) as u64)
}

/// Bytes for people: `512 B`, `3.1 MiB`, `1.2 GiB`, `291.5 TiB`.
pub fn human(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// What a command holds in memory at once, part by part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    pub parts: Vec<(String, u64)>,
}

impl Estimate {
    pub fn add(&mut self, what: impl Into<String>, bytes: u64) -> &mut Self {
        self.parts.push((what.into(), bytes));
        self
    }

    pub fn total(&self) -> u64 {
        self.parts
            .iter()
            .map(|(_, b)| b)
            .fold(0, |a, &b| a.saturating_add(b))
    }

    /// `None` when the estimate fits `available` (or the machine does not say); else the
    /// error: the estimate, the limit, and `fix`.
    pub fn check(&self, available: Option<&Available>, fix: &str) -> Option<String> {
        let a = available?;
        (self.total() > a.bytes).then(|| {
            format!(
                "not enough memory: this needs about {self}, but the {} is {}; {fix}",
                a.source,
                human(a.bytes)
            )
        })
    }
}

impl fmt::Display for Estimate {
    /// `1.2 GiB (parameters 3.1 MiB, data 219.6 MiB, ...)`, the parts largest first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = self.parts.clone();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        let list: Vec<String> = parts
            .iter()
            .map(|(w, b)| format!("{w} {}", human(*b)))
            .collect();
        write!(f, "{} ({})", human(self.total()), list.join(", "))
    }
}

/// The first parameter that did not fit a [`ParamBudget`].
#[derive(Clone, Debug, PartialEq)]
pub struct Overrun {
    pub name: String,
    pub dims: Vec<usize>,
    pub bytes: u64,
}

/// What the parameters built under a [`ParamBudget`] take: all of them, allocated or not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamCount {
    pub bytes: u64,
    pub count: u64,
    pub overrun: Option<Overrun>,
}

struct Open {
    limit: u64,
    count: ParamCount,
}

thread_local! {
    static BUDGET: RefCell<Option<Open>> = const { RefCell::new(None) };
}

/// Charges parameters created on this thread against `limit` bytes until it is closed
/// (or dropped). Budgets do not nest: opening one replaces the open one.
pub struct ParamBudget(());

impl ParamBudget {
    pub fn open(limit: u64) -> Self {
        BUDGET.with(|b| {
            *b.borrow_mut() = Some(Open {
                limit,
                count: ParamCount::default(),
            })
        });
        ParamBudget(())
    }

    /// Every parameter charged since [`ParamBudget::open`], and the first that did not fit.
    pub fn close(self) -> ParamCount {
        BUDGET.with(|b| b.borrow_mut().take().map(|o| o.count).unwrap_or_default())
    }
}

impl Drop for ParamBudget {
    fn drop(&mut self) {
        BUDGET.with(|b| b.borrow_mut().take());
    }
}

/// Charges a new parameter of `elements` x `elem_bytes` to the open budget, if any:
/// `true` when it may be allocated, `false` when it (or an earlier one) crossed the budget.
pub fn charge(name: &str, dims: &[usize], elem_bytes: usize) -> bool {
    BUDGET.with(|b| {
        let mut b = b.borrow_mut();
        let Some(open) = b.as_mut() else {
            return true;
        };
        let elements = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64));
        let bytes = elements.saturating_mul(elem_bytes as u64);
        let c = &mut open.count;
        c.count = c.count.saturating_add(elements);
        c.bytes = c.bytes.saturating_add(bytes);
        if c.overrun.is_none() && c.bytes > open.limit {
            c.overrun = Some(Overrun {
                name: name.to_string(),
                dims: dims.to_vec(),
                bytes,
            });
        }
        c.overrun.is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_kernel_files_parse() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("64K"), Some(65_536));
        assert_eq!(parse_size("1.5G"), Some(1_610_612_736));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("3t"), Some(3 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1G"), None);
        let meminfo =
            "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   24063092 kB\n";
        assert_eq!(meminfo_available(meminfo), Some(24_063_092 * 1024));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
        assert_eq!(cgroup_room("max\n", "123\n"), None);
        assert_eq!(
            cgroup_v2_path("1:cpu:/\n0::/user.slice/session-2.scope\n"),
            Some("/user.slice/session-2.scope".into())
        );
        assert_eq!(cgroup_v2_path("0::/\n"), None); // the root has no memory.max
        assert_eq!(cgroup_v2_path("4:memory:/x\n"), None);
        assert_eq!(cgroup_room("9223372036854771712\n", "2981183488\n"), None);
        assert_eq!(
            cgroup_room("1073741824\n", "73741824\n"),
            Some(1_000_000_000)
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 * 1024 * 1024 + 100 * 1024), "3.1 MiB");
        // 10^8 x 784 f32: the encoder weight of `model.hidden: [100000000]`.
        assert_eq!(human(313_600_000_000), "292.1 GiB");
        assert_eq!(human(5 << 40), "5.0 TiB");
    }

    #[test]
    fn estimate_lists_parts_largest_first_and_checks_the_limit() {
        let mut e = Estimate::default();
        e.add("parameters", 1 << 20).add("data", 3 << 20);
        assert_eq!(e.total(), 4 << 20);
        assert_eq!(e.to_string(), "4.0 MiB (data 3.0 MiB, parameters 1.0 MiB)");
        let room = |bytes| Available {
            bytes,
            source: "available memory (MemAvailable)".into(),
        };
        assert_eq!(e.check(Some(&room(4 << 20)), "fix it"), None);
        assert_eq!(e.check(None, "fix it"), None);
        let msg = e.check(Some(&room(1 << 20)), "fix it").unwrap();
        assert_eq!(
            msg,
            "not enough memory: this needs about 4.0 MiB (data 3.0 MiB, parameters 1.0 MiB), \
             but the available memory (MemAvailable) is 1.0 MiB; fix it"
        );
    }

    /// The budget counts every parameter, refuses those past the limit (and all after the
    /// first refusal), and is gone once closed.
    #[test]
    fn the_budget_counts_everything_and_allocates_what_fits() {
        let b = ParamBudget::open(1000);
        assert!(charge("a", &[10, 20], 4)); // 800 bytes
        assert!(!charge("b", &[100], 4)); // 1,200 > 1,000
        assert!(!charge("c", &[1], 4)); // after an overrun nothing is allocated
        let c = b.close();
        assert_eq!(c.bytes, 800 + 400 + 4);
        assert_eq!(c.count, 200 + 100 + 1);
        assert_eq!(
            c.overrun,
            Some(Overrun {
                name: "b".into(),
                dims: vec![100],
                bytes: 400
            })
        );
        assert!(charge("d", &[1 << 40], 4), "no budget open");
    }
}
