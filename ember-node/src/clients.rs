//! The client registry behind CLIENT LIST, CLIENT INFO and INFO clients.
//!
//! Each connection owns an `Arc<ClientEntry>` and updates its activity with relaxed atomics,
//! so the hot path takes no lock; the map lock is taken only when a client connects,
//! disconnects, changes its name, or someone lists the clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ember_proto::Protocol;

#[derive(Default)]
struct Names {
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
}

pub struct ClientEntry {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    created_ms: u64,
    last_interaction_ms: AtomicU64,
    /// Address of the last command's name in the command table (0: none yet); resolved back
    /// to the name only when listed, so recording it costs one relaxed store.
    last_command: AtomicUsize,
    db: AtomicUsize,
    resp: AtomicU8,
    names: Mutex<Names>,
}

impl ClientEntry {
    pub fn touch(&self, now_ms: u64, command_name: &'static str) {
        self.last_interaction_ms.store(now_ms, Ordering::Relaxed);
        self.last_command
            .store(command_name.as_ptr() as usize, Ordering::Relaxed);
    }

    fn line(&self, now_ms: u64) -> String {
        let names = self.names.lock().expect("client names lock");
        let text = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let age_s = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle_s = now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 multi=-1 \
             watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 \
             events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.local_addr,
            text(&names.name),
            age_s,
            idle_s,
            self.db.load(Ordering::Relaxed),
            command_name(self.last_command.load(Ordering::Relaxed)),
            self.resp.load(Ordering::Relaxed),
            text(&names.lib_name),
            text(&names.lib_ver),
        )
    }
}

fn command_name(address: usize) -> &'static str {
    if address == 0 {
        return "NULL";
    }
    for spec in crate::cmd::table::all() {
        for s in std::iter::once(*spec).chain(spec.subcommands.iter()) {
            if s.name.as_ptr() as usize == address {
                return s.name;
            }
        }
    }
    "NULL"
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    next_id: AtomicU64,
}

impl ClientRegistry {
    /// Registers a new connection; `None` when `max` clients are already connected.
    pub fn register(
        &self,
        addr: SocketAddr,
        local_addr: SocketAddr,
        now_ms: u64,
        max: usize,
    ) -> Option<Arc<ClientEntry>> {
        let mut clients = self.clients.lock().expect("client registry lock");
        if clients.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            id,
            addr,
            local_addr,
            created_ms: now_ms,
            last_interaction_ms: AtomicU64::new(now_ms),
            last_command: AtomicUsize::new(0),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            names: Mutex::new(Names::default()),
        });
        clients.insert(id, entry.clone());
        Some(entry)
    }

    pub fn unregister(&self, id: u64) {
        let removed = self
            .clients
            .lock()
            .expect("client registry lock")
            .remove(&id);
        assert!(removed.is_some(), "client {id} unregistered twice");
    }

    pub fn count(&self) -> usize {
        self.clients.lock().expect("client registry lock").len()
    }

    fn with(&self, id: u64, f: impl FnOnce(&ClientEntry)) {
        if let Some(entry) = self.clients.lock().expect("client registry lock").get(&id) {
            f(entry);
        }
    }

    pub fn set_name(&self, id: u64, name: Option<Bytes>) {
        self.with(id, |e| {
            e.names.lock().expect("client names lock").name = name
        });
    }

    pub fn set_library(&self, id: u64, field: &str, value: Bytes) {
        self.with(id, |e| {
            let mut names = e.names.lock().expect("client names lock");
            let value = (!value.is_empty()).then_some(value);
            match field {
                "lib-name" => names.lib_name = value,
                _ => names.lib_ver = value,
            }
        });
    }

    pub fn set_db(&self, id: u64, db: usize) {
        self.with(id, |e| e.db.store(db, Ordering::Relaxed));
    }

    pub fn set_protocol(&self, id: u64, protocol: Protocol) {
        let resp = if protocol == Protocol::Resp3 { 3 } else { 2 };
        self.with(id, |e| e.resp.store(resp, Ordering::Relaxed));
    }

    /// CLIENT LIST lines, in id order, optionally only for `ids`.
    pub fn lines(&self, now_ms: u64, ids: Option<&[u64]>) -> Vec<String> {
        let clients = self.clients.lock().expect("client registry lock");
        clients
            .values()
            .filter(|e| ids.is_none_or(|ids| ids.contains(&e.id)))
            .map(|e| e.line(now_ms))
            .collect()
    }
}
