//! The scenarios: which load, on which files, with how many connections.

use serde::Serialize;

/// What a scenario asks of the servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// wrk requests one file over and over on keep-alive connections.
    KeepAlive { file: File },
    /// wrk requests one file with `Connection: close`: a new connection per request.
    Close { file: File },
    /// wrk requests a random one of the cold files, whose pages are evicted from the
    /// page cache before and during the measurement.
    Cold,
    /// The harness opens the connections, sends one request on each and holds them idle.
    Idle,
}

/// The files of the served tree (see `tree.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum File {
    #[serde(rename = "4k.bin")]
    Small,
    #[serde(rename = "1m.bin")]
    Large,
}

impl File {
    pub fn path(self) -> &'static str {
        match self {
            File::Small => "/4k.bin",
            File::Large => "/1m.bin",
        }
    }

    pub fn len(self) -> usize {
        match self {
            File::Small => 4096,
            File::Large => 1 << 20,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub load: Load,
    pub connections: usize,
}

impl Scenario {
    pub fn is_idle(&self) -> bool {
        self.load == Load::Idle
    }
}

/// Most connections a scenario may use: the harness (idle client) and wrk each hold one
/// descriptor per connection, and 20,000 is a common hard limit.
pub const MAX_CONNECTIONS: usize = 15_000;

/// Every scenario, in the order they run and are reported.
pub const ALL: [Scenario; 7] = [
    Scenario {
        name: "4k-c100",
        description: "4 KiB file, keep-alive",
        load: Load::KeepAlive { file: File::Small },
        connections: 100,
    },
    Scenario {
        name: "4k-c1000",
        description: "4 KiB file, keep-alive",
        load: Load::KeepAlive { file: File::Small },
        connections: 1_000,
    },
    Scenario {
        name: "1m-c16",
        description: "1 MiB file, keep-alive",
        load: Load::KeepAlive { file: File::Large },
        connections: 16,
    },
    Scenario {
        name: "4k-c10k",
        description: "4 KiB file, keep-alive, many connections",
        load: Load::KeepAlive { file: File::Small },
        connections: 10_000,
    },
    Scenario {
        name: "4k-close",
        description: "4 KiB file, a new connection per request (Connection: close)",
        load: Load::Close { file: File::Small },
        connections: 100,
    },
    Scenario {
        name: "idle-10k",
        description: "idle keep-alive connections after one 4 KiB request each: resident memory per connection",
        load: Load::Idle,
        connections: 10_000,
    },
    Scenario {
        name: "4k-cold-c100",
        description: "random 4 KiB files, evicted from the page cache before and during the measurement",
        load: Load::Cold,
        connections: 100,
    },
];

/// A scenario by name, with its default connections.
pub fn parse(name: &str) -> Result<Scenario, String> {
    ALL.iter().find(|scenario| scenario.name == name).copied().ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|scenario| scenario.name).collect();
        format!("no scenario {name:?}; there are {}", names.join(", "))
    })
}
