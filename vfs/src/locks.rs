//! Per-key serialisation of the short "publish + record" step of writes and deletes, so that the
//! file on the remote and its index record always change together.

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl KeyLocks {
    pub(crate) fn new() -> KeyLocks {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    pub(crate) async fn lock(&self, path: &str) -> MutexGuard<'_, ()> {
        // FNV-1a: cheap and well spread for path-like strings.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in path.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        self.stripes[(h % STRIPES as u64) as usize].lock().await
    }
}
